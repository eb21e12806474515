// What the experiments share: each strategy in turn gets its replicas, a gateway and logged-in users; for
// crash, restart and scale-down something then happens to the replicas half-way through the users'
// requests, and the analysis tells who was forgotten (before or after it, on the replicas it touched or
// elsewhere), what else failed, and for how long.
import {
  type Account,
  type LoadRun,
  type LoadStats,
  type RequestRecord,
  summarize,
  VirtualUsers,
} from '../load.ts'
import { describeMachine } from '../results.ts'
import type { Strategy, StrategyName } from '../strategies.ts'
import type { Supervisor } from '../supervisor.ts'
import type { LabEnvironment, LabGateway, LabLb } from './lab-environment.ts'

/** What every experiment returns (and writes as JSON). */
export interface LabResult<E extends string, S, R> {
  readonly experiment: E
  readonly startedAt: string
  readonly finishedAt: string
  readonly machine: ReturnType<typeof describeMachine>
  readonly settings: S
  readonly central: string
  /** The gateway in front of the replicas: the built-in one, HAProxy or nginx (`--lb`). */
  readonly lb: LabLb
  readonly rows: readonly R[]
}

/** `rows` as `experiment`'s result, begun at `startedAt`, with the machine, central store and gateway of `lab`. */
export function labResult<E extends string, S, R>(
  lab: LabEnvironment,
  experiment: E,
  startedAt: string,
  settings: S,
  rows: readonly R[],
): LabResult<E, S, R> {
  return {
    experiment,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: describeMachine(),
    settings,
    central: lab.central.label,
    lb: lab.lb,
    rows,
  }
}

/** The first columns of every row. */
export interface StrategyRowBase {
  readonly strategy: StrategyName
  readonly summary: string
  readonly policy: string
  readonly users: number
  readonly loginFailures: number
}

/** One strategy's turn: its replicas, its gateway, and its users, logged in. */
export interface StrategyRun {
  readonly lab: LabEnvironment
  readonly strategy: Strategy
  readonly supervisor: Supervisor
  readonly gateway: LabGateway
  readonly users: VirtualUsers
  /** Requests per user the experiment was asked for. */
  readonly requests: number
  readonly base: StrategyRowBase
}

export interface PerStrategyOptions<E extends string, S> {
  readonly experiment: E
  readonly strategies: readonly StrategyName[]
  readonly users: number
  readonly requests: number
  /** Replicas running when the users log in. */
  readonly replicas: number
  readonly concurrency: number
  readonly settings: S
}

/** A strategy as an experiment runs it. */
export interface StrategyTurn {
  readonly strategy: Strategy
  /** True when `strategy` is a kind of replica of its own: stopped after use even in a kept environment. */
  readonly own?: boolean
}

/** One turn's ground: its replicas, its gateway and the accounts its users log in as. */
export interface TurnRun<T extends StrategyTurn = StrategyTurn> {
  readonly turn: T
  readonly supervisor: Supervisor
  readonly gateway: LabGateway
  readonly accounts: readonly Account[]
}

/**
 * Runs `measure` for each of `turns` in turn: replicas, accounts and a gateway first; the gateway closed and
 * the replicas released after (those of its own kind always). `phase` names a turn before its replicas start.
 *
 * @example
 * const rows = await runTurns(lab, [{ strategy }], { accounts: 4, replicas: 2 }, async (run) => run.gateway.url)
 */
export async function runTurns<T extends StrategyTurn, R>(
  lab: LabEnvironment,
  turns: readonly T[],
  options: { readonly accounts: number; readonly replicas: number; readonly phase?: (turn: T) => string },
  measure: (run: TurnRun<T>) => Promise<R>,
): Promise<R[]> {
  const rows: R[] = []
  for (const [index, turn] of turns.entries()) {
    if (options.phase) lab.progress.phase(options.phase(turn))
    const supervisor = await lab.replicas(turn.strategy, options.replicas)
    const accounts = await lab.accounts(options.accounts, supervisor.replicas[0]!)
    const gateway = await lab.openGateway(turn.strategy, supervisor.replicas)
    try {
      rows.push(await measure({ turn, supervisor, gateway, accounts }))
    } finally {
      await gateway.close()
    }
    const later = turns.slice(index + 1).map((t) => t.strategy)
    await lab.release(turn.strategy, later, { evenIfKept: turn.own })
  }
  lab.progress.done()
  return rows
}

/**
 * Runs `measure` for each strategy in turn (see {@link runTurns}), its users logged in first.
 *
 * @example
 * const result = await runPerStrategy(lab, options, async (run) => ({ ...run.base, ...(await run.users.run(10)) }))
 */
export async function runPerStrategy<E extends string, S, R>(
  lab: LabEnvironment,
  options: PerStrategyOptions<E, S>,
  measure: (run: StrategyRun) => Promise<R>,
): Promise<LabResult<E, S, R>> {
  const startedAt = new Date().toISOString()
  const turns = lab.strategies(options.strategies).map((strategy) => ({ strategy }))
  const rows = await runTurns(
    lab,
    turns,
    { accounts: options.users, replicas: options.replicas },
    async ({ turn: { strategy }, supervisor, gateway, accounts }) => {
      lab.progress.phase(
        `${strategy.name}: ${options.users} users log in on ${replicasText(options.replicas)}`,
      )
      const users = await VirtualUsers.logIn({
        strategy,
        baseUrl: gateway.url,
        accounts,
        concurrency: options.concurrency,
      })
      const base: StrategyRowBase = {
        strategy: strategy.name,
        summary: strategy.summary,
        policy: strategy.policy,
        users: options.users,
        loginFailures: users.users.filter((u) => u.loginError !== undefined).length,
      }
      return measure({ lab, strategy, supervisor, gateway, users, requests: options.requests, base })
    },
  )
  return labResult(lab, options.experiment, startedAt, options.settings, rows)
}

/** A run whose `action` starts after half of the requests, the users going on meanwhile. */
export interface DisruptedRun extends LoadRun {
  /** ms after the run began. */
  readonly disruptedAt: number
  /** GETs the gateway sent again to another replica after a connection error (its failover). */
  readonly resentByGateway: number
}

/**
 * The users make their requests; after half of them `action` runs. With `holdUsers` nobody stops before it
 * has finished, and everyone makes a request after it.
 */
async function runDisrupted(
  run: StrategyRun,
  options: {
    readonly label: string
    readonly note: string
    readonly holdUsers?: boolean
    readonly action: () => Promise<void>
  },
): Promise<DisruptedRun> {
  const { progress } = run.lab
  const total = (run.base.users - run.base.loginFailures) * run.requests
  const half = Math.floor(total / 2)
  progress.phase(options.label)
  const forwardedBefore = run.gateway.forwarded()
  const load = await run.users.run(run.requests, {
    interruption: {
      afterRequests: half,
      holdUsers: options.holdUsers,
      action: () => {
        progress.note(`${run.strategy.name}: ${options.note} after ${half} requests`)
        return options.action()
      },
    },
    onProgress: (done) => progress.advance(options.label, done, total),
  })
  return {
    ...load,
    disruptedAt: load.interruptedAt ?? load.durationMs,
    resentByGateway: run.gateway.forwarded() - forwardedBefore - load.records.length,
  }
}

/** The columns of every disruption row besides the experiment's own and its analysis. */
export interface DisruptionRowBase extends StrategyRowBase {
  /** GETs the gateway sent again to another replica after a connection error (its failover). */
  readonly resentByGateway: number
  readonly verdict: string
}

/** What a disruption experiment does to one strategy's replicas half-way, and how its row reads. */
export interface DisruptionPlan<R> {
  readonly label: string
  readonly note: string
  /** Nobody stops before `action` has finished, and everyone makes a request after it. */
  readonly holdUsers?: boolean
  /** The replicas `action` touches. */
  readonly affected: readonly string[]
  readonly action: () => Promise<void>
  /** For {@link disruptionVerdict}. */
  readonly words: { readonly event: string; readonly replica: string }
  /** The row, from the run, its analysis and its verdict. */
  readonly row: (load: DisruptedRun, analysis: DisruptionAnalysis, verdict: string) => R
}

/** What a {@link DisruptionPlan} is drawn up from. */
export interface DisruptionContext {
  /** The replicas' ids. */
  readonly ids: readonly string[]
  /** The replica each user logged in on. */
  readonly homes: readonly (string | undefined)[]
  readonly settings: DisruptionSettings
}

/**
 * Runs a disruption experiment (crash, restart, scale-down) for each strategy in turn: `plan` says what
 * happens to the replicas half-way and how the row reads; the load, analysis and verdict are shared.
 *
 * @example
 * const result = await runDisruption(lab, 'crash', options, (run, { ids }) => ({ ...plan }))
 */
export async function runDisruption<E extends string, R>(
  lab: LabEnvironment,
  experiment: E,
  options: DisruptionOptions,
  plan: (run: StrategyRun, context: DisruptionContext) => DisruptionPlan<R>,
): Promise<LabResult<E, DisruptionSettings, R>> {
  const settings = disruptionSettings(experiment, options)
  return runPerStrategy(
    lab,
    { experiment, strategies: options.strategies, ...settings, settings },
    async (run) => {
      const ids = run.supervisor.replicas.map((r) => r.id)
      const homes = homesOf(run.users)
      const disruption = plan(run, { ids, homes, settings })
      const load = await runDisrupted(run, disruption)
      const analysis = analyzeDisruption(load, ids, homes, new Set(disruption.affected))
      return disruption.row(load, analysis, disruptionVerdict(analysis, settings.users, disruption.words))
    },
  )
}

/** The replica each user logged in on (undefined when the login got no reply). */
function homesOf(users: VirtualUsers): (string | undefined)[] {
  return users.users.map((u) => u.loginServedBy)
}

/** The id in `ids` that appears most often in `served` (the first on a tie). */
export function busiest(ids: readonly string[], served: readonly (string | undefined)[]): string {
  let best = ids[0]!
  let most = -1
  for (const id of ids) {
    const n = served.filter((s) => s === id).length
    if (n > most) {
      best = id
      most = n
    }
  }
  return best
}

export interface DisruptionAnalysis extends Omit<LoadStats, 'usersForgotten'> {
  /** Users whose login one of the affected replicas answered. */
  readonly usersOnAffected: number
  /** Users the servers forgot at least once (before or after the disruption). */
  readonly sessionsLost: number
  /** Of those, users forgotten already before it (memory with round-robin: the replicas never shared). */
  readonly lostBefore: number
  /** Users first forgotten after it whose login an affected replica had answered. */
  readonly lostFromAffected: number
  /** Users first forgotten after it whose login another replica had answered. */
  readonly lostElsewhere: number
  /** Indexes of the users forgotten at least once. */
  readonly lostUsers: readonly number[]
  /** Requests that failed otherwise (5xx, resets) from the disruption until the last of them ended; 0: none. */
  readonly failuresForMs: number
  /**
   * From the disruption until the end of the last failed request of any kind, when every request after it
   * succeeded; 0 when nothing failed after it; null when requests were still failing at the end.
   */
  readonly recoveredAfterMs: number | null
  readonly before: Omit<LoadStats, 'usersForgotten' | 'share'>
  readonly after: Omit<LoadStats, 'usersForgotten' | 'share'>
}

/** Who was forgotten and what failed, before and after `at`, for users at `homes`, `affected` replicas. */
function analyzeDisruption(
  load: DisruptedRun,
  ids: readonly string[],
  homes: readonly (string | undefined)[],
  affected: ReadonlySet<string>,
): DisruptionAnalysis {
  const { records, durationMs, disruptedAt: at } = load
  const { usersForgotten, ...stats } = summarize(records, durationMs, ids)
  // A request in flight at the disruption belongs after it: its reply may already come from another replica.
  const before = records.filter((r) => r.end < at)
  const after = records.filter((r) => r.end >= at)
  const lostBefore = new Set(before.filter((r) => r.outcome === 'forgot').map((r) => r.user))
  const lostAfter = [...new Set(after.filter((r) => r.outcome === 'forgot').map((r) => r.user))].filter(
    (user) => !lostBefore.has(user),
  )
  const onAffected = (user: number) => {
    const home = homes[user]
    return home !== undefined && affected.has(home)
  }
  const lostFromAffected = lostAfter.filter(onAffected).length

  const endedAfter = [...after].sort((a, b) => a.end - b.end)
  const lastOther = endedAfter.findLast((r) => r.outcome === 'failed')
  const lastFailure = endedAfter.findLast((r) => r.outcome !== 'ok')
  const lastOfUser = new Map<number, RequestRecord>()
  for (const record of records)
    if ((lastOfUser.get(record.user)?.seq ?? -1) < record.seq) lastOfUser.set(record.user, record)
  // A user refused on its very last request was still forgotten when the run ended: no recovery.
  const stillRefused = [...lastOfUser.values()].some((r) => r.outcome !== 'ok')
  const recoveredAfterMs =
    lastFailure === undefined
      ? 0
      : stillRefused || !endedAfter.some((r) => r.outcome === 'ok' && r.start >= lastFailure.end)
        ? null
        : lastFailure.end - at
  const { usersForgotten: _b, share: _sb, ...beforeStats } = summarize(before, at)
  const { usersForgotten: _a, share: _sa, ...afterStats } = summarize(after, durationMs - at)
  return {
    ...stats,
    usersOnAffected: homes.filter((_, user) => onAffected(user)).length,
    sessionsLost: usersForgotten.length,
    lostBefore: lostBefore.size,
    lostFromAffected,
    lostElsewhere: lostAfter.length - lostFromAffected,
    lostUsers: usersForgotten,
    failuresForMs: lastOther ? Math.max(0, lastOther.end - at) : 0,
    recoveredAfterMs,
    before: beforeStats,
    after: afterStats,
  }
}

/**
 * One line on `analysis`: `event` names the disruption ("the crash"), `replica` the replicas it touched
 * ("the killed replica").
 */
function disruptionVerdict(
  analysis: DisruptionAnalysis,
  users: number,
  words: { readonly event: string; readonly replica: string },
): string {
  const { sessionsLost, lostBefore, lostFromAffected, lostElsewhere, usersOnAffected, failed } = analysis
  const others = failed === 0 ? '' : `; ${failed} requests failed otherwise`
  if (sessionsLost === 0) return `✅ sessions survive: nobody forgotten${others}`
  if (lostBefore > 0)
    return `❌ ${sessionsLost}/${users} users forgotten (${lostBefore} already before ${words.event}: each replica knows only its own logins)${others}`
  if (lostElsewhere === 0 && usersOnAffected < users)
    return `⚠️  ${lostFromAffected}/${users} users forgotten: exactly those pinned to ${words.replica} (${usersOnAffected}); the others kept their sessions${others}`
  if (lostElsewhere === 0)
    return `❌ ${lostFromAffected}/${users} users forgotten: everyone was pinned to ${words.replica}${others}`
  return `❌ ${sessionsLost}/${users} users forgotten, ${lostElsewhere} of them not on ${words.replica}${others}`
}

/** Options of the experiments that disturb running replicas half-way (crash, restart, scale-down). */
export interface DisruptionOptions {
  readonly strategies: readonly StrategyName[]
  readonly users: number
  /** Requests per user over the whole run; the disruption comes after half of all of them. */
  readonly requests: number
  /** Default 3. */
  readonly replicas?: number
  /** Requests in flight at once over all users. Default 8. */
  readonly concurrency?: number
  readonly quick?: boolean
}

/** {@link DisruptionOptions} validated, with defaults: what a result records as its settings. */
export interface DisruptionSettings {
  readonly users: number
  readonly requests: number
  readonly replicas: number
  readonly concurrency: number
  readonly quick: boolean
}

/** Validates `options` (a `TypeError` naming the experiment and option) and fills in the defaults. */
function disruptionSettings(experiment: string, options: DisruptionOptions): DisruptionSettings {
  const { users, requests, replicas = 3, concurrency = 8 } = options
  validateUsersAndRequests(experiment, options)
  // One replica stays in the pool while another is disturbed.
  if (!Number.isInteger(replicas) || replicas < 2)
    throw new TypeError(`${experiment} options.replicas must be an integer of at least 2`)
  return { users, requests, replicas, concurrency, quick: !!options.quick }
}

export function validateUsersAndRequests(
  experiment: string,
  options: { readonly users: number; readonly requests: number },
): void {
  if (!Number.isInteger(options.users) || options.users < 1)
    throw new TypeError(`${experiment} options.users must be a positive integer`)
  if (!Number.isInteger(options.requests) || options.requests < 2)
    throw new TypeError(
      `${experiment} options.requests must be an integer of at least 2 (the disruption comes half-way)`,
    )
}

export function replicasText(count: number): string {
  return `${count} replica${count === 1 ? '' : 's'}`
}
