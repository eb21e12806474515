import { setTimeout as delay } from 'node:timers/promises'
import type { Clock } from '../core/clock.ts'
import { AppError } from '../core/errors.ts'
import {
  advanceSession,
  assertSessionActive,
  assertSessionPolicy,
  createSession,
  newSessionToken,
  type Session,
  type SessionData,
  type SessionPolicy,
  sessionIdOf,
  touchSession,
} from '../core/sessions/session.ts'
import type { SessionStore } from './session-store.ts'

export interface SessionManagerOptions {
  readonly store: SessionStore
  readonly clock: Clock
  readonly policy: SessionPolicy
  /** Compare-and-swap attempts before giving up with `ERR_SESSION_CONFLICT`. Default 100. */
  readonly maxAttempts?: number
}

/**
 * The session lifecycle over any {@link SessionStore}: start, resolve (enforcing both timeouts), touch on
 * reads, change with compare-and-swap on messages so concurrent requests never lose each other's writes, end.
 */
export class SessionManager {
  readonly store: SessionStore
  readonly policy: SessionPolicy
  readonly #clock: Clock
  readonly #maxAttempts: number

  constructor(options: SessionManagerOptions) {
    assertSessionPolicy(options.policy)
    this.store = options.store
    this.policy = options.policy
    this.#clock = options.clock
    this.#maxAttempts = options.maxAttempts ?? 100
  }

  /** Starts a session for the user; the token goes to the client, never to the store. */
  async start(user: {
    readonly id: string
    readonly username: string
  }): Promise<{ token: string; session: Session }> {
    const { token, id } = newSessionToken()
    const session = createSession(id, user, this.#clock.now(), this.policy)
    await this.store.create(session)
    return { token, session }
  }

  /** The live session for a client token; throws `ERR_SESSION_UNKNOWN` or `ERR_SESSION_EXPIRED`. */
  async resolve(token: string): Promise<Session> {
    // A client-side session (SESSION_STORE=cookie): the token is the session itself, sealed.
    if (this.store.resolveToken) return this.store.resolveToken(token)
    return this.#load(sessionIdOf(token))
  }

  /**
   * Records a read of the session: slides its idle expiry, writing to the store only when the recorded
   * activity is older than `policy.touchAfterMs`. Throws `ERR_SESSION_UNKNOWN` if it ended meanwhile.
   */
  async touch(session: Session): Promise<Session> {
    const activity = touchSession(session, this.#clock.now(), this.policy)
    if (!activity) return session
    if (!(await this.store.touch(session.id, activity.lastActivityAt, activity.expiresAt))) {
      throw new AppError('ERR_SESSION_UNKNOWN', 'The session ended while the request was running')
    }
    return { ...session, ...activity }
  }

  /**
   * Applies one message of activity (and `change` to its data) with compare-and-swap, re-reading on conflict.
   * Pass the session just resolved to save the first read. Returns the session as stored.
   */
  async advance(session: Session | string, change?: (data: SessionData) => SessionData): Promise<Session> {
    let current = typeof session === 'string' ? await this.#load(session) : session
    for (let attempt = 1; ; attempt++) {
      const next = advanceSession(current, this.#clock.now(), this.policy, change)
      if (await this.store.compareAndSwap(next, current.version)) return next
      if (attempt >= this.#maxAttempts) break
      // Jittered backoff: under contention, writers that lost spread out instead of colliding again at once.
      await delay(Math.random() * Math.min(2 ** attempt, 50))
      current = await this.#load(current.id)
    }
    throw new AppError(
      'ERR_SESSION_CONFLICT',
      'The session is being changed by too many requests at once; retry',
    )
  }

  /** Ends the session; false when it was already gone. */
  end(id: string): Promise<boolean> {
    return this.store.destroy(id)
  }

  list(userId: string): Promise<Session[]> {
    return this.store.listByUser(userId)
  }

  /** Ends all of the user's sessions but `keepId`. */
  endOthers(userId: string, keepId?: string): Promise<number> {
    return this.store.destroyByUser(userId, keepId)
  }

  async #load(id: string): Promise<Session> {
    const session = await this.store.get(id)
    if (!session) {
      throw new AppError('ERR_SESSION_UNKNOWN', 'No such session: it ended, expired, or the server forgot it')
    }
    try {
      assertSessionActive(session, this.#clock.now())
    } catch (err) {
      await this.store.destroy(id)
      throw err
    }
    return session
  }
}
