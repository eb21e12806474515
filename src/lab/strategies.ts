// The answers the lab compares: how a replica is configured, how the balancer routes to it, and how a
// virtual user logs in and proves who it is afterwards. Pure data plus the choice of the central store.
import { randomBytes } from 'node:crypto'
import { AppError } from '../core/errors.ts'
import type { Policy } from '../gateway/index.ts'
import { probePostgres, probeRedis, uniqueName, unlinkPrefix } from './services.ts'

export const STRATEGY_NAMES = ['jwt', 'memory', 'sticky', 'central', 'replicated', 'cookie'] as const
export type StrategyName = (typeof STRATEGY_NAMES)[number]

export const CENTRAL_STORES = ['sqlite', 'redis', 'postgres'] as const
/** Where `central` keeps the sessions every replica shares. */
export type CentralStore = (typeof CENTRAL_STORES)[number]

export type Api = 'stateless' | 'stateful'

/** The gateway prefix each API is mounted under (`/api/stateful/api/files` reaches `/api/files`). */
export const GATEWAY_PREFIX: { readonly [A in Api]: string } = {
  stateless: '/api/stateless',
  stateful: '/api/stateful',
}

/** What a request looks like: the path behind the API's gateway prefix. */
export interface RequestShape {
  readonly method: 'GET' | 'POST'
  readonly path: string
}

/** One way of remembering users, as the lab runs it. */
export interface Strategy {
  readonly name: StrategyName
  /** One line: what the replicas remember and how the balancer routes. */
  readonly summary: string
  readonly api: Api
  readonly policy: Policy
  /** Strategies with the same `replicaKind` run identical replicas (memory and sticky), so may share them. */
  readonly replicaKind: string
  /** Environment of every replica, on top of what the lab sets for all (data dir, JWT secret, log level). */
  readonly env: Readonly<Record<string, string>>
  /** `POST` with `{username, password}`: the one login of a virtual user. */
  readonly login: RequestShape
  /**
   * The headers that prove who the user is on every later request, from the login reply's JSON. Cookies
   * need none: each virtual user keeps a jar like a browser, updated from every reply's `Set-Cookie` (the
   * balancer's affinity cookie, a sealed session re-issued as it changes).
   */
  credentialFrom(body: unknown): Record<string, string>
  /** A cheap idempotent authenticated read: what a virtual user repeats. */
  readonly read: RequestShape
  /** 401 codes that mean "the server does not know you (any more)", as opposed to a server failing. */
  readonly forgetCodes: ReadonlySet<string>
}

/** The central store the `central` strategy runs on, and how to clean up after it. */
export interface CentralStoreChoice {
  readonly kind: CentralStore
  /** For reports: `sqlite (shared file in the lab's data dir)`, `redis at redis://… (prefix …)`. */
  readonly label: string
  readonly env: Readonly<Record<string, string>>
  /** Deletes what the run wrote (Redis keys under its prefix, its PostgreSQL schema). */
  cleanup(): Promise<void>
  /** Redis for `replicated`'s broadcasts, on a channel no other run uses, or why there is none. */
  readonly broadcast: BroadcastChoice
}

/** The environment `replicated` replicas run with, or why they cannot run (Redis does not answer). */
export type BroadcastChoice =
  | { readonly ok: true; readonly env: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly reason: string }

const SESSION_FORGOTTEN = new Set(['ERR_SESSION_UNKNOWN', 'ERR_SESSION_EXPIRED'])
// A client whose session cookie was cleared sends none: it is as forgotten as one the server does not know.
const COOKIE_FORGOTTEN = new Set([...SESSION_FORGOTTEN, 'ERR_UNAUTHENTICATED'])
const TOKEN_REFUSED = new Set(['ERR_TOKEN_INVALID', 'ERR_TOKEN_EXPIRED', 'ERR_TOKEN_REVOKED'])
const READ: RequestShape = { method: 'GET', path: '/api/files' }
const PROBE_TIMEOUT_MS = 1000

function sessionHeader(body: unknown): Record<string, string> {
  const id = (body as { session_id?: unknown } | null)?.session_id
  if (typeof id !== 'string') throw new TypeError('the session start reply has no session_id')
  return { 'x-session-id': id }
}

/** The sealed session rides in the cookie jar: only check that the login handed one out. */
function sealedSessionInJar(body: unknown): Record<string, string> {
  sessionHeader(body)
  return {}
}

function bearerHeader(body: unknown): Record<string, string> {
  const token = (body as { access_token?: unknown } | null)?.access_token
  if (typeof token !== 'string') throw new TypeError('the login reply has no access_token')
  return { authorization: `Bearer ${token}` }
}

function statefulStrategy(
  name: StrategyName,
  summary: string,
  policy: Policy,
  store: string,
  env: Readonly<Record<string, string>>,
): Strategy {
  return {
    name,
    summary,
    api: 'stateful',
    policy,
    replicaKind: `stateful-${store}`,
    env,
    login: { method: 'POST', path: '/api/session/start' },
    credentialFrom: sessionHeader,
    read: READ,
    forgetCodes: SESSION_FORGOTTEN,
  }
}

/**
 * The strategies named, in the order given. `central` runs on `central` (see `chooseCentralStore`), and
 * `replicated` on its `broadcast` (`ERR_CONFIG` when Redis did not answer).
 *
 * @example
 * const [jwt, memory] = createStrategies(['jwt', 'memory'], { central })
 */
export function createStrategies(
  names: readonly StrategyName[],
  options: { readonly central: CentralStoreChoice },
): Strategy[] {
  return names.map((name) => createStrategy(name, options.central))
}

function createStrategy(name: StrategyName, central: CentralStoreChoice): Strategy {
  switch (name) {
    case 'jwt':
      return {
        name,
        summary: 'stateless replicas, a JWT on every request, round-robin',
        api: 'stateless',
        policy: 'round-robin',
        replicaKind: 'stateless',
        env: {},
        login: { method: 'POST', path: '/api/auth/login' },
        credentialFrom: bearerHeader,
        read: READ,
        forgetCodes: TOKEN_REFUSED,
      }
    case 'memory':
      return statefulStrategy(
        name,
        'sessions in each replica’s memory, round-robin',
        'round-robin',
        'memory',
        { SESSION_STORE: 'memory' },
      )
    case 'sticky':
      return statefulStrategy(
        name,
        'sessions in each replica’s memory, sticky balancer',
        'sticky',
        'memory',
        { SESSION_STORE: 'memory' },
      )
    case 'central':
      return statefulStrategy(
        name,
        `sessions in a store all replicas share (${central.kind}), round-robin`,
        'round-robin',
        central.kind,
        central.env,
      )
    case 'replicated': {
      const { broadcast } = central
      if (!broadcast.ok)
        throw new AppError('ERR_CONFIG', `replicated broadcasts through Redis: ${broadcast.reason}`)
      return statefulStrategy(
        name,
        'every session in every replica’s memory, changes broadcast through Redis, round-robin',
        'round-robin',
        'replicated',
        broadcast.env,
      )
    }
    case 'cookie':
      // Every replica seals with the development secret the first one writes to the shared data dir.
      return {
        ...statefulStrategy(
          name,
          'no sessions on the server: each sealed in the client’s cookie, round-robin',
          'round-robin',
          'cookie',
          { SESSION_STORE: 'cookie' },
        ),
        credentialFrom: sealedSessionInJar,
        forgetCodes: COOKIE_FORGOTTEN,
      }
  }
}

/** Every strategy this machine can run: all of them, less `replicated` when Redis does not answer. */
export function availableStrategyNames(central: CentralStoreChoice): StrategyName[] {
  return STRATEGY_NAMES.filter((name) => name !== 'replicated' || central.broadcast.ok)
}

/** Parses `jwt,memory,...`; throws `ERR_CONFIG` naming the unknown one. */
export function parseStrategyNames(list: string): StrategyName[] {
  const names = list
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
  for (const name of names) {
    if (!(STRATEGY_NAMES as readonly string[]).includes(name))
      throw new AppError(
        'ERR_CONFIG',
        `--strategies: unknown strategy "${name}"; choose from ${STRATEGY_NAMES.join(', ')}`,
      )
  }
  if (names.length === 0) throw new AppError('ERR_CONFIG', '--strategies must name at least one strategy')
  return [...new Set(names)] as StrategyName[]
}

/** A fresh HS256 secret for one lab run: every replica gets it, so a token from one verifies on all. */
export function createJwtSecret(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * Picks the store `central` shares: the one `requested`, or else Redis when `redisUrl` answers and SQLite
 * when it does not (a file in the lab's data dir: replicas on one machine share it). Redis gets a prefix
 * and PostgreSQL a schema no other run uses; only this machine (127.0.0.1) is ever used. Redis is asked
 * whatever the choice: `replicated` broadcasts through it (`broadcast`).
 */
export async function chooseCentralStore(
  requested: CentralStore | undefined,
  options: { readonly redisUrl: string; readonly databaseUrl: string },
): Promise<CentralStoreChoice> {
  const probe = await probeRedis(options.redisUrl, PROBE_TIMEOUT_MS)
  // Pub/sub leaves no keys behind: nothing to clean up.
  const broadcast: BroadcastChoice = probe.ok
    ? {
        ok: true,
        env: {
          SESSION_STORE: 'replicated',
          REDIS_URL: options.redisUrl,
          REDIS_PREFIX: uniqueName('statelab_lab'),
        },
      }
    : { ok: false, reason: probe.reason }
  const sqlite: CentralStoreChoice = {
    kind: 'sqlite',
    label: 'sqlite (one file in the lab data dir, shared by the replicas)',
    env: { SESSION_STORE: 'sqlite' },
    cleanup: async () => {},
    broadcast,
  }
  if (requested === 'sqlite' || requested === 'postgres') {
    if (probe.ok) probe.client.destroy()
    if (requested === 'sqlite') return sqlite
    return choosePostgres(options.databaseUrl, broadcast)
  }
  if (!probe.ok) {
    if (requested === 'redis') throw new AppError('ERR_CONFIG', `--store redis: ${probe.reason}`)
    return { ...sqlite, label: `${sqlite.label}, because ${probe.reason}` }
  }
  const prefix = uniqueName('statelab_lab')
  return {
    kind: 'redis',
    label: `redis at ${redactUrl(options.redisUrl)} (prefix ${prefix})`,
    env: { SESSION_STORE: 'redis', REDIS_URL: options.redisUrl, REDIS_PREFIX: prefix },
    cleanup: async () => {
      try {
        await unlinkPrefix(probe.client, prefix)
      } finally {
        probe.client.destroy()
      }
    },
    broadcast,
  }
}

/** PostgreSQL in a schema no other run uses; `ERR_CONFIG` when it does not answer. */
async function choosePostgres(databaseUrl: string, broadcast: BroadcastChoice): Promise<CentralStoreChoice> {
  const probe = await probePostgres(databaseUrl, PROBE_TIMEOUT_MS)
  if (!probe.ok) throw new AppError('ERR_CONFIG', `--store postgres: ${probe.reason}`)
  const schema = uniqueName('statelab_lab').toLowerCase()
  return {
    kind: 'postgres',
    label: `postgres at ${redactUrl(databaseUrl)} (schema ${schema})`,
    env: { SESSION_STORE: 'postgres', DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema },
    cleanup: async () => {
      try {
        await probe.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      } finally {
        await probe.client.end().catch(() => {})
      }
    },
    broadcast,
  }
}

/** `url` without its password, for reports. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}
