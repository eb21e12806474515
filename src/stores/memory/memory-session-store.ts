import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import type { Session } from '../../core/sessions/session.ts'
import { decodeSession, encodeSession, userIdOfEncoded } from '../../core/sessions/session-codec.ts'
import type { SessionStore } from '../session-store.ts'
import { resolveSweepOptions, type SweepOptions, SweepTimer } from '../sweep-timer.ts'

export interface MemorySessionStoreOptions extends Pick<SweepOptions, 'sweepIntervalMs'> {
  readonly clock: Clock
  /** Refuse new sessions beyond this many live ones. Default 100,000. */
  readonly maxSessions?: number
}

/**
 * What is kept per session: the two fields every write checks, and the compact encoding, made when the
 * session is written, or, for a session in the hot set (see `#hot`), when it leaves that set: a session read
 * and changed on every request is never encoded, and an idle one is kept in the most compact form V8 offers.
 */
interface Entry {
  encoded: string | undefined
  readonly version: number
  readonly expiresAt: number
}

/** Sessions kept decoded at most: the ones read or written most recently. */
const MAX_HOT = 1000

/** Sessions in this process's memory: the fastest store, and the one a restart or a second replica forgets. */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory'
  readonly #clock: Clock
  readonly #maxSessions: number
  readonly #sessions = new Map<string, Entry>()
  /** Each user's session ids: one id as itself (most users have one session), more in a Set. */
  readonly #byUser = new Map<string, string | Set<string>>()
  /**
   * The sessions read or written most recently, decoded and frozen, each with the entry it belongs to: a hit
   * must be that very entry, so a session written since is never returned. A session changed while here
   * stays, unencoded; it is encoded when it leaves (the oldest first), so idle sessions cost only their
   * encoding, and a busy one is neither parsed on every read nor serialized on every change.
   */
  readonly #hot = new Map<string, { readonly entry: Entry; readonly session: Session }>()
  readonly #sweeper: SweepTimer

  constructor(options: MemorySessionStoreOptions) {
    const { maxSessions = 100_000 } = options
    const { sweepIntervalMs } = resolveSweepOptions('MemorySessionStore', options)
    if (!Number.isSafeInteger(maxSessions) || maxSessions < 1) {
      throw new TypeError('MemorySessionStore options.maxSessions must be a positive integer')
    }
    this.#clock = options.clock
    this.#maxSessions = maxSessions
    this.#sweeper = new SweepTimer(
      () => this.sweepExpired(this.#clock.now()),
      sweepIntervalMs,
      () => {},
    )
  }

  /** Live and not-yet-swept sessions held. */
  get size(): number {
    return this.#sessions.size
  }

  async get(id: string): Promise<Session | undefined> {
    const entry = this.#sessions.get(id)
    if (!entry) return undefined
    // Lazy expiry: the caller sees it once (and can say "expired"), then it is gone.
    if (entry.expiresAt <= this.#clock.now()) {
      const session = this.#sessionOf(id, entry)
      this.#delete(id, session.userId)
      return session
    }
    const hot = this.#hot.get(id)
    if (hot?.entry === entry) return hot.session
    const session = Object.freeze(decodeSession(id, entry.encoded!))
    this.#hot.set(id, { entry, session })
    this.#coolOldest()
    return session
  }

  async create(session: Session): Promise<void> {
    if (this.#sessions.size >= this.#maxSessions) {
      await this.sweepExpired(this.#clock.now())
      if (this.#sessions.size >= this.#maxSessions) {
        throw new AppError(
          'ERR_SESSION_LIMIT',
          `The server holds its maximum of ${this.#maxSessions} sessions; try again later`,
        )
      }
    }
    this.#set(session)
  }

  async compareAndSwap(next: Session, expectedVersion: number): Promise<boolean> {
    const entry = this.#sessions.get(next.id)
    if (!entry || entry.version !== expectedVersion || entry.expiresAt <= this.#clock.now()) return false
    this.#set(next)
    return true
  }

  async touch(id: string, lastActivityAt: number, expiresAt: number): Promise<boolean> {
    const entry = this.#sessions.get(id)
    if (!entry || entry.expiresAt <= this.#clock.now()) return false
    this.#set({ ...this.#sessionOf(id, entry), lastActivityAt, expiresAt })
    return true
  }

  async destroy(id: string): Promise<boolean> {
    const entry = this.#sessions.get(id)
    if (!entry) return false
    this.#delete(id, this.#userIdOf(id, entry))
    return true
  }

  async listByUser(userId: string): Promise<Session[]> {
    const now = this.#clock.now()
    const sessions: Session[] = []
    for (const id of this.#idsOf(userId)) {
      const entry = this.#sessions.get(id)
      if (entry && entry.expiresAt > now) sessions.push(this.#sessionOf(id, entry))
    }
    return sessions.sort((a, b) => a.createdAt - b.createdAt)
  }

  /** Every session that has not expired at `now`, in no particular order (to copy the whole store). */
  listLive(now: number): Session[] {
    const sessions: Session[] = []
    for (const [id, entry] of this.#sessions) {
      if (entry.expiresAt > now) sessions.push(this.#sessionOf(id, entry))
    }
    return sessions
  }

  async countByUser(userId: string): Promise<number> {
    const now = this.#clock.now()
    let count = 0
    for (const id of this.#idsOf(userId)) {
      if ((this.#sessions.get(id)?.expiresAt ?? 0) > now) count++
    }
    return count
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<number> {
    let count = 0
    for (const id of [...this.#idsOf(userId)]) {
      if (id === exceptId) continue
      if (this.#sessions.has(id)) {
        this.#delete(id, userId)
        count++
      }
    }
    return count
  }

  async sweepExpired(now: number): Promise<number> {
    let count = 0
    for (const [id, entry] of this.#sessions) {
      if (entry.expiresAt <= now) {
        this.#delete(id, this.#userIdOf(id, entry))
        count++
      }
    }
    return count
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await this.#sweeper.stop()
    this.#sessions.clear()
    this.#byUser.clear()
    this.#hot.clear()
  }

  #idsOf(userId: string): Iterable<string> {
    const ids = this.#byUser.get(userId)
    return typeof ids === 'string' ? [ids] : (ids ?? [])
  }

  /** The session of `entry`: the hot copy (frozen, shared), or a new decoding of it. */
  #sessionOf(id: string, entry: Entry): Session {
    const hot = this.#hot.get(id)
    return hot?.entry === entry ? hot.session : decodeSession(id, entry.encoded!)
  }

  /** Past the bound, the oldest hot session leaves, encoded first if it was changed while hot. */
  #coolOldest(): void {
    if (this.#hot.size <= MAX_HOT) return
    const id = this.#hot.keys().next().value!
    const { entry, session } = this.#hot.get(id)!
    this.#hot.delete(id)
    entry.encoded ??= encodeSession(session)
  }

  /**
   * Stores `session`. One in the hot set (read or changed lately) stays there, unencoded (a copy: the caller
   * keeps its object); any other is encoded at once, so writes spread over many sessions, and a million
   * logins, do not churn the hot set.
   */
  #set(session: Session): void {
    const { id, userId } = session
    const hot = this.#hot.has(id)
    const entry: Entry = {
      encoded: hot ? undefined : encodeSession(session),
      version: session.version,
      expiresAt: session.expiresAt,
    }
    this.#sessions.set(id, entry)
    if (hot) {
      // Deleted first, so that it becomes the newest.
      this.#hot.delete(id)
      this.#hot.set(id, { entry, session: Object.freeze({ ...session }) })
    }
    const ids = this.#byUser.get(userId)
    if (ids === undefined) this.#byUser.set(userId, id)
    else if (typeof ids !== 'string') ids.add(id)
    else if (ids !== id) this.#byUser.set(userId, new Set([ids, id]))
  }

  /** The user `entry` belongs to: from the hot copy, or read from its encoding. */
  #userIdOf(id: string, entry: Entry): string {
    const hot = this.#hot.get(id)
    return hot?.entry === entry ? hot.session.userId : userIdOfEncoded(entry.encoded!)
  }

  #delete(id: string, userId: string): void {
    this.#sessions.delete(id)
    this.#hot.delete(id)
    const ids = this.#byUser.get(userId)
    if (ids === id) this.#byUser.delete(userId)
    else if (typeof ids !== 'string' && ids?.delete(id) && ids.size === 0) this.#byUser.delete(userId)
  }
}
