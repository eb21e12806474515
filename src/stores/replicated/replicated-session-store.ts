import { randomBytes } from 'node:crypto'
import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import type { Session } from '../../core/sessions/session.ts'
import { within } from '../deadline.ts'
import { MemorySessionStore } from '../memory/index.ts'
import type { SessionStore } from '../session-store.ts'
import { resolveSweepOptions, type SweepOptions, SweepTimer } from '../sweep-timer.ts'

/** The subset of a node-redis connection the store subscribes with: once subscribed, it does nothing else. */
export interface ReplicationSubscriber {
  connect(): Promise<unknown>
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>
  /** On a subscribed RESP3 connection: answers after every message Redis sent before it. */
  ping(): Promise<unknown>
  close(): Promise<unknown>
  /** Closes at once, also while still connecting. */
  destroy(): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
  /** Connected (again): node-redis subscribes again by itself. */
  on(event: 'ready', listener: () => void): unknown
}

/** The subset of a node-redis client (`createClient`, RESP3) that {@link ReplicatedSessionStore} calls. */
export interface ReplicatedSessionStoreClient {
  publish(channel: string, message: string): Promise<unknown>
  pubSubNumSub(channel: string): Promise<unknown>
  /** A new connection with the same options, for the subscription. */
  duplicate(): ReplicationSubscriber
}

export interface ReplicatedSessionStoreOptions extends Pick<SweepOptions, 'sweepIntervalMs'> {
  /** Publishes changes; the store subscribes on a duplicate of it, which it closes on `close()`. */
  readonly client: ReplicatedSessionStoreClient
  /** The channel of one deployment: every replica on it holds the same sessions, and no one else hears them. */
  readonly channel: string
  readonly clock: Clock
  /** Live sessions held at most (each replica holds all of them). Default 100,000. */
  readonly maxSessions?: number
  /** The longest `open` waits for its peers' sessions before it serves with what it has. Default 3000 ms. */
  readonly syncTimeoutMs?: number
  /** Told of what failed in the background: a broadcast that could not be read or applied. */
  readonly onError?: (err: unknown) => void
  /** How long a broadcast or a ping may wait for Redis before it fails with `ERR_STORE_UNAVAILABLE`, in ms. */
  readonly timeoutMs?: number
}

/** How late the other replicas' changes arrive here: publisher's clock to this one's, same machine or synced. */
export interface BroadcastLag {
  /** Changes of other replicas applied (or found stale) here. */
  readonly received: number
  readonly meanMs: number
  readonly maxMs: number
  readonly lastMs: number
}

/** What replicas say to each other on the channel. `from` is the sender's random node id. */
type Message =
  | { readonly k: 'put'; readonly from: string; readonly at: number; readonly s: Session }
  | {
      readonly k: 'del'
      readonly from: string
      readonly at: number
      readonly id: string
      readonly until: number
    }
  | {
      readonly k: 'user'
      readonly from: string
      readonly at: number
      readonly userId: string
      readonly except: string | undefined
    }
  /** A replica that just joined asks for everything. */
  | { readonly k: 'hello'; readonly from: string }
  /** One part of an answer to `hello`; `ready: false` from a replica still waiting for its own. */
  | {
      readonly k: 'sync'
      readonly from: string
      readonly to: string
      readonly s: readonly Session[]
      readonly last: boolean
      readonly ready: boolean
    }

const SYNC_CHUNK = 500
const CONNECT_TIMEOUT_MS = 2000
/** How long a deleted id refuses late copies when its absolute expiry is not known here. */
const TOMBSTONE_MS = 10 * 60_000

/**
 * Two copies of one session made one, the same whichever order they arrive in (so replicas converge): the
 * data of the higher version, and the later activity (a read elsewhere slid the idle timer).
 */
function mergeSessions(a: Session, b: Session): Session {
  // Two replicas changed the same version at once: every replica must pick the same winner.
  const data =
    a.version !== b.version
      ? a.version > b.version
        ? a
        : b
      : JSON.stringify(a.data) >= JSON.stringify(b.data)
        ? a
        : b
  const activity = a.lastActivityAt >= b.lastActivityAt ? a : b
  return { ...data, lastActivityAt: activity.lastActivityAt, expiresAt: activity.expiresAt }
}

/**
 * Seed 003's session replication: every replica holds every session in its own memory and reads locally;
 * every change is applied here, then broadcast on a Redis pub/sub channel and merged by the others (the data
 * of the higher version, the later activity), so replicas converge whatever order changes arrive in. A
 * replica that joins asks its peers for their sessions, and `open` resolves once one of them has sent all
 * of its own, so scaling out forgets no one.
 *
 * Compare-and-swap holds within a replica; two replicas changing one session within the broadcast lag
 * converge on one of the two changes (the other is lost). Deleted ids are remembered until they could not
 * come back, so a late copy never revives a session that was ended.
 *
 * @example
 * const store = await ReplicatedSessionStore.open({ client, channel: 'statelab:sessions', clock: systemClock })
 */
export class ReplicatedSessionStore implements SessionStore {
  readonly kind = 'replicated'
  readonly #local: MemorySessionStore
  readonly #client: ReplicatedSessionStoreClient
  readonly #subscriber: ReplicationSubscriber
  readonly #channel: string
  readonly #clock: Clock
  readonly #onError: (err: unknown) => void
  readonly #timeoutMs: number | undefined
  readonly #node = randomBytes(9).toString('base64url')
  /** Ended ids and until when late copies of them are refused. */
  readonly #tombstones = new Map<string, number>()
  readonly #sweeper: SweepTimer
  /** Broadcasts are applied one after another, in the order Redis delivered them. */
  #applying: Promise<void> = Promise.resolve()
  #ready = false
  #lag = { received: 0, totalMs: 0, maxMs: 0, lastMs: 0 }
  /** While `open` waits for its peers: how many have not answered yet, and how to stop waiting. */
  #sync: { waiting: number; done: () => void } | undefined

  private constructor(options: ReplicatedSessionStoreOptions, subscriber: ReplicationSubscriber) {
    const { sweepIntervalMs } = resolveSweepOptions('ReplicatedSessionStore', options)
    this.#local = new MemorySessionStore({
      clock: options.clock,
      maxSessions: options.maxSessions,
      sweepIntervalMs: 0,
    })
    this.#client = options.client
    this.#subscriber = subscriber
    this.#channel = options.channel
    this.#clock = options.clock
    this.#onError = options.onError ?? (() => {})
    this.#timeoutMs = options.timeoutMs
    this.#sweeper = new SweepTimer(() => this.sweepExpired(this.#clock.now()), sweepIntervalMs, this.#onError)
  }

  /**
   * Subscribes to `options.channel`, asks the replicas already there for their sessions, and resolves when
   * one that was itself in sync has sent all of its own (at once when it is alone, after `syncTimeoutMs` at
   * most). Rejects with `ERR_STORE_UNAVAILABLE` when Redis does not answer.
   */
  static async open(options: ReplicatedSessionStoreOptions): Promise<ReplicatedSessionStore> {
    const { client, channel, syncTimeoutMs = 3000 } = options
    if (typeof client?.publish !== 'function' || typeof client.duplicate !== 'function')
      throw new TypeError('ReplicatedSessionStore options.client must be a node-redis client')
    if (typeof channel !== 'string' || channel === '')
      throw new TypeError('ReplicatedSessionStore options.channel must be a non-empty string')
    if (!Number.isSafeInteger(syncTimeoutMs) || syncTimeoutMs < 0)
      throw new TypeError('ReplicatedSessionStore options.syncTimeoutMs must be a non-negative integer')
    const subscriber = client.duplicate()
    subscriber.on('error', () => {}) // a lost subscription shows as failed publishes and /ready
    const store = new ReplicatedSessionStore(options, subscriber)
    // Back after losing Redis: what the others broadcast meanwhile was missed, so ask them again.
    subscriber.on('ready', () => {
      if (store.#ready) store.#publish({ k: 'hello', from: store.#node }).catch(store.#onError)
    })
    try {
      // A client that reconnects forever would wait forever for a Redis that is down.
      await within(subscriber.connect(), CONNECT_TIMEOUT_MS, 'did not accept a connection')
      await within(
        subscriber.subscribe(channel, (message) => store.#receive(message)),
        CONNECT_TIMEOUT_MS,
        'did not confirm the subscription',
      )
      await store.#syncFromPeers(syncTimeoutMs)
    } catch (err) {
      try {
        subscriber.destroy()
      } catch {}
      await store.close().catch(() => {})
      throw unavailable(err, 'could not join the replication channel')
    }
    return store
  }

  /** Live sessions held here. */
  get size(): number {
    return this.#local.size
  }

  /** How late the other replicas' changes arrived here so far. */
  broadcastLag(): BroadcastLag {
    const { received, totalMs, maxMs, lastMs } = this.#lag
    return { received, meanMs: received === 0 ? 0 : totalMs / received, maxMs, lastMs }
  }

  /**
   * Resolves once every change the other replicas published before this call has been applied here: Redis
   * answers a ping on the subscribed connection only after the messages it sent there before.
   */
  async caughtUp(): Promise<void> {
    await this.ping()
    await this.#applying
  }

  async get(id: string): Promise<Session | undefined> {
    const session = await this.#local.get(id)
    if (session || !this.#ready || this.#tombstones.has(id)) return session
    // Not here: perhaps its creation is still on the way from the replica that answered the login.
    try {
      await this.caughtUp()
    } catch {
      return undefined
    }
    return this.#local.get(id)
  }

  async create(session: Session): Promise<void> {
    await this.#local.create(session)
    await this.#publish({ k: 'put', from: this.#node, at: this.#clock.now(), s: session })
  }

  async compareAndSwap(next: Session, expectedVersion: number): Promise<boolean> {
    if (!(await this.#local.compareAndSwap(next, expectedVersion))) return false
    await this.#publish({ k: 'put', from: this.#node, at: this.#clock.now(), s: next })
    return true
  }

  async touch(id: string, lastActivityAt: number, expiresAt: number): Promise<boolean> {
    if (!(await this.#local.touch(id, lastActivityAt, expiresAt))) return false
    // The others must slide the idle timer too, or they would expire a user who is active elsewhere.
    const session = await this.#local.get(id)
    if (session) await this.#publish({ k: 'put', from: this.#node, at: this.#clock.now(), s: session })
    return true
  }

  async destroy(id: string): Promise<boolean> {
    const known = await this.#local.get(id)
    await this.#local.destroy(id)
    const until = this.#bury(id, known?.absoluteExpiresAt)
    await this.#publish({ k: 'del', from: this.#node, at: this.#clock.now(), id, until })
    return known !== undefined
  }

  listByUser(userId: string): Promise<Session[]> {
    return this.#local.listByUser(userId)
  }

  countByUser(userId: string): Promise<number> {
    return this.#local.countByUser(userId)
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<number> {
    const count = await this.#destroyUser(userId, exceptId)
    await this.#publish({ k: 'user', from: this.#node, at: this.#clock.now(), userId, except: exceptId })
    return count
  }

  async sweepExpired(now: number): Promise<number> {
    const count = await this.#local.sweepExpired(now)
    for (const [id, until] of this.#tombstones) if (until <= now) this.#tombstones.delete(id)
    return count
  }

  /** Resolves when Redis answers (changes can be broadcast); rejects with `ERR_STORE_UNAVAILABLE`. */
  async ping(): Promise<void> {
    try {
      await within(this.#subscriber.ping(), this.#timeoutMs, 'no answer')
    } catch (err) {
      throw unavailable(err, 'does not answer')
    }
  }

  async close(): Promise<void> {
    this.#ready = false
    this.#sync?.done()
    await this.#sweeper.stop()
    await this.#applying
    await this.#subscriber.close().catch(() => {})
    await this.#local.close()
    this.#tombstones.clear()
  }

  async #syncFromPeers(timeoutMs: number): Promise<void> {
    const counts = (await within(
      this.#client.pubSubNumSub(this.#channel),
      this.#timeoutMs,
      'no answer',
    )) as Record<string, unknown>
    const peers = Number(counts[this.#channel] ?? 0) - 1
    if (peers > 0) {
      let timer: NodeJS.Timeout | undefined
      const answered = new Promise<void>((resolve) => {
        this.#sync = { waiting: peers, done: resolve }
        timer = setTimeout(resolve, timeoutMs)
      })
      await this.#publish({ k: 'hello', from: this.#node })
      await answered
      clearTimeout(timer)
      this.#sync = undefined
      await this.#applying
    }
    this.#ready = true
  }

  #receive(text: string): void {
    let message: Message
    try {
      message = JSON.parse(text) as Message
    } catch (err) {
      this.#onError(err)
      return
    }
    if (message.from === this.#node) return
    this.#applying = this.#applying.then(() => this.#handle(message)).catch(this.#onError)
  }

  async #handle(message: Message): Promise<void> {
    switch (message.k) {
      case 'put':
        this.#measure(message.at)
        return this.#apply(message.s)
      case 'del':
        this.#measure(message.at)
        await this.#local.destroy(message.id)
        this.#bury(message.id, message.until)
        return
      case 'user':
        this.#measure(message.at)
        await this.#destroyUser(message.userId, message.except)
        return
      case 'hello':
        return this.#answer(message.from)
      case 'sync': {
        if (message.to !== this.#node) return
        for (const session of message.s) await this.#apply(session)
        const sync = this.#sync
        if (!sync || !message.last) return
        sync.waiting--
        if (message.ready || sync.waiting <= 0) sync.done()
        return
      }
    }
  }

  /** Sends everything held here to a replica that just joined (only "not ready" while still syncing). */
  async #answer(to: string): Promise<void> {
    const sessions = this.#ready ? this.#local.listLive(this.#clock.now()) : []
    for (let i = 0; i === 0 || i < sessions.length; i += SYNC_CHUNK) {
      const s = sessions.slice(i, i + SYNC_CHUNK)
      const last = i + SYNC_CHUNK >= sessions.length
      await this.#publish({ k: 'sync', from: this.#node, to, s, last, ready: this.#ready })
    }
  }

  /** Merges a replica's copy of a session into the one here. */
  async #apply(session: Session): Promise<void> {
    if (this.#tombstones.has(session.id) || session.expiresAt <= this.#clock.now()) return
    for (;;) {
      const current = await this.#local.get(session.id)
      if (!current) return this.#local.create(session)
      const merged = mergeSessions(current, session)
      // Nothing new when the data kept is ours (same object) and so is the activity: no JSON to compare.
      if (
        merged.data === current.data &&
        merged.version === current.version &&
        merged.lastActivityAt === current.lastActivityAt &&
        merged.expiresAt === current.expiresAt
      )
        return
      if (await this.#local.compareAndSwap(merged, current.version)) return
    }
  }

  async #destroyUser(userId: string, exceptId: string | undefined): Promise<number> {
    const ended = (await this.#local.listByUser(userId)).filter((s) => s.id !== exceptId)
    for (const session of ended) this.#bury(session.id, session.absoluteExpiresAt)
    return this.#local.destroyByUser(userId, exceptId)
  }

  /** Remembers that `id` ended, until `until` or a while; returns until when. */
  #bury(id: string, until = this.#clock.now() + TOMBSTONE_MS): number {
    this.#tombstones.set(id, until)
    return until
  }

  #measure(at: number): void {
    const lag = Math.max(0, this.#clock.now() - at)
    this.#lag.received++
    this.#lag.totalMs += lag
    this.#lag.lastMs = lag
    if (lag > this.#lag.maxMs) this.#lag.maxMs = lag
  }

  async #publish(message: Message): Promise<void> {
    try {
      await within(this.#client.publish(this.#channel, JSON.stringify(message)), this.#timeoutMs, 'no answer')
    } catch (err) {
      throw unavailable(err, 'could not broadcast the change to the other replicas')
    }
  }
}

function unavailable(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err
  return new AppError('ERR_STORE_UNAVAILABLE', `Redis ${what}: ${(err as Error).message}`, { cause: err })
}
