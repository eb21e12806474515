// What the lab shows: progress on stderr (a bar on a terminal, a few lines otherwise), the table on stdout,
// everything as JSON under lab-results/ (git-ignored).
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { formatCount, formatSize, formatTable, Progress } from '../cli/report.ts'
import type { Agreement, CompareCell, CompareResult } from './experiments/compare.ts'
import type { CrashResult } from './experiments/crash.ts'
import type { MemoryResult } from './experiments/memory.ts'
import type { RestartResult } from './experiments/restart.ts'
import type { RevocationResult } from './experiments/revocation.ts'
import type { ScaleResult } from './experiments/scale.ts'
import type { ScaleDownResult } from './experiments/scale-down.ts'
import type { ReplicaShare } from './load.ts'

/** Where an experiment reports what it is doing; `silentProgress` for tests. */
export interface ProgressSink {
  /** A new phase: starting replicas, logging users in, a step. */
  phase(text: string): void
  /** `done` of `total` requests of the phase `label`. */
  advance(label: string, done: number, total: number): void
  /** A line that stays (a choice made, a warning). */
  note(text: string): void
  done(): void
}

export const silentProgress: ProgressSink = {
  phase() {},
  advance() {},
  note() {},
  done() {},
}

const BAR_WIDTH = 24
const REDRAW_MS = 80

/**
 * Progress on `stream`: on a terminal one line rewritten in place with a bar; otherwise a line per phase and
 * one when its requests are half done and all done, so CI logs stay short.
 */
export class LabProgress implements ProgressSink {
  readonly #progress: Progress
  readonly #tty: boolean
  #drawnAt = 0
  #reported = 0

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#progress = new Progress(stream)
    this.#tty = stream.isTTY === true
  }

  phase(text: string): void {
    this.#reported = 0
    this.#progress.phase(text)
  }

  advance(label: string, done: number, total: number): void {
    if (this.#tty) {
      const now = performance.now()
      if (done < total && now - this.#drawnAt < REDRAW_MS) return
      this.#drawnAt = now
      const filled = total === 0 ? BAR_WIDTH : Math.round((BAR_WIDTH * done) / total)
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`
      this.#progress.phase(`${label} ${bar} ${formatCount(done)}/${formatCount(total)}`)
      return
    }
    const half = Math.ceil(total / 2)
    const mark = done >= total ? total : done >= half ? half : 0
    if (mark > this.#reported) {
      this.#reported = mark
      this.#progress.phase(`${label}: ${formatCount(done)}/${formatCount(total)} requests`)
    }
  }

  note(text: string): void {
    this.#progress.note(text)
  }

  done(): void {
    this.#progress.done()
  }
}

/** Node, platform and CPUs, for the JSON. */
export function describeMachine() {
  return {
    node: process.version,
    platform: process.platform,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
  }
}

/**
 * Writes `result` as `<dir>/<experiment>-<ISO time>.json` (default dir `lab-results` under the current
 * directory) and returns the path relative to the current directory.
 */
export function writeResults(
  result: { readonly experiment: string; readonly startedAt: string },
  dir = 'lab-results',
): string {
  const directory = resolve(dir)
  mkdirSync(directory, { recursive: true })
  // Colons are not allowed in Windows file names.
  const file = join(directory, `${result.experiment}-${result.startedAt.replaceAll(':', '-')}.json`)
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
  return relative(process.cwd(), file)
}

/**
 * `central store: …; load balancer: …`, the line under each report's title (results written before the load
 * balancer was recorded have no `lb`).
 */
export function ranOn(result: { readonly central: string; readonly lb?: string }): string {
  return `central store: ${result.central}${result.lb === undefined ? '' : `; load balancer: ${result.lb}`}`
}

function percent(value: number): string {
  if (value === 0) return '0%'
  return value < 1 ? `${value.toFixed(2)}%` : `${value.toFixed(value < 10 ? 1 : 0)}%`
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : formatCount(value)
}

/** `34/33/33`: each replica's share of the requests, in replica order. */
function shares(share: readonly ReplicaShare[]): string {
  return share.map((s) => Math.round(s.percent).toString()).join('/')
}

/** The `scale` table: one row per strategy and step, then one verdict line per strategy. */
export function formatScaleReport(result: ScaleResult): string {
  const headers = [
    'strategy',
    'replicas',
    'requests',
    'forgot you',
    'users lost',
    'other fails',
    'req/s',
    'p50 ms',
    'p99 ms',
    'share per replica %',
  ]
  const rows: string[][] = []
  for (const row of result.rows) {
    for (const step of row.steps) {
      rows.push([
        row.strategy,
        String(step.replicas),
        formatCount(step.requests),
        percent(step.forgotPercent),
        `${step.usersLostSoFar}/${row.users}`,
        percent(step.failedPercent),
        formatCount(step.requestsPerSecond),
        ms(step.p50Ms),
        ms(step.p99Ms),
        shares(step.share),
      ])
    }
  }
  const table = formatTable(headers, rows, [false, true, true, true, true, true, true, true, true, false])
  const verdicts = result.rows.map((row) => `${row.strategy.padEnd(8)} ${row.verdict}`)
  return [
    `scale: ${result.settings.users} users log in on 1 replica, then ${result.settings.requests} requests each per step as replicas are added (${result.settings.steps.join(' → ')})`,
    ranOn(result),
    '',
    table,
    '',
    ...verdicts,
  ].join('\n')
}

/** The figures every disruption row (crash, restart, scale-down) reports after its own columns. */
interface DisruptionFigures {
  readonly strategy: string
  readonly forgot: number
  readonly forgotPercent: number
  readonly failed: number
  readonly failedPercent: number
  readonly resentByGateway: number
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly failuresForMs: number
  readonly recoveredAfterMs: number | null
  readonly verdict: string
}

/** A table whose rows start with `columns` (left-aligned first, numbers after), then the shared figures. */
function formatDisruptionReport<R extends DisruptionFigures>(
  lines: { readonly title: string; readonly ranOn: string },
  columns: readonly { readonly header: string; readonly numeric: boolean; cell(row: R): string }[],
  rows: readonly R[],
): string {
  const headers = [
    'strategy',
    ...columns.map((c) => c.header),
    'forgot you',
    'other fails',
    'failed over',
    'req/s',
    'p50 ms',
    'p99 ms',
    '5xx/resets for',
    'all ok again after',
  ]
  const cells = rows.map((row) => [
    row.strategy,
    ...columns.map((c) => c.cell(row)),
    `${formatCount(row.forgot)} (${percent(row.forgotPercent)})`,
    `${formatCount(row.failed)} (${percent(row.failedPercent)})`,
    formatCount(row.resentByGateway),
    formatCount(row.requestsPerSecond),
    ms(row.p50Ms),
    ms(row.p99Ms),
    row.failuresForMs === 0 ? 'none' : `${ms(row.failuresForMs)} ms`,
    row.recoveredAfterMs === null
      ? 'never'
      : row.recoveredAfterMs === 0
        ? 'at once'
        : `${ms(row.recoveredAfterMs)} ms`,
  ])
  const table = formatTable(headers, cells, [
    false,
    ...columns.map((c) => c.numeric),
    ...Array.from({ length: 8 }, () => true),
  ])
  const verdicts = rows.map((row) => `${row.strategy.padEnd(8)} ${row.verdict}`)
  return [lines.title, lines.ranOn, '', table, '', ...verdicts].join('\n')
}

/** The `crash` table: one row per strategy, then one verdict line per strategy. */
export function formatCrashReport(result: CrashResult): string {
  const { settings } = result
  return formatDisruptionReport(
    {
      title: `crash: ${settings.replicas} replicas, ${settings.users} users × ${settings.requests} requests; SIGKILL of the replica that took the most logins after half of the requests`,
      ranOn: ranOn(result),
    },
    [
      { header: 'killed', numeric: false, cell: (row) => row.killed },
      { header: 'users on it', numeric: true, cell: (row) => `${row.usersOnKilled}/${row.users}` },
      { header: 'sessions lost', numeric: true, cell: (row) => `${row.sessionsLost}/${row.users}` },
      { header: 'lost elsewhere', numeric: true, cell: (row) => String(row.lostElsewhere) },
    ],
    result.rows,
  )
}

/** The `restart` table: one row per strategy, then one verdict line per strategy. */
export function formatRestartReport(result: RestartResult): string {
  const { settings } = result
  return formatDisruptionReport(
    {
      title: `restart: ${settings.replicas} replicas, ${settings.users} users × ${settings.requests} requests (more while the restart lasts); after half of them every replica is drained, restarted on its port and put back, one after the other`,
      ranOn: ranOn(result),
    },
    [
      { header: 'restart took', numeric: true, cell: (row) => `${ms(row.restartMs)} ms` },
      { header: 'users logged out', numeric: true, cell: (row) => `${row.sessionsLost}/${row.users}` },
      { header: 'before it', numeric: true, cell: (row) => String(row.lostBefore) },
    ],
    result.rows,
  )
}

/** The `scale-down` table: one row per strategy, then one verdict line per strategy. */
export function formatScaleDownReport(result: ScaleDownResult): string {
  const { settings } = result
  return formatDisruptionReport(
    {
      title: `scale-down: ${settings.replicas} → ${settings.replicas - 1} replicas, ${settings.users} users × ${settings.requests} requests; after half of them the replica that took the most logins leaves the pool and stops gracefully`,
      ranOn: ranOn(result),
    },
    [
      { header: 'removed', numeric: false, cell: (row) => row.removed },
      { header: 'users on it', numeric: true, cell: (row) => `${row.usersOnAffected}/${row.users}` },
      { header: 'sessions lost', numeric: true, cell: (row) => `${row.sessionsLost}/${row.users}` },
      { header: 'of its users', numeric: true, cell: (row) => String(row.lostFromAffected) },
      { header: 'lost elsewhere', numeric: true, cell: (row) => String(row.lostElsewhere) },
    ],
    result.rows,
  )
}

/** `1.2 s`, `35 ms`: a delay at the scale it happened. */
export function formatDelay(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

/** The `revocation` table: one row per strategy and variant, then one verdict line per row. */
export function formatRevocationReport(result: RevocationResult): string {
  const { settings } = result
  const headers = [
    'variant',
    'revoked by',
    'logouts ok',
    'replays',
    'accepted after',
    'still accepted by',
    'refused after',
  ]
  const rows = result.rows.map((row) => [
    row.variant,
    row.revokedBy,
    `${row.logouts.ok}/${row.users - row.loginFailures}`,
    formatCount(row.replays),
    formatCount(row.acceptedAfterLogout),
    row.stillAcceptedBy.length === 0 ? '-' : row.stillAcceptedBy.join(', '),
    row.delayMs === null
      ? `never (> ${formatDelay(settings.boundMs)})`
      : row.delayMs === 0
        ? 'at once'
        : row.outcome === 'expiry'
          ? `${formatDelay(row.delayMs)} (at expiry, TTL ${row.lifetimeSeconds} s)`
          : formatDelay(row.delayMs),
  ])
  const table = formatTable(headers, rows, [false, false, true, true, true, false, true])
  const width = Math.max(...result.rows.map((r) => r.variant.length))
  return [
    `revocation: ${settings.users} users per row log in on ${settings.replicas} replicas, log out, and a copy of their credential is replayed through the gateway every ~${settings.pollMs} ms (at most ${formatDelay(settings.boundMs)}), then asked of every replica directly`,
    ranOn(result),
    '',
    table,
    '',
    ...result.rows.map((row) => `${row.variant.padEnd(width)} ${row.verdict}`),
  ].join('\n')
}

/** The `memory` table: one row per strategy, then one verdict line per strategy. */
export function formatMemoryReport(result: MemoryResult): string {
  const { settings } = result
  const scale = formatCount(settings.extrapolateTo)
  const headers = [
    'strategy',
    'sessions',
    'heap B/session',
    'copies',
    'per replica',
    'RSS B/session',
    'store B/session',
    `busiest replica at ${scale}`,
    `store at ${scale}`,
    'credential B/request',
  ]
  const rows = result.rows.map((row) => [
    row.strategy,
    formatCount(row.sessions),
    formatCount(row.heapBytesPerSession),
    row.copiesPerSession.toFixed(1),
    row.replicas.map((r) => formatSize(Math.max(0, r.heapWith - r.heapWithout))).join(' / '),
    row.rssBytesPerSession === undefined ? 'n/a' : formatCount(row.rssBytesPerSession),
    row.store ? formatCount(row.store.bytesPerSession) : '-',
    formatSize(row.atScale.busiestReplicaHeap),
    row.store ? formatSize(row.atScale.storeBytes) : '-',
    formatCount(row.credentialBytes),
  ])
  const table = formatTable(headers, rows, [false, true, true, true, true, true, true, true, true, true])
  return [
    `memory: ${formatCount(settings.sessions)} sessions per strategy started through the gateway on ${settings.replicas} replicas; each replica's heap measured after a full GC with the sessions and once they ended; figures at ${scale} sessions extrapolated linearly`,
    ranOn(result),
    '',
    table,
    '',
    'heap is after a full GC (a few hundred bytes per session of noise at these counts: jwt and cookie show it); RSS includes argon2 buffers and GC slack (noisier)',
    ...result.rows.map((row) => `${row.strategy.padEnd(8)} ${row.verdict}`),
  ].join('\n')
}

/** The mark of a comparison cell's verdict, in the table and the HTML report. */
export const CELL_MARK: { readonly [V in CompareCell['verdict']]: string } = {
  matches: '✅',
  contradicts: '❌',
  mixed: '≈',
  'no claim': '·',
}

/** A measurement against a claim, in words. */
export const AGREEMENT_WORDS: { readonly [A in Agreement]: string } = {
  matches: 'matches',
  better: 'better than it says',
  worse: 'worse than it says',
}

/** The seeds' comparison with a measured value in every cell, each claim's verdict, and a line per strategy. */
export function formatCompareReport(result: CompareResult): string {
  const strategies = result.settings.strategies
  const aspects = [...new Set(result.cells.map((c) => c.aspect))]
  const cellOf = (aspect: string, strategy: string) =>
    result.cells.find((c) => c.aspect === aspect && c.strategy === strategy)
  const rows = aspects.map((aspect) => [
    aspect,
    ...strategies.map((strategy) => {
      const cell = cellOf(aspect, strategy)
      return cell ? `${cell.value} ${CELL_MARK[cell.verdict]}` : '-'
    }),
  ])
  const table = formatTable(['', ...strategies], rows, [false, ...strategies.map(() => false)])
  const verdicts = result.cells
    .filter((cell) => cell.verdicts.length > 0)
    .map((cell) => {
      const claims = cell.verdicts
        .map((v) => `${v.claim.seed} ${v.claim.column}: "${v.claim.says}" → ${AGREEMENT_WORDS[v.agreement]}`)
        .join('; ')
      return `${CELL_MARK[cell.verdict]} ${cell.strategy} · ${cell.aspect}: ${cell.detail}. ${claims}`
    })
  const { settings } = result
  return [
    `compare: scale, crash, scale-down, restart, revocation and memory on ${strategies.join(', ')} (${settings.users} users × ${settings.requests} requests${settings.quick ? ', --quick' : ''}) in ${formatDelay(result.durationMs)}`,
    ranOn(result),
    '',
    table,
    '',
    '✅ the measurement agrees with every seed claim on the cell   ❌ with none   ≈ with some (the seeds disagree)   · no claim',
    '',
    ...verdicts,
    '',
    ...result.summary,
  ].join('\n')
}
