// `statelab lab crash`: users log in on three replicas and keep requesting; half-way through, the replica
// that took the most logins is SIGKILLed and nobody tells the gateway. Who is forgotten, what fails, and
// how long until every request succeeds again?
import { type LoadStats, type RequestRecord, summarize, VirtualUsers } from '../load.ts'
import { describeMachine } from '../results.ts'
import type { StrategyName } from '../strategies.ts'
import type { LabEnvironment } from './lab-environment.ts'

export interface CrashOptions {
  readonly strategies: readonly StrategyName[]
  readonly users: number
  /** Requests per user over the whole run; the kill comes after half of all of them. */
  readonly requests: number
  /** Default 3. */
  readonly replicas?: number
  /** Requests in flight at once over all users. Default 8. */
  readonly concurrency?: number
  readonly quick?: boolean
}

export interface CrashRow extends Omit<LoadStats, 'usersForgotten'> {
  readonly strategy: StrategyName
  readonly summary: string
  readonly policy: string
  readonly users: number
  readonly loginFailures: number
  /** The replica killed: the one that answered the most logins (the first of them on a tie). */
  readonly killed: string
  /** ms after the run began. */
  readonly killedAt: number
  /** GETs the gateway sent again to another replica after a connection error (its failover). */
  readonly resentByGateway: number
  /** Users whose login the killed replica answered. */
  readonly usersOnKilled: number
  /** Users the servers forgot at least once (before or after the crash). */
  readonly sessionsLost: number
  /** Of those, users forgotten already before the crash (memory with round-robin: the replicas never shared). */
  readonly lostBeforeCrash: number
  /** Users first forgotten after the crash whose login the killed replica had answered. */
  readonly lostFromKilled: number
  /** Users first forgotten after the crash whose login another replica had answered. */
  readonly lostElsewhere: number
  /** Indexes of the users forgotten at least once. */
  readonly lostUsers: readonly number[]
  /** Requests that failed otherwise (5xx, resets) from the kill until the last of them ended; 0: none. */
  readonly failuresForMs: number
  /**
   * From the kill until the end of the last failed request of any kind, when every request after it
   * succeeded; 0 when nothing failed after the kill; null when requests were still failing at the end.
   */
  readonly recoveredAfterMs: number | null
  readonly before: Omit<LoadStats, 'usersForgotten' | 'share'>
  readonly after: Omit<LoadStats, 'usersForgotten' | 'share'>
  readonly verdict: string
}

export interface CrashResult {
  readonly experiment: 'crash'
  readonly startedAt: string
  readonly finishedAt: string
  readonly machine: ReturnType<typeof describeMachine>
  readonly settings: {
    readonly users: number
    readonly requests: number
    readonly replicas: number
    readonly concurrency: number
    readonly quick: boolean
  }
  readonly central: string
  readonly rows: readonly CrashRow[]
}

const DEFAULT_REPLICAS = 3
const DEFAULT_CONCURRENCY = 8

/**
 * Runs `crash` for each strategy in turn on `lab`'s replicas.
 *
 * @example
 * const result = await runCrash(lab, { strategies: ['sticky', 'central'], users: 12, requests: 15 })
 */
export async function runCrash(lab: LabEnvironment, options: CrashOptions): Promise<CrashResult> {
  const replicas = options.replicas ?? DEFAULT_REPLICAS
  validate(options, replicas)
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY
  const startedAt = new Date().toISOString()
  const { progress } = lab
  const rows: CrashRow[] = []
  const strategies = lab.strategies(options.strategies)
  for (const [index, strategy] of strategies.entries()) {
    const supervisor = await lab.replicas(strategy, replicas)
    const accounts = await lab.accounts(options.users, supervisor.replicas[0]!)
    const ids = supervisor.replicas.map((r) => r.id)
    const gateway = await lab.openGateway(strategy, supervisor.replicas)
    try {
      progress.phase(`${strategy.name}: ${options.users} users log in on ${replicas} replicas`)
      const users = await VirtualUsers.logIn({ strategy, baseUrl: gateway.url, accounts, concurrency })
      const victim = busiest(
        ids,
        users.users.map((u) => u.loginServedBy),
      )
      const active = users.users.filter((u) => u.loginError === undefined).length
      const total = active * options.requests
      const label = `${strategy.name}: ${users.users.length} users, SIGKILL of ${victim} half-way`
      progress.phase(label)
      const forwardedBefore = gateway.forwarded()
      const run = await users.run(options.requests, {
        interruption: {
          afterRequests: Math.floor(total / 2),
          action: () => {
            progress.note(`${strategy.name}: SIGKILL ${victim} after ${Math.floor(total / 2)} requests`)
            return lab.kill(supervisor, victim)
          },
        },
        onProgress: (done) => progress.advance(label, done, total),
      })
      const killedAt = run.interruptedAt ?? run.durationMs
      const resentByGateway = gateway.forwarded() - forwardedBefore - run.records.length
      const homes = users.users.map((u) => u.loginServedBy)
      rows.push({
        strategy: strategy.name,
        summary: strategy.summary,
        policy: strategy.policy,
        users: options.users,
        loginFailures: users.users.length - active,
        killed: victim,
        killedAt,
        resentByGateway,
        ...analyze(run.records, run.durationMs, ids, killedAt, homes, victim),
      })
    } finally {
      await gateway.close()
    }
    await lab.release(strategy, strategies.slice(index + 1))
  }
  progress.done()
  return {
    experiment: 'crash',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: describeMachine(),
    settings: {
      users: options.users,
      requests: options.requests,
      replicas,
      concurrency,
      quick: !!options.quick,
    },
    central: lab.central.label,
    rows,
  }
}

/** The id in `ids` that appears most often in `served` (the first on a tie). */
function busiest(ids: readonly string[], served: readonly (string | undefined)[]): string {
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

function analyze(
  records: readonly RequestRecord[],
  durationMs: number,
  ids: readonly string[],
  killedAt: number,
  homes: readonly (string | undefined)[],
  victim: string,
) {
  const { usersForgotten, ...stats } = summarize(records, durationMs, ids)
  // A request in flight at the kill belongs after it: its reply may already come from a survivor.
  const before = records.filter((r) => r.end < killedAt)
  const after = records.filter((r) => r.end >= killedAt)
  const lostBefore = new Set(before.filter((r) => r.outcome === 'forgot').map((r) => r.user))
  const lostAfter = [...new Set(after.filter((r) => r.outcome === 'forgot').map((r) => r.user))].filter(
    (user) => !lostBefore.has(user),
  )
  const lostFromKilled = lostAfter.filter((user) => homes[user] === victim).length
  const usersOnKilled = homes.filter((home) => home === victim).length

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
        : lastFailure.end - killedAt
  const { usersForgotten: _b, share: _sb, ...beforeStats } = summarize(before, killedAt)
  const { usersForgotten: _a, share: _sa, ...afterStats } = summarize(after, durationMs - killedAt)
  const row = {
    ...stats,
    usersOnKilled,
    sessionsLost: usersForgotten.length,
    lostBeforeCrash: lostBefore.size,
    lostFromKilled,
    lostElsewhere: lostAfter.length - lostFromKilled,
    lostUsers: usersForgotten,
    failuresForMs: lastOther ? Math.max(0, lastOther.end - killedAt) : 0,
    recoveredAfterMs,
    before: beforeStats,
    after: afterStats,
  }
  return { ...row, verdict: crashVerdict(row, homes.length) }
}

function crashVerdict(
  row: {
    sessionsLost: number
    lostBeforeCrash: number
    lostFromKilled: number
    lostElsewhere: number
    usersOnKilled: number
    failed: number
  },
  users: number,
): string {
  const others = row.failed === 0 ? '' : `; ${row.failed} requests failed otherwise`
  if (row.sessionsLost === 0) return `✅ sessions survive: nobody forgotten${others}`
  if (row.lostBeforeCrash > 0)
    return `❌ ${row.sessionsLost}/${users} users forgotten (${row.lostBeforeCrash} already before the crash: each replica knows only its own logins)${others}`
  if (row.lostElsewhere === 0)
    return `⚠️  ${row.lostFromKilled}/${users} users forgotten: exactly those pinned to the killed replica (${row.usersOnKilled}); the others kept their sessions${others}`
  return `❌ ${row.sessionsLost}/${users} users forgotten, ${row.lostElsewhere} of them not on the killed replica${others}`
}

function validate(options: CrashOptions, replicas: number): void {
  if (!Number.isInteger(options.users) || options.users < 1)
    throw new TypeError('crash options.users must be a positive integer')
  if (!Number.isInteger(options.requests) || options.requests < 2)
    throw new TypeError('crash options.requests must be an integer of at least 2 (the kill comes half-way)')
  if (!Number.isInteger(replicas) || replicas < 2)
    throw new TypeError('crash options.replicas must be an integer of at least 2')
}
