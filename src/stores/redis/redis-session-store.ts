import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import type { Session } from '../../core/sessions/session.ts'
import { decodeSession, encodeSession } from '../../core/sessions/session-codec.ts'
import { within } from '../deadline.ts'
import type { SessionStore } from '../session-store.ts'
import {
  COMPARE_AND_SWAP,
  DESTROY,
  INDEX_ADD,
  INDEX_LIST,
  type LuaScript,
  MIGRATE_LEGACY,
  TOUCH,
} from './session-scripts.ts'

/** The `EVAL`/`EVALSHA` options node-redis takes. */
export interface RedisScriptOptions {
  readonly keys: string[]
  readonly arguments: string[]
}

/**
 * The subset of a node-redis client that {@link RedisSessionStore} calls. Both `createClient()` and
 * `createCluster()` (node-redis v5/v6) satisfy it; replies are read defensively, so RESP2 or RESP3 both work.
 */
export interface RedisSessionStoreClient {
  evalSha(sha1: string, options: RedisScriptOptions): Promise<unknown>
  eval(script: string, options: RedisScriptOptions): Promise<unknown>
  get(key: string): Promise<unknown>
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number } }): Promise<unknown>
  /** Reads sessions stored by earlier versions (a hash per session). */
  hmGet(key: string, fields: string[]): Promise<unknown>
  zRem(key: string, members: string[]): Promise<unknown>
  ping(): Promise<unknown>
  /** Present when the client caches reads locally (RESP3 client-side caching). */
  readonly clientSideCache?: {
    invalidate(key: string): void
    on(event: 'invalidate', listener: (key: unknown) => void): unknown
  }
}

export interface RedisSessionStoreOptions {
  /** A connected node-redis client or cluster. The store never closes it (`close()` is a no-op): its owner does. */
  readonly client: RedisSessionStoreClient
  readonly clock: Clock
  /** Start of every key, so several stores can share a Redis. No braces (they would move the hash tag). Default `statelab`. */
  readonly prefix?: string
  /**
   * How long one operation may wait for Redis before it fails with `ERR_STORE_UNAVAILABLE`, in ms. Default: no
   * bound of the store's own (the client's, if it has one).
   */
  readonly timeoutMs?: number
}

const CLIENT_METHODS = ['evalSha', 'eval', 'get', 'set', 'hmGet', 'zRem', 'ping'] as const
/** Parsed sessions kept at most (the client's own cache bounds what Redis tracks). */
const MAX_PARSED = 100_000

/**
 * Sessions in Redis (standalone or Cluster), forgotten by Redis itself when their TTL runs out.
 *
 * Keys: a session is the string `<prefix>:{s:<id>}` holding its compact encoding (`encodeSession`) with a
 * TTL of exactly `expiresAt - now`; a user's index is the sorted set `<prefix>:{u:<userId>}` of session ids
 * scored by `absoluteExpiresAt`, whose own TTL outlives its members. A read is one `GET`; every change to a
 * session is one command or Lua script on one key, so it is atomic and legal on a cluster. A session still
 * in the hash of earlier versions is read, and rewritten in the new form, by the first `get`. `close()`
 * leaves the client open: whoever created the client closes it.
 *
 * @example
 * // Without disableOfflineQueue node-redis holds commands while Redis is down; timeoutMs bounds a hung Redis.
 * const client = createClient({ url, disableOfflineQueue: true })
 * const store = new RedisSessionStore({ client: await client.connect(), clock: systemClock, timeoutMs: 1000 })
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis'
  readonly #client: RedisSessionStoreClient
  readonly #clock: Clock
  readonly #prefix: string
  readonly #timeoutMs: number | undefined
  /**
   * With client-side caching, parsed sessions by key: the client's own cache still copies and re-parses on
   * every hit. Entries go when Redis invalidates the key (same connection, so after any reply that filled them).
   */
  readonly #parsed: Map<string, Session> | undefined
  /** Counts invalidations, so a read that raced one does not fill {@link #parsed} with what it replaced. */
  #invalidations = 0
  #hits = 0
  #misses = 0

  constructor(options: RedisSessionStoreOptions) {
    const { client, clock, prefix = 'statelab', timeoutMs } = options
    if (
      typeof client !== 'object' ||
      client === null ||
      CLIENT_METHODS.some((method) => typeof client[method] !== 'function')
    ) {
      throw new TypeError(
        'RedisSessionStore options.client must be a node-redis client or cluster (createClient/createCluster)',
      )
    }
    if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
      throw new TypeError('RedisSessionStore options.clock must be a Clock (an object with now())')
    }
    if (typeof prefix !== 'string' || !/^[^{}\s]+$/.test(prefix)) {
      throw new TypeError(
        'RedisSessionStore options.prefix must be a non-empty string without braces or spaces',
      )
    }
    if (timeoutMs !== undefined && !(Number.isSafeInteger(timeoutMs) && timeoutMs > 0)) {
      throw new TypeError('RedisSessionStore options.timeoutMs must be a positive integer (ms)')
    }
    this.#client = client
    this.#clock = clock
    this.#prefix = prefix
    this.#timeoutMs = timeoutMs
    const cache = client.clientSideCache
    if (cache) {
      const parsed = new Map<string, Session>()
      this.#parsed = parsed
      cache.on('invalidate', (key) => {
        this.#invalidations++
        if (key === null) parsed.clear()
        else parsed.delete(String(key))
      })
    }
  }

  /** Reads served from the local cache and reads that went to Redis; undefined without client-side caching. */
  cacheStats(): { hits: number; misses: number; hitRatio: number } | undefined {
    if (!this.#parsed) return undefined
    const total = this.#hits + this.#misses
    return { hits: this.#hits, misses: this.#misses, hitRatio: total === 0 ? 0 : this.#hits / total }
  }

  /** The key of a session. */
  sessionKey(id: string): string {
    return `${this.#prefix}:{s:${id}}`
  }

  /** The key of a user's index (sorted set of session ids). */
  userIndexKey(userId: string): string {
    return `${this.#prefix}:{u:${userId}}`
  }

  async get(id: string): Promise<Session | undefined> {
    const key = this.sessionKey(id)
    const known = this.#parsed?.get(key)
    if (known) {
      this.#hits++
      return known
    }
    if (this.#parsed) this.#misses++
    const before = this.#invalidations
    const session = await this.#run('read a session', () => this.#read(id))
    if (session && this.#parsed && this.#invalidations === before) {
      if (this.#parsed.size >= MAX_PARSED) this.#parsed.delete(this.#parsed.keys().next().value!)
      this.#parsed.set(key, Object.freeze(session))
    }
    return session
  }

  async create(session: Session): Promise<void> {
    assertWithinAbsolute(session.expiresAt, session.absoluteExpiresAt)
    const now = this.#clock.now()
    const ttl = session.expiresAt - now
    // Already expired: storing it would only make Redis forget it at once.
    if (ttl <= 0) return
    // Session first, index second: a failure in between leaves an unindexed session whose token was never
    // handed out, never an index entry (or a revocation) that misses a live session.
    await this.#run('create a session', async () => {
      const key = this.sessionKey(session.id)
      await this.#write(key, () =>
        this.#client.set(key, encodeSession(session), { expiration: { type: 'PX', value: ttl } }),
      )
      await this.#eval(INDEX_ADD, this.userIndexKey(session.userId), [
        String(session.absoluteExpiresAt),
        session.id,
        String(session.absoluteExpiresAt - now),
      ])
    })
  }

  async compareAndSwap(next: Session, expectedVersion: number): Promise<boolean> {
    const result = await this.#run('update a session', () =>
      this.#eval(COMPARE_AND_SWAP, this.sessionKey(next.id), [
        String(expectedVersion),
        String(this.#clock.now()),
        String(next.expiresAt),
        encodeSession(next),
      ]),
    )
    return scriptOutcome(result, next.expiresAt)
  }

  async touch(id: string, lastActivityAt: number, expiresAt: number): Promise<boolean> {
    const result = await this.#run('touch a session', () =>
      this.#eval(TOUCH, this.sessionKey(id), [
        String(this.#clock.now()),
        String(lastActivityAt),
        String(expiresAt),
      ]),
    )
    return scriptOutcome(result, expiresAt)
  }

  async destroy(id: string): Promise<boolean> {
    return this.#run('destroy a session', async () => {
      const userId = await this.#eval(DESTROY, this.sessionKey(id), [])
      if (userId === null || userId === undefined) return false
      await this.#client.zRem(this.userIndexKey(text(userId)), [id])
      return true
    })
  }

  async listByUser(userId: string): Promise<Session[]> {
    const now = this.#clock.now()
    const index = this.userIndexKey(userId)
    const { ids, rows } = await this.#run("list a user's sessions", async () => {
      const ids = await this.#indexIds(index, now)
      // One command per session: they live in different slots. node-redis pipelines them per node.
      const rows = await Promise.all(ids.map((id) => this.#read(id)))
      return { ids, rows }
    })
    const sessions: Session[] = []
    const vanished: string[] = []
    rows.forEach((session, i) => {
      if (!session) vanished.push(ids[i]!)
      else if (session.expiresAt > now) sessions.push(session)
    })
    if (vanished.length > 0) {
      await this.#run("prune a user's index", () => this.#client.zRem(index, vanished))
    }
    return sessions.sort((a, b) => a.createdAt - b.createdAt)
  }

  /** The user's index after pruning by absolute expiry: one round trip; idle-expired ids count until listed. */
  async countByUser(userId: string): Promise<number> {
    const index = this.userIndexKey(userId)
    return (await this.#run("count a user's sessions", () => this.#indexIds(index, this.#clock.now()))).length
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<number> {
    return this.#run("destroy a user's sessions", async () => {
      const index = this.userIndexKey(userId)
      const ids = (await this.#indexIds(index, undefined)).filter((id) => id !== exceptId)
      const deleted = await Promise.all(ids.map((id) => this.#eval(DESTROY, this.sessionKey(id), [])))
      if (ids.length > 0) await this.#client.zRem(index, ids)
      return deleted.filter((userId) => userId !== null && userId !== undefined).length
    })
  }

  async ping(): Promise<void> {
    await this.#run('answer PING', () => this.#client.ping())
  }

  /** Does nothing: the client belongs to whoever created it, and may serve other stores. */
  async close(): Promise<void> {}

  /** The stored session, in either form; one `GET` unless it is still in the form of earlier versions. */
  async #read(id: string): Promise<Session | undefined> {
    const key = this.sessionKey(id)
    let reply: unknown
    try {
      reply = await this.#client.get(key)
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('WRONGTYPE')) return this.#readLegacy(id)
      throw err
    }
    return reply === null || reply === undefined ? undefined : decodeSession(id, text(reply))
  }

  /** Reads a session from the hash earlier versions stored, and rewrites it as a string (same TTL). */
  async #readLegacy(id: string): Promise<Session | undefined> {
    const key = this.sessionKey(id)
    const row = await this.#client.hmGet(key, ['d', 'l', 'e', 'v'])
    if (!Array.isArray(row) || row[0] === null || row[0] === undefined) return undefined
    const stored = JSON.parse(text(row[0])) as Session
    const session = { ...stored, id, lastActivityAt: Number(text(row[1])), expiresAt: Number(text(row[2])) }
    // Refused when it changed since read: the next read migrates it.
    await this.#eval(MIGRATE_LEGACY, key, [text(row[3]), text(row[1]), encodeSession(session)])
    return session
  }

  async #indexIds(index: string, pruneUpTo: number | undefined): Promise<string[]> {
    const reply = await this.#eval(INDEX_LIST, index, [pruneUpTo === undefined ? '' : String(pruneUpTo)])
    return Array.isArray(reply) ? reply.map(text) : []
  }

  /** Runs a script by SHA-1, sending its source once per node that does not know it yet. */
  #eval(script: LuaScript, key: string, args: string[]): Promise<unknown> {
    const options = { keys: [key], arguments: args }
    return this.#write(key, async () => {
      try {
        return await this.#client.evalSha(script.sha1, options)
      } catch (err) {
        if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
        return this.#client.eval(script.source, options)
      }
    })
  }

  /** Runs a command that may change `key`, then drops `key` from the local cache. */
  async #write<T>(key: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command()
    } finally {
      // The server's invalidation of our own write may arrive after its reply: a read of ours that follows
      // must not be served the old value from the local cache in between.
      if (this.#parsed) {
        this.#invalidations++
        this.#parsed.delete(key)
        this.#client.clientSideCache?.invalidate(key)
      }
    }
  }

  async #run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await within(fn(), this.#timeoutMs, 'no answer')
    } catch (err) {
      const message = err instanceof Error ? err.message || err.name : String(err)
      if (message.startsWith('OOM')) {
        throw new AppError('ERR_SESSION_LIMIT', `Redis is out of memory and cannot ${operation}`, {
          cause: err,
        })
      }
      throw new AppError('ERR_STORE_UNAVAILABLE', `Redis could not ${operation}: ${message}`, { cause: err })
    }
  }
}

/** Sessions never outlive their absolute cap: the user index is scored by it. */
function assertWithinAbsolute(expiresAt: number, absoluteExpiresAt: number): void {
  if (!(expiresAt <= absoluteExpiresAt)) {
    throw new RangeError(
      `RedisSessionStore: expiresAt (${expiresAt}) must not be later than the session's absoluteExpiresAt (${absoluteExpiresAt})`,
    )
  }
}

/** A session script's reply: 1 done, 0 refused, -1 `expiresAt` beyond the stored absolute cap. */
function scriptOutcome(result: unknown, expiresAt: number): boolean {
  if (Number(result) === -1) {
    throw new RangeError(
      `RedisSessionStore: expiresAt (${expiresAt}) must not be later than the session's absoluteExpiresAt`,
    )
  }
  return Number(result) === 1
}

/** A reply as a string, whether the client maps bulk strings to strings or Buffers. */
function text(reply: unknown): string {
  return Buffer.isBuffer(reply) ? reply.toString('utf8') : String(reply)
}
