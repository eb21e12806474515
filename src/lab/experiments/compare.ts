// `statelab lab compare`: every experiment on every strategy, then the seeds' comparison tables with a
// measured value in every cell, and a verdict on each claim: does the measurement agree with the seed?

import { describeMachine, formatDelay } from '../results.ts'
import type { StrategyName } from '../strategies.ts'
import { type CrashResult, runCrash } from './crash.ts'
import type { LabEnvironment, LabLb } from './lab-environment.ts'
import {
  heldInReplicas,
  type MemoryResult,
  NOISE_BYTES_PER_SESSION,
  runMemory,
  storedOutside,
} from './memory.ts'
import { type RestartResult, runRestart } from './restart.ts'
import { type RevocationResult, runRevocation } from './revocation.ts'
import { QUICK_SCALE_STEPS, runScale, type ScaleResult } from './scale.ts'
import { runScaleDown, type ScaleDownResult } from './scale-down.ts'

export const ASPECTS = [
  'scalability',
  'availability',
  'latency',
  'server memory',
  'revocation',
  'data sent',
] as const
export type Aspect = (typeof ASPECTS)[number]

/** How good something is, on the one scale every claim and every measurement is put on. */
export type Level = 'good' | 'fair' | 'poor'

/** One claim of one seed about one strategy, in the seed's own words. */
export interface SeedClaim {
  readonly seed: string
  readonly aspect: Aspect
  /** The seed's row and column, as written there. */
  readonly row: string
  readonly column: string
  readonly says: string
  readonly strategies: readonly string[]
  readonly level: Level
}

const T003 = '003 "Comparison Table"'
const T001 = '001 "Real Impact"'
const T002 = '002 "Comparison Table"'
const STATELESS = ['jwt', 'cookie']
const STATEFUL = ['memory', 'sticky', 'central', 'replicated']

type Four<T> = readonly [T, T, T, T]

/** Seed 003's table: one row per aspect, what each of its four columns says and how the lab reads it. */
function table003(
  rows: readonly (readonly [aspect: Aspect, row: string, says: Four<string>, levels: Four<Level>])[],
): SeedClaim[] {
  const columns = [
    ['Sticky Sessions', ['sticky']],
    ['Session Replication', ['replicated']],
    ['Centralized Store', ['central']],
    ['JWT', ['jwt']],
  ] as const
  return rows.flatMap(([aspect, row, says, levels]) =>
    columns.map(([column, strategies], i) => ({
      seed: T003,
      aspect,
      row,
      column,
      says: says[i]!,
      strategies,
      level: levels[i]!,
    })),
  )
}

/** A seed's table written one claim per line. */
function claimsOf(
  seed: string,
  rows: readonly (readonly [
    aspect: Aspect,
    row: string,
    column: string,
    strategies: readonly string[],
    says: string,
    level: Level,
  ])[],
): SeedClaim[] {
  return rows.map(([aspect, row, column, strategies, says, level]) => ({
    seed,
    aspect,
    row,
    column,
    says,
    strategies,
    level,
  }))
}

/**
 * What the seeds claim, quoted (the marks of seeds 001 and 002 written as ✅/❌). `level` is how the lab reads
 * the claim: Excellent, Best, None, Instant, Easy, Less are good; Good, Limited, Low, "+1-5ms", Manageable
 * and "Works with affinity" fair; Poor, High, Very High, Hard, More and the ❌ rows poor.
 */
export const SEED_CLAIMS: readonly SeedClaim[] = [
  ...table003([
    [
      'scalability',
      'Scalability',
      ['Poor', 'Limited', 'Excellent', 'Excellent'],
      ['poor', 'fair', 'good', 'good'],
    ],
    ['availability', 'Availability', ['Poor', 'Good', 'Good', 'Excellent'], ['poor', 'fair', 'fair', 'good']],
    ['latency', 'Latency', ['Best', 'Good', '+1-5ms', 'Best'], ['good', 'fair', 'fair', 'good']],
    [
      'server memory',
      'Server Memory',
      ['High', 'Very High', 'Low', 'None'],
      ['poor', 'poor', 'fair', 'good'],
    ],
    ['revocation', 'Revocation', ['Instant', 'Instant', 'Instant', 'Hard'], ['good', 'good', 'good', 'poor']],
  ]),
  ...claimsOf(T001, [
    ['scalability', 'Scale from 1 to 10 servers', 'Stateless', STATELESS, '✅ Works instantly', 'good'],
    [
      'scalability',
      'Scale from 1 to 10 servers',
      'Stateful Memory',
      ['memory'],
      '❌ Users get logged out',
      'poor',
    ],
    [
      'scalability',
      'Scale from 1 to 10 servers',
      'Stateful Redis',
      ['central'],
      '✅ Works with affinity',
      'fair',
    ],
    ['availability', 'One server crashes', 'Stateless', STATELESS, '✅ Other servers handle it', 'good'],
    ['availability', 'One server crashes', 'Stateful Memory', ['memory'], '❌ All sessions lost', 'poor'],
    ['availability', 'One server crashes', 'Stateful Redis', ['central'], '✅ Sessions survive', 'good'],
    ['server memory', '100,000 concurrent users', 'Stateless', STATELESS, '✅ Easy', 'good'],
    [
      'server memory',
      '100,000 concurrent users',
      'Stateful Memory',
      ['memory'],
      '❌ Memory explosion',
      'poor',
    ],
    ['server memory', '100,000 concurrent users', 'Stateful Redis', ['central'], '✅ Manageable', 'fair'],
  ]),
  ...claimsOf(T002, [
    ['availability', 'Crash recovery', 'STATELESS', STATELESS, '✅ Easy (no state to lose)', 'good'],
    ['availability', 'Crash recovery', 'STATEFUL', STATEFUL, '❌ Hard (state lost)', 'poor'],
    ['scalability', 'Scalability', 'STATELESS', STATELESS, '✅ Easy (any server works)', 'good'],
    ['scalability', 'Scalability', 'STATEFUL', STATEFUL, '❌ Hard (session affinity)', 'poor'],
    ['data sent', 'Data sent', 'STATELESS', STATELESS, '❌ More (full context each)', 'poor'],
    ['data sent', 'Data sent', 'STATEFUL', STATEFUL, '✅ Less (server remembers)', 'good'],
  ]),
]

/** A measurement against one claim: the same level, or better or worse than the seed says. */
export type Agreement = 'matches' | 'better' | 'worse'

export interface ClaimVerdict {
  readonly claim: SeedClaim
  readonly agreement: Agreement
}

/** One cell of the comparison: a strategy's measured value for an aspect, and the seeds' claims on it. */
export interface CompareCell {
  readonly aspect: Aspect
  readonly strategy: StrategyName
  /** Short, for the table. */
  readonly value: string
  /** The measurement behind it, in a sentence. */
  readonly detail: string
  readonly level: Level
  readonly verdicts: readonly ClaimVerdict[]
  /** `matches` every claim, `contradicts` every claim, `mixed` (the seeds disagree), or `no claim`. */
  readonly verdict: 'matches' | 'contradicts' | 'mixed' | 'no claim'
}

export interface CompareOptions {
  readonly strategies: readonly StrategyName[]
  readonly users: number
  readonly requests: number
  readonly concurrency?: number
  /** Sessions per strategy for `memory`. */
  readonly sessions?: number
  readonly quick?: boolean
}

export interface CompareResult {
  readonly experiment: 'compare'
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationMs: number
  readonly machine: ReturnType<typeof describeMachine>
  readonly settings: {
    readonly strategies: readonly StrategyName[]
    readonly users: number
    readonly requests: number
    readonly quick: boolean
  }
  readonly central: string
  /** The gateway in front of the replicas: the built-in one, HAProxy or nginx (`--lb`). */
  readonly lb: LabLb
  readonly results: {
    readonly scale: ScaleResult
    readonly crash: CrashResult
    readonly 'scale-down': ScaleDownResult
    readonly restart: RestartResult
    readonly revocation: RevocationResult
    readonly memory: MemoryResult
  }
  readonly cells: readonly CompareCell[]
  /** One line per strategy: what it lost and what it paid. */
  readonly summary: readonly string[]
}

/** Sessions per strategy for memory in `compare --quick`: logins are argon2id hashes, the slow part. */
const QUICK_MEMORY_SESSIONS = 150
const RANK: { readonly [L in Level]: number } = { poor: 0, fair: 1, good: 2 }
/** A credential this small is an id; a token or a sealed cookie carrying claims is several times larger. */
const SMALL_CREDENTIAL_BYTES = 128
/** p50 within this of the fastest strategy counts as "best"; within `FAIR_LATENCY_MS`, as "+1-5ms". */
const BEST_LATENCY_MS = 1
const FAIR_LATENCY_MS = 5

/**
 * Runs scale, crash, scale-down, restart, revocation and memory for `strategies` on `lab` (open it with
 * `keepReplicas` so that they share replicas), then fills the comparison.
 *
 * @example
 * const result = await runCompare(lab, { strategies: [...STRATEGY_NAMES], users: 12, requests: 20, quick: true })
 */
export async function runCompare(lab: LabEnvironment, options: CompareOptions): Promise<CompareResult> {
  const began = performance.now()
  const startedAt = new Date().toISOString()
  const { strategies, users, requests, concurrency } = options
  const quick = options.quick === true
  const common = { strategies, users, requests, concurrency, quick }
  lab.progress.note('compare: scale')
  const scale = await runScale(lab, { ...common, steps: quick ? QUICK_SCALE_STEPS : undefined })
  lab.progress.note('compare: crash')
  const crash = await runCrash(lab, common)
  // Scale-down leaves two replicas: restart, revocation and memory go on with them.
  lab.progress.note('compare: scale-down')
  const scaleDown = await runScaleDown(lab, common)
  lab.progress.note('compare: restart')
  const restart = await runRestart(lab, { ...common, replicas: 2 })
  lab.progress.note('compare: revocation')
  const revocation = await runRevocation(lab, { strategies, quick, replicas: 2, concurrency })
  lab.progress.note('compare: memory')
  // Sessions are counted exactly; their bytes are rougher with fewer of them (docs/lab.md).
  const sessions = options.sessions ?? (quick ? QUICK_MEMORY_SESSIONS : undefined)
  const memory = await runMemory(lab, { strategies, quick, replicas: 2, sessions, concurrency })
  const results = { scale, crash, 'scale-down': scaleDown, restart, revocation, memory }
  return {
    experiment: 'compare',
    startedAt,
    finishedAt: new Date().toISOString(),
    durationMs: performance.now() - began,
    machine: describeMachine(),
    settings: { strategies, users, requests, quick },
    central: lab.central.label,
    lb: lab.lb,
    results,
    cells: compareCells(results, strategies),
    summary: strategies.map((name) => summaryLine(results, name)),
  }
}

type Results = CompareResult['results']

function rowOf<R extends { readonly strategy: StrategyName }>(
  rows: readonly R[],
  name: StrategyName,
): R | undefined {
  return rows.find((row) => row.strategy === name)
}

function bytes(n: number): string {
  return n >= 2 ** 20
    ? `${(n / 2 ** 20).toFixed(1)} MiB`
    : n >= 2 ** 10
      ? `${(n / 2 ** 10).toFixed(1)} KiB`
      : `${Math.round(n)} B`
}

function copyText(copies: number): string {
  const n = Math.round(copies)
  return `${n} ${n === 1 ? 'copy' : 'copies'}`
}

function ms(n: number): string {
  return n < 10 ? n.toFixed(1) : Math.round(n).toString()
}

type Measured = Pick<CompareCell, 'value' | 'detail' | 'level'>

function scalability(results: Results, name: StrategyName): Measured | undefined {
  const row = rowOf(results.scale.rows, name)
  if (!row) return undefined
  const last = row.steps.at(-1)!
  const steps = row.steps.map((s) => s.replicas).join('→')
  const lost = row.usersLost.length
  if (lost > 0)
    return {
      value: `${lost}/${row.users} lost`,
      detail: `${lost}/${row.users} users forgotten when scaling ${steps}; ${Math.round(last.forgotPercent)}% of requests refused on ${last.replicas}`,
      level: 'poor',
    }
  const busiest = Math.max(...last.share.map((s) => s.percent))
  if (last.replicas > 1 && busiest > 100 / last.replicas + 25)
    return {
      value: `0 lost, ${Math.round(busiest)}% on 1`,
      detail: `nobody forgotten ${steps}, but the new replicas took no load from the users already there (busiest replica ${Math.round(busiest)}%)`,
      level: 'poor',
    }
  const memory = rowOf(results.memory.rows, name)
  if (memory && heldInReplicas(memory) && memory.copiesPerSession >= 1.5)
    return {
      value: `0 lost, ${memory.copiesPerSession.toFixed(0)} copies`,
      detail: `nobody forgotten ${steps} and the load spread, but every replica holds every session (${memory.copiesPerSession.toFixed(1)} copies each): session capacity does not grow with replicas`,
      level: 'fair',
    }
  return {
    value: '0 lost, even',
    detail: `nobody forgotten ${steps}; load per replica ${last.share.map((s) => Math.round(s.percent)).join('/')}%`,
    level: 'good',
  }
}

function availability(results: Results, name: StrategyName): Measured | undefined {
  const crash = rowOf(results.crash.rows, name)
  if (!crash) return undefined
  const restart = rowOf(results.restart.rows, name)
  const down = rowOf(results['scale-down'].rows, name)
  const rest = [
    restart ? `rolling restart ${restart.sessionsLost}/${restart.users}` : undefined,
    down ? `scale-down ${down.sessionsLost}/${down.users}` : undefined,
  ]
    .filter(Boolean)
    .join(', ')
  const detail = `users forgotten: crash of 1 of ${results.crash.settings.replicas} replicas ${crash.sessionsLost}/${crash.users} (${crash.usersOnKilled} were on it)${rest ? `, ${rest}` : ''}; ${crash.failed} requests failed otherwise`
  const value = `crash: ${crash.sessionsLost}/${crash.users} lost`
  if (crash.sessionsLost > 0) return { value, detail, level: 'poor' }
  const laterLoss = (restart?.sessionsLost ?? 0) + (down?.sessionsLost ?? 0)
  if (laterLoss > 0 || crash.failed > 0) return { value, detail, level: 'fair' }
  return { value, detail, level: 'good' }
}

function latency(results: Results, name: StrategyName): Measured | undefined {
  const row = rowOf(results.scale.rows, name)
  if (!row) return undefined
  // One replica, before any scaling: every strategy's requests all succeed there.
  const p50 = row.steps[0]!.p50Ms
  const fastest = Math.min(...results.scale.rows.map((r) => r.steps[0]!.p50Ms))
  const over = p50 - fastest
  return {
    value: `p50 ${ms(p50)} ms`,
    detail: `p50 ${ms(p50)} ms, p99 ${ms(row.steps[0]!.p99Ms)} ms through the gateway on one replica (${ms(over)} ms over the fastest strategy; ${results.scale.settings.concurrency} requests in flight on a shared machine)`,
    level: over <= BEST_LATENCY_MS ? 'good' : over <= FAIR_LATENCY_MS ? 'fair' : 'poor',
  }
}

function serverMemory(results: Results, name: StrategyName): Measured | undefined {
  const row = rowOf(results.memory.rows, name)
  if (!row) return undefined
  const at = results.memory.settings.extrapolateTo.toLocaleString('en-US')
  const store = storedOutside(row)
  if (store)
    return {
      value: `store ${bytes(store.bytesPerSession)}/session`,
      detail: `the replicas hold none (${bytes(row.heapBytesPerSession)} of heap per session: noise); the store ${bytes(store.bytesPerSession)} per session, ${bytes(row.atScale.storeBytes)} at ${at}`,
      level: 'fair',
    }
  if (!heldInReplicas(row))
    return {
      value: 'none',
      detail: `no replica knows any session (${bytes(row.heapBytesPerSession)} of heap per session: noise)`,
      level: 'good',
    }
  const copies = row.copiesPerSession
  const where =
    copies >= 1.5
      ? `held by ${copies.toFixed(1)} replicas each (every replica pays for every session)`
      : 'each on one replica'
  if (row.heapBytesPerSession < NOISE_BYTES_PER_SESSION)
    return {
      value: `${copyText(copies)}/session`,
      detail: `${where}, counted; the bytes are below what ${row.sessions} sessions resolve (${bytes(row.heapBytesPerSession)} measured: the heap moves by tens of KB between two measurements)`,
      level: 'poor',
    }
  return {
    value: `${bytes(row.heapBytesPerSession)}/session${copies >= 1.5 ? ` ×${copies.toFixed(0)}` : ''}`,
    detail: `${bytes(row.heapBytesPerSession)} of replica heap per session, ${where}; the busiest replica would hold ${bytes(row.atScale.busiestReplicaHeap)} at ${at}`,
    level: 'poor',
  }
}

function revocation(results: Results, name: StrategyName): Measured | undefined {
  const rows = results.revocation.rows.filter((r) => r.strategy === name)
  const row = rows.find((r) => r.variant === name)
  if (!row) return undefined
  const others = rows
    .filter((r) => r !== row)
    .map((r) => `${r.variant}: ${r.outcome === 'immediate' ? 'at once' : r.outcome}`)
  const also = others.length > 0 ? ` (${others.join('; ')})` : ''
  switch (row.outcome) {
    case 'immediate':
      return {
        value: 'at once',
        detail: `refused on the first request after the logout${also}`,
        level: 'good',
      }
    case 'lag':
      return {
        value: `after ${formatDelay(row.delayMs ?? 0)}`,
        detail: `accepted ${row.acceptedAfterLogout} more times, for ${formatDelay(row.delayMs ?? 0)}, then refused${also}`,
        level: (row.delayMs ?? 0) < 1000 ? 'fair' : 'poor',
      }
    case 'expiry':
      return {
        value: `at expiry (TTL ${row.lifetimeSeconds} s)`,
        detail: `a saved copy kept working ${formatDelay(row.delayMs ?? 0)} after the logout, until it expired (lifetime ${row.lifetimeSeconds} s in this run)${also}`,
        level: 'poor',
      }
    case 'never':
      return {
        value: `never (${row.usersStillAccepted}/${row.users - row.loginFailures})`,
        detail: `${row.usersStillAccepted}/${row.users - row.loginFailures} old credentials still accepted at the end by ${row.stillAcceptedBy.join(', ') || 'a replica'}: the logout did not reach it${also}`,
        level: 'poor',
      }
  }
}

function dataSent(results: Results, name: StrategyName): Measured | undefined {
  const row = rowOf(results.memory.rows, name)
  if (!row) return undefined
  return {
    value: `${Math.round(row.credentialBytes)} B/request`,
    detail: `${Math.round(row.credentialBytes)} B of credential (headers and cookies) on every request, mean of ${row.sessions} logins`,
    level: row.credentialBytes <= SMALL_CREDENTIAL_BYTES ? 'good' : 'poor',
  }
}

const MEASURE: { readonly [A in Aspect]: (results: Results, name: StrategyName) => Measured | undefined } = {
  scalability,
  availability,
  latency,
  'server memory': serverMemory,
  revocation,
  'data sent': dataSent,
}

/** Where `measured` stands against `claimed`. */
function agreementOf(measured: Level, claimed: Level): Agreement {
  const diff = RANK[measured] - RANK[claimed]
  return diff === 0 ? 'matches' : diff > 0 ? 'better' : 'worse'
}

/** Every aspect × strategy of `results` with a measurement, with the seeds' claims judged. */
function compareCells(results: Results, strategies: readonly StrategyName[]): CompareCell[] {
  const cells: CompareCell[] = []
  for (const aspect of ASPECTS)
    for (const strategy of strategies) {
      const measured = MEASURE[aspect](results, strategy)
      if (!measured) continue
      const verdicts = SEED_CLAIMS.filter(
        (claim) => claim.aspect === aspect && claim.strategies.includes(strategy),
      ).map((claim) => ({ claim, agreement: agreementOf(measured.level, claim.level) }))
      const matching = verdicts.filter((v) => v.agreement === 'matches').length
      const verdict =
        verdicts.length === 0
          ? 'no claim'
          : matching === verdicts.length
            ? 'matches'
            : matching === 0
              ? 'contradicts'
              : 'mixed'
      cells.push({ aspect, strategy, ...measured, verdicts, verdict })
    }
  return cells
}

/** What `name` lost in each fault and what it paid in memory, in one line. */
function summaryLine(results: Results, name: StrategyName): string {
  const scale = rowOf(results.scale.rows, name)
  const crash = rowOf(results.crash.rows, name)
  const restart = rowOf(results.restart.rows, name)
  const down = rowOf(results['scale-down'].rows, name)
  const memory = rowOf(results.memory.rows, name)
  const parts: string[] = []
  if (scale) parts.push(`scale-out ${scale.usersLost.length}/${scale.users}`)
  if (crash)
    parts.push(
      `crash ${crash.sessionsLost}/${crash.users}${crash.sessionsLost > 0 ? ` (${crash.lostFromKilled} of the ${crash.usersOnKilled} on the killed replica, ${crash.lostElsewhere} elsewhere, ${crash.lostBeforeCrash} before it)` : ''}`,
    )
  if (restart) parts.push(`rolling restart ${restart.sessionsLost}/${restart.users}`)
  if (down) parts.push(`scale-down ${down.sessionsLost}/${down.users}`)
  const lost = parts.length > 0 ? `users lost: ${parts.join(', ')}` : ''
  const store = memory && storedOutside(memory)
  const paid = !memory
    ? ''
    : store
      ? `sessions in the store, ${bytes(store.bytesPerSession)} each`
      : !heldInReplicas(memory)
        ? 'no server memory per session'
        : `${memory.heapBytesPerSession < NOISE_BYTES_PER_SESSION ? 'sessions in replica memory' : `${bytes(memory.heapBytesPerSession)} of replica heap per session`}${memory.copiesPerSession >= 1.5 ? `, every session on all ${memory.copiesPerSession.toFixed(0)} replicas: ${memory.copiesPerSession.toFixed(0)}× the memory` : ', each on one replica'}`
  return `${name}: ${[lost, paid].filter(Boolean).join('; ')}`
}
