import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import pg from 'pg'
import type { Logger } from 'pino'
import { createClient, createCluster } from 'redis'
import type { Config } from './config.ts'
import type { Clock } from './core/clock.ts'
import { SessionSealer } from './core/sessions/sealed-session.ts'
import { readOrCreate } from './dev-secret.ts'
import { CookieSessionStore } from './stores/cookie/index.ts'
import type { DataStore } from './stores/data/data-store.ts'
import { PostgresDataStore } from './stores/data/postgres/index.ts'
import { SqliteDataStore } from './stores/data/sqlite/index.ts'
import { MemorySessionStore, MemoryTokenDenylist } from './stores/memory/index.ts'
import { PostgresSessionStore, PostgresTokenDenylist } from './stores/postgres/index.ts'
import {
  RedisSessionStore,
  type RedisSessionStoreClient,
  RedisTokenDenylist,
  type RedisTokenDenylistClient,
} from './stores/redis/index.ts'
import { ReplicatedSessionStore, type ReplicatedSessionStoreClient } from './stores/replicated/index.ts'
import type { SessionStore } from './stores/session-store.ts'
import { SqliteSessionStore, SqliteTokenDenylist } from './stores/sqlite/index.ts'
import type { TokenDenylist } from './stores/token-denylist.ts'

/** Hits and misses of the local session cache (`SESSION_CACHE=on`). */
export interface CacheStats {
  readonly hits: number
  readonly misses: number
  readonly hitRatio: number
}

/** The stores `config` names, opened, with the clients they share. */
export interface Stores {
  readonly data: DataStore
  readonly sessions: SessionStore
  readonly denylist: TokenDenylist | undefined
  /** Present when reads of Redis go through the local cache. */
  readonly cacheStats: (() => CacheStats) | undefined
  /** Closes every store, then the clients they share. */
  close(): Promise<void>
}

/** What statelab needs of a node-redis client, standalone or Cluster. */
interface RedisClient
  extends RedisSessionStoreClient,
    RedisTokenDenylistClient,
    ReplicatedSessionStoreClient {
  close(): Promise<unknown>
}

/**
 * Opens the data store, the session store and the token denylist that `config` selects, sharing one Redis
 * client and one PostgreSQL pool among them. Every client fails fast (`config.storeTimeoutMs`) instead of
 * queueing while its server is down, and reconnects by itself.
 */
export async function openStores(
  config: Config,
  { clock, log }: { clock: Clock; log: Logger },
): Promise<Stores> {
  // Closed in reverse order: stores before the clients they use.
  const closers: (() => Promise<unknown>)[] = []
  const closeAll = async () => {
    for (const close of closers.reverse())
      await close().catch((err) => log.warn({ err }, 'closing a store failed'))
  }
  const onSweepError = (err: unknown) => log.warn({ err }, 'background sweep of expired entries failed')
  const sqlitePath = (name: string) => join(config.dataDir, name)

  let pool: pg.Pool | undefined
  const postgres = (): pg.Pool => {
    if (pool) return pool
    const created = new pg.Pool({
      connectionString: config.databaseUrl,
      connectionTimeoutMillis: config.storeTimeoutMs,
      query_timeout: config.storeTimeoutMs,
    })
    created.on('error', (err) => log.warn({ err }, 'an idle PostgreSQL connection failed'))
    closers.push(() => created.end())
    pool = created
    return created
  }

  let redis: Promise<RedisClient> | undefined
  const redisClient = () => {
    redis ??= connectRedis(config, log).then((client) => {
      closers.push(() => client.close())
      return client
    })
    return redis
  }

  try {
    const schema = config.databaseSchema
    const data: DataStore =
      config.dataStore === 'postgres'
        ? await PostgresDataStore.open({ pool: postgres(), schema })
        : SqliteDataStore.open({ path: sqlitePath('statelab.db') })
    closers.push(() => data.close())

    let sessions: SessionStore
    switch (config.sessionStore) {
      case 'memory':
        sessions = new MemorySessionStore({ clock, maxSessions: config.maxSessions })
        break
      case 'sqlite':
        sessions = SqliteSessionStore.open({ path: sqlitePath('sessions.db'), clock, onSweepError })
        break
      case 'redis':
        sessions = new RedisSessionStore({
          client: await redisClient(),
          clock,
          prefix: config.redisPrefix,
          timeoutMs: config.storeTimeoutMs,
        })
        break
      case 'postgres':
        sessions = await PostgresSessionStore.open({ pool: postgres(), clock, schema, onSweepError })
        break
      case 'replicated':
        // Resolves once the replicas already on the channel have sent their sessions: only then do we serve.
        sessions = await ReplicatedSessionStore.open({
          client: await redisClient(),
          channel: `${config.redisPrefix}:sessions`,
          clock,
          maxSessions: config.maxSessions,
          onError: (err) => log.warn({ err }, 'a session broadcast could not be applied'),
          timeoutMs: config.storeTimeoutMs,
        })
        break
      case 'cookie':
        sessions = new CookieSessionStore({ sealer: new SessionSealer(cookieSecret(config, log)), clock })
        break
    }
    closers.push(async () => sessions.close?.())

    let denylist: TokenDenylist | undefined
    switch (config.jwtDenylist) {
      case 'off':
        break
      case 'memory':
        denylist = new MemoryTokenDenylist({ clock })
        break
      case 'sqlite':
        denylist = SqliteTokenDenylist.open({ path: sqlitePath('sessions.db'), clock, onSweepError })
        break
      case 'redis':
        denylist = new RedisTokenDenylist({
          client: await redisClient(),
          clock,
          prefix: config.redisPrefix,
          timeoutMs: config.storeTimeoutMs,
        })
        break
      case 'postgres':
        denylist = await PostgresTokenDenylist.open({ pool: postgres(), clock, schema, onSweepError })
        break
    }
    if (denylist) closers.push(async () => denylist.close?.())

    const cached =
      sessions instanceof RedisSessionStore && config.sessionCache === 'on' ? sessions : undefined
    return {
      data,
      sessions,
      denylist,
      cacheStats: cached && (() => cached.cacheStats()!),
      close: closeAll,
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}

/** `SESSION_COOKIE_SECRET`, or a development secret generated once under the data directory. */
function cookieSecret(config: Config, log: Logger): string {
  if (config.sessionCookieSecret !== undefined) return config.sessionCookieSecret
  const file = join(config.dataDir, 'dev-session-cookie-secret')
  const secret = readOrCreate(file, () => randomBytes(48).toString('base64url'))
  log.warn(
    { file },
    'SESSION_COOKIE_SECRET is not set: sealing session cookies with a generated development secret',
  )
  return secret
}

/**
 * A Redis client (or Cluster client) that refuses commands at once while disconnected instead of queueing
 * them and reconnects in the background; the stores give up on a call after `storeTimeoutMs` (`within`, in
 * src/stores/deadline.ts). Start-up does not wait for Redis longer than the same bound: requests answer 503
 * until it is back.
 */
async function connectRedis(config: Config, log: Logger): Promise<RedisClient> {
  const timeout = config.storeTimeoutMs
  const connection = {
    disableOfflineQueue: true,
    // No per-command timer of node-redis's own (by default 5 s, an AbortSignal.timeout per command, about
    // 6 us of CPU each): the stores bound each call with `within` (src/stores/deadline.ts), about 0.2 us.
    commandOptions: { timeout: 0 },
    socket: {
      connectTimeout: timeout,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000),
    },
  }
  // RESP3 also carries the server's invalidation messages that keep the local cache from ever being stale.
  const resp = {
    RESP: 3 as const,
    ...(config.sessionCache === 'on' && {
      clientSideCache: { ttl: 0, maxEntries: 100_000, evictPolicy: 'LRU' as const },
    }),
  }
  const client = config.redisClusterNodes
    ? createCluster({
        rootNodes: config.redisClusterNodes.split(',').map((node) => ({ url: `redis://${node.trim()}` })),
        defaults: connection,
        ...resp,
      })
    : createClient({ url: config.redisUrl, ...connection, ...resp })
  let down = false
  client.on('error', (err: Error) => {
    if (!down) log.warn({ err: err.message }, 'Redis is unavailable; requests that need it answer 503')
    down = true
  })
  client.on('ready', () => {
    if (down) log.info('Redis is back')
    down = false
  })
  const connecting = client
    .connect()
    .catch((err: Error) => log.error({ err: err.message }, 'Redis connect failed'))
  await Promise.race([connecting, new Promise((resolve) => setTimeout(resolve, timeout).unref())])
  return client as RedisClient
}
