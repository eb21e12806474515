// `statelab lab revocation`: a user logs out (or logs out everywhere after a theft); someone kept a copy of
// what the user sent. How long does that copy keep working? The old credential is replayed through the
// gateway every few tens of ms after the logout, then asked of every replica directly.
import { setTimeout as delay } from 'node:timers/promises'
import { VirtualUsers } from '../load.ts'
import { formatDelay } from '../results.ts'
import {
  type Api,
  type CentralStoreChoice,
  GATEWAY_PREFIX,
  type RequestShape,
  type Strategy,
  type StrategyName,
} from '../strategies.ts'
import {
  type LabResult,
  labResult,
  replicasText,
  runTurns,
  type StrategyRowBase,
  type StrategyTurn,
  type TurnRun,
} from './disruption.ts'
import type { LabEnvironment } from './lab-environment.ts'

/** `strategy` with `env` on top of its own, on replicas of its own kind (`<kind>-<suffix>`). */
function withEnv(strategy: Strategy, suffix: string, env: Readonly<Record<string, string>>): Strategy {
  return { ...strategy, replicaKind: `${strategy.replicaKind}-${suffix}`, env: { ...strategy.env, ...env } }
}

export interface RevocationOptions {
  readonly strategies: readonly StrategyName[]
  /** Users per variant, each with its own account. Default 4. */
  readonly users?: number
  /** Default 3. */
  readonly replicas?: number
  /**
   * Lifetime (s) of credentials that expire on their own (JWT access tokens, sealed cookies): the replicas
   * of those strategies run with it so that the expiry comes within the run. Default 5 (--quick 2).
   */
  readonly lifetimeSeconds?: number
  /** Between two replays of the old credential. Default 50. */
  readonly pollMs?: number
  readonly concurrency?: number
  readonly quick?: boolean
}

export interface RevocationSettings {
  readonly users: number
  readonly replicas: number
  readonly lifetimeSeconds: number
  readonly pollMs: number
  /** Replays stop at this many ms after the logout. */
  readonly boundMs: number
  readonly concurrency: number
  readonly quick: boolean
}

/** What became of the old credential after the logout. */
export type RevocationOutcome =
  /** Refused on the first replay after the logout, by every replica. */
  | 'immediate'
  /** Accepted for a while (a broadcast on its way), then refused everywhere. */
  | 'lag'
  /** Accepted until the credential expired on its own. */
  | 'expiry'
  /** Still accepted somewhere when the run ended. */
  | 'never'

export interface RevocationRow extends StrategyRowBase {
  readonly variant: string
  /** How the variant revokes: the request sent and what the replicas were configured with. */
  readonly revokedBy: string
  /** The credential lifetime (s) the replicas ran with; undefined when it was left alone. */
  readonly lifetimeSeconds: number | undefined
  /** How the logout requests were answered. */
  readonly logouts: { readonly ok: number; readonly refused: number; readonly failed: number }
  /** Replays of old credentials through the gateway after the logouts. */
  readonly replays: number
  /** Of those, accepted (the logout had not reached the replica that answered). */
  readonly acceptedAfterLogout: number
  /** Of those, failed otherwise (5xx, resets). */
  readonly failedReplays: number
  /** Users whose old credential some replica still accepted at the end. */
  readonly usersStillAccepted: number
  /** Replicas that still accepted an old credential when asked directly at the end. */
  readonly stillAcceptedBy: readonly string[]
  /** From the logout's reply to the end of the last accepted replay, worst user; 0: none; null: never refused. */
  readonly delayMs: number | null
  /** The median user's delay, null when most were never refused. */
  readonly medianDelayMs: number | null
  readonly outcome: RevocationOutcome
  readonly verdict: string
}

export type RevocationResult = LabResult<'revocation', RevocationSettings, RevocationRow>

/** A strategy as revocation runs it: `variant` names its row; its replicas may run with extra env. */
interface RevocationVariant extends StrategyTurn {
  readonly variant: string
  readonly own: boolean
  /** What the variant changes, for the report. */
  readonly note: string
  readonly action: RequestShape
  readonly lifetimeSeconds: number | undefined
}

/** "Log out" on each API: the stateless one forgets the refresh token (and the access token with a denylist). */
export const LOGOUT = {
  stateless: { method: 'POST', path: '/api/auth/logout' },
  stateful: { method: 'POST', path: '/api/session/end' },
} as const satisfies Record<Api, RequestShape>

/** Bumps the user's token version: every token issued before is refused (what a password change also does). */
const LOGOUT_EVERYWHERE: RequestShape = { method: 'POST', path: '/api/auth/logout-all' }

/** Stores whose sessions the client carries, sealed: nothing on the server to forget them from. */
const CLIENT_SIDE_STORES = new Set(['cookie'])

/** Credentials that live until they expire unless the server keeps state: tokens, sealed cookies. */
function expiresOnItsOwn(strategy: Strategy): boolean {
  return strategy.api === 'stateless' || CLIENT_SIDE_STORES.has(strategy.env.SESSION_STORE ?? '')
}

/** The setting that bounds such a credential's life on each API. */
function lifetimeEnv(strategy: Strategy, seconds: number): Record<string, string> {
  return strategy.api === 'stateless'
    ? { ACCESS_TOKEN_TTL: String(seconds) }
    : { SESSION_IDLE_TIMEOUT: String(seconds) }
}

/** A denylist every replica shares, in the central store (SQLite: the shared file). */
function denylistEnv(central: CentralStoreChoice): Record<string, string> {
  const { SESSION_STORE: _, ...connection } = central.env
  return { ...connection, JWT_DENYLIST: central.kind }
}

function variantsOf(
  lab: LabEnvironment,
  names: readonly StrategyName[],
  lifetime: number,
): RevocationVariant[] {
  const variants: RevocationVariant[] = []
  for (const strategy of lab.strategies(names)) {
    const logout = LOGOUT[strategy.api]
    const short = expiresOnItsOwn(strategy)
    const base: RevocationVariant = short
      ? {
          variant: strategy.name,
          strategy: withEnv(strategy, 'short-lived', lifetimeEnv(strategy, lifetime)),
          own: true,
          note: `${logout.path}; credentials live ${lifetime} s`,
          action: logout,
          lifetimeSeconds: lifetime,
        }
      : {
          variant: strategy.name,
          strategy,
          own: false,
          note: logout.path,
          action: logout,
          lifetimeSeconds: undefined,
        }
    variants.push(base)
    if (strategy.api === 'stateless') {
      // Right after the base: same replicas, kept up for it.
      variants.push({
        ...base,
        variant: `${strategy.name} + token version`,
        note: `${LOGOUT_EVERYWHERE.path} (the user's token version goes up, as on a password change)`,
        action: LOGOUT_EVERYWHERE,
      })
      variants.push({
        ...base,
        variant: `${strategy.name} + denylist`,
        strategy: withEnv(base.strategy, 'denylist', denylistEnv(lab.central)),
        own: true,
        note: `${logout.path} with JWT_DENYLIST=${lab.central.kind}`,
      })
    }
    if (strategy.env.SESSION_STORE === 'redis')
      variants.push({
        ...base,
        variant: `${strategy.name} + cache`,
        strategy: withEnv(strategy, 'cache', { SESSION_CACHE: 'on' }),
        own: true,
        note: `${logout.path} with SESSION_CACHE=on (each replica caches Redis reads, invalidated by Redis)`,
      })
  }
  return variants
}

/** Validates `options` (a `TypeError` naming the option) and fills in the defaults. */
function revocationSettings(options: RevocationOptions): RevocationSettings {
  const quick = options.quick === true
  const { users = 4, replicas = 3, lifetimeSeconds = quick ? 2 : 5, pollMs = 50, concurrency = 8 } = options
  for (const [name, value, min] of [
    ['users', users, 1],
    ['replicas', replicas, 1],
    ['lifetimeSeconds', lifetimeSeconds, 1],
    ['pollMs', pollMs, 1],
    ['concurrency', concurrency, 1],
  ] as const)
    if (!Number.isInteger(value) || value < min)
      throw new TypeError(`revocation options.${name} must be an integer of at least ${min}`)
  // The expiry, the clock's second granularity, then the slowest replica's answer.
  const boundMs = lifetimeSeconds * 1000 + 1500
  return { users, replicas, lifetimeSeconds, pollMs, boundMs, concurrency, quick }
}

/**
 * Runs `revocation` for each strategy (and, for JWT, with a denylist and with the token version; for a
 * Redis store, with the client-side cache) on `lab`'s replicas.
 *
 * @example
 * const result = await runRevocation(lab, { strategies: ['jwt', 'sticky'], quick: true })
 */
export async function runRevocation(
  lab: LabEnvironment,
  options: RevocationOptions,
): Promise<RevocationResult> {
  const settings = revocationSettings(options)
  const startedAt = new Date().toISOString()
  const variants = variantsOf(lab, options.strategies, settings.lifetimeSeconds)
  const rows = await runTurns(
    lab,
    variants,
    {
      accounts: settings.users,
      replicas: settings.replicas,
      phase: (variant) => `${variant.variant}: ${replicasText(settings.replicas)}`,
    },
    (run) => measure(lab, run, settings),
  )
  return labResult(lab, 'revocation', startedAt, settings, rows)
}

export type Replay = 'accepted' | 'refused' | 'failed'

/** One request with exactly `headers` (no cookie jar): what someone holding a copy of them can do. */
export async function replay(
  url: string,
  headers: Record<string, string>,
  method: 'GET' | 'POST' = 'GET',
): Promise<Replay> {
  try {
    const response = await fetch(url, {
      method,
      headers,
      signal: AbortSignal.timeout(5000),
      redirect: 'manual',
    })
    await response.arrayBuffer()
    if (response.status >= 200 && response.status < 300) return 'accepted'
    return response.status === 401 ? 'refused' : 'failed'
  } catch {
    return 'failed'
  }
}

interface UserReplays {
  readonly replays: number
  readonly accepted: number
  readonly failed: number
  /** ms from the logout's reply to the end of the last accepted replay; 0 when none was accepted. */
  readonly lastAcceptedMs: number
  readonly lastWasAccepted: boolean
}

/**
 * Replays `headers` every `pollMs` (jittered, so that users do not fall into step with a round-robin
 * balancer and always miss the same replica) until `stopAfter` refusals in a row or `boundMs`.
 */
async function replayUntilRefused(
  url: string,
  headers: Record<string, string>,
  settings: RevocationSettings,
  stopAfter: number,
  onReplay: () => void,
): Promise<UserReplays> {
  const start = performance.now()
  let replays = 0
  let accepted = 0
  let failed = 0
  let lastAcceptedMs = 0
  let refusedInARow = 0
  let last: Replay = 'refused'
  while (performance.now() - start < settings.boundMs) {
    last = await replay(url, headers)
    replays++
    onReplay()
    if (last === 'accepted') {
      accepted++
      lastAcceptedMs = performance.now() - start
      refusedInARow = 0
    } else if (last === 'refused') {
      if (++refusedInARow >= stopAfter) break
    } else failed++
    await delay(settings.pollMs * (0.5 + Math.random()))
  }
  return { replays, accepted, failed, lastAcceptedMs, lastWasAccepted: last === 'accepted' }
}

async function measure(
  lab: LabEnvironment,
  run: TurnRun<RevocationVariant>,
  settings: RevocationSettings,
): Promise<RevocationRow> {
  const { turn: variant } = run
  const { strategy } = variant
  const { progress } = lab
  progress.phase(`${variant.variant}: ${run.accounts.length} users log in`)
  const users = await VirtualUsers.logIn({
    strategy,
    baseUrl: run.gateway.url,
    accounts: run.accounts,
    concurrency: settings.concurrency,
  })
  // Two reads each: the credential works, and a sticky balancer has pinned the user, before the logout.
  await users.run(2)
  const loggedIn = users.users.filter((u) => u.loginError === undefined).map((u) => u.index)
  const replicaCount = run.supervisor.replicas.length
  // Every replica asked at least twice under round-robin, in a row, before calling it refused.
  const stopAfter = 2 * replicaCount
  const gatewayRead = `${run.gateway.url}${GATEWAY_PREFIX[strategy.api]}${strategy.read.path}`
  const label = `${variant.variant}: ${variant.action.path}, then the old credential replayed`
  const total = loggedIn.length * Math.ceil(settings.boundMs / settings.pollMs)
  let done = 0
  progress.phase(label)
  const perUser = await Promise.all(
    loggedIn.map(async (user) => {
      const identity = users.identityOf(user)!
      // In a random order, as users do: a round-robin balancer then sends each logout wherever it happens to.
      await delay(Math.random() * settings.pollMs)
      const logout = await users.send(user, variant.action)
      const replays = await replayUntilRefused(gatewayRead, identity, settings, stopAfter, () =>
        progress.advance(label, ++done, total),
      )
      // Asked directly: does some replica the gateway happened not to reach still accept it?
      const acceptedBy: string[] = []
      for (const replica of run.supervisor.replicas)
        if ((await replay(`${replica.url}${strategy.read.path}`, withoutCookies(identity))) === 'accepted')
          acceptedBy.push(replica.id)
      return { logout, replays, acceptedBy }
    }),
  )
  progress.advance(label, total, total)

  const logouts = { ok: 0, refused: 0, failed: 0 }
  for (const { logout } of perUser) {
    if (logout.status >= 200 && logout.status < 300) logouts.ok++
    else if (logout.status === 401) logouts.refused++
    else logouts.failed++
  }
  // Still accepted at the end: by a replica asked directly, or on the last replay through the gateway.
  const accepts = (u: (typeof perUser)[number]) => u.acceptedBy.length > 0 || u.replays.lastWasAccepted
  const stillAccepted = perUser.filter(accepts)
  const delays = perUser
    .map((u) => (accepts(u) ? null : u.replays.lastAcceptedMs))
    .sort((a, b) => (a ?? Number.POSITIVE_INFINITY) - (b ?? Number.POSITIVE_INFINITY))
  const delayMs = delays.includes(null) ? null : Math.max(0, ...(delays as number[]))
  const medianDelayMs = delays[Math.floor((delays.length - 1) / 2)] ?? null
  const sum = (pick: (r: UserReplays) => number) => perUser.reduce((n, u) => n + pick(u.replays), 0)
  const acceptedAfterLogout = sum((r) => r.accepted)
  const outcome: RevocationOutcome =
    delayMs === null
      ? 'never'
      : acceptedAfterLogout === 0
        ? 'immediate'
        : variant.lifetimeSeconds !== undefined && delayMs >= variant.lifetimeSeconds * 500
          ? 'expiry'
          : 'lag'
  const row = {
    strategy: strategy.name,
    summary: strategy.summary,
    policy: strategy.policy,
    users: run.accounts.length,
    loginFailures: run.accounts.length - loggedIn.length,
    variant: variant.variant,
    revokedBy: variant.note,
    lifetimeSeconds: variant.lifetimeSeconds,
    logouts,
    replays: sum((r) => r.replays),
    acceptedAfterLogout,
    failedReplays: sum((r) => r.failed),
    usersStillAccepted: stillAccepted.length,
    stillAcceptedBy: [...new Set(perUser.flatMap((u) => u.acceptedBy))].sort(),
    delayMs,
    medianDelayMs,
    outcome,
  }
  return { ...row, verdict: revocationVerdict(row, settings) }
}

/** The balancer's affinity cookie means nothing to a replica asked directly; the credential is what counts. */
export function withoutCookies(headers: Record<string, string>): Record<string, string> {
  const { cookie, ...rest } = headers
  // A session carried only in a cookie is the credential itself: keep it then.
  return Object.keys(rest).length === 0 && cookie !== undefined ? { cookie } : rest
}

/** One line on `row`. */
function revocationVerdict(
  row: Omit<RevocationRow, 'verdict'>,
  settings: Pick<RevocationSettings, 'boundMs'>,
): string {
  const users = row.users - row.loginFailures
  const logoutNote =
    row.logouts.ok === users
      ? ''
      : `; ${row.logouts.refused}/${users} logouts were refused (401: the replica the balancer chose did not know the session)`
  switch (row.outcome) {
    case 'immediate':
      return `✅ refused on the first request after the logout, by every replica${logoutNote}`
    case 'lag':
      return `⚠️  still accepted ${row.acceptedAfterLogout} times, for up to ${formatDelay(row.delayMs ?? 0)}, after the logout; then refused everywhere${logoutNote}`
    case 'expiry':
      return `⏳ the old credential kept working until it expired: ${formatDelay(row.delayMs ?? 0)} after the logout (lifetime ${row.lifetimeSeconds} s); nothing on the server could forget it${logoutNote}`
    case 'never':
      return `❌ ${row.usersStillAccepted}/${users} old credentials still accepted ${formatDelay(settings.boundMs)} after the logout${row.stillAcceptedBy.length > 0 ? ` by ${row.stillAcceptedBy.join(', ')}` : ''}: the logout never reached ${row.stillAcceptedBy.length === 1 ? 'that replica' : 'those replicas'}${logoutNote}`
  }
}
