import pg from 'pg'
import { createClient } from 'redis'
import { within } from '../stores/deadline.ts'

// Connections of the lab and the benchmarks for what the stores do not offer: probing, INFO, cleanup, schema drops.

/** A plain node-redis client (no local cache) for INFO, SCAN, UNLINK and raw commands. */
export type AdminRedis = ReturnType<typeof createAdminRedis>

/** A connected service, or why the bench must skip what needs it. */
export type Probe<T> =
  | { readonly ok: true; readonly client: T }
  | { readonly ok: false; readonly reason: string }

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

/** How long a probe waits for a service to answer, by default. */
const PROBE_TIMEOUT_MS = 1000

/** The Redis and PostgreSQL the lab and the benchmarks use: `REDIS_URL` and `DATABASE_URL`, or this machine's. */
export function serviceUrls(env: NodeJS.ProcessEnv = process.env): { redis: string; postgres: string } {
  return {
    redis: env.REDIS_URL || 'redis://127.0.0.1:6379',
    postgres: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  }
}

/** Why `url` may not be used, or undefined: the bench writes and deletes, so it only talks to this machine. */
function refuseRemote(url: string): string | undefined {
  let host: string
  try {
    host = new URL(url).hostname
  } catch {
    return `${url} is not a URL`
  }
  return LOOPBACK.has(host)
    ? undefined
    : `${host} is not this machine (the bench runs against 127.0.0.1 only)`
}

function createAdminRedis(url: string, connectTimeout: number) {
  return createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: 10_000 },
    socket: { connectTimeout, reconnectStrategy: false },
  })
}

/** Connects to Redis at `url` with a short timeout and no reconnection. */
export async function probeRedis(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<Probe<AdminRedis>> {
  const refused = refuseRemote(url)
  if (refused) return { ok: false, reason: refused }
  const client = createAdminRedis(url, timeoutMs)
  client.on('error', () => {}) // reported by the failed connect() or command
  try {
    await within(client.connect(), timeoutMs, `Redis at ${url} did not answer`)
    await within(client.ping(), timeoutMs, `Redis at ${url} did not answer`)
    return { ok: true, client }
  } catch (err) {
    client.destroy()
    return { ok: false, reason: `Redis at ${url} does not answer: ${(err as Error).message}` }
  }
}

/** Connects to PostgreSQL at `url` with a short timeout. */
export async function probePostgres(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<Probe<pg.Client>> {
  const refused = refuseRemote(url)
  if (refused) return { ok: false, reason: refused }
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: 10_000,
  })
  client.on('error', () => {})
  try {
    await within(client.connect(), timeoutMs + 500, `PostgreSQL at ${url} did not answer`)
    await client.query('SELECT 1')
    return { ok: true, client }
  } catch (err) {
    await client.end().catch(() => {})
    return { ok: false, reason: `PostgreSQL at ${url} does not answer: ${(err as Error).message}` }
  }
}

/** Redis's `used_memory`, in bytes. */
export async function usedMemory(redis: AdminRedis): Promise<number> {
  const info = await redis.info('memory')
  const match = /^used_memory:(\d+)\r?$/m.exec(info)
  if (!match) throw new Error('INFO memory has no used_memory line')
  return Number(match[1])
}

/** Deletes every key that starts with `prefix:` (SCAN + UNLINK; never anything else); returns how many. */
export async function unlinkPrefix(redis: AdminRedis, prefix: string): Promise<number> {
  if (!/^[\w.-]+$/.test(prefix)) throw new TypeError(`unsafe key prefix for a SCAN pattern: ${prefix}`)
  let deleted = 0
  for await (const keys of redis.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
    if (keys.length > 0) deleted += await redis.unlink(keys)
  }
  return deleted
}

/** A name no other run uses, valid as a Redis key prefix and as a PostgreSQL schema. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
}
