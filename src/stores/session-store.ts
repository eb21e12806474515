import type { Session } from '../core/sessions/session.ts'

/**
 * Where server-side sessions live. Every backend passes `test/contracts/session-store.contract.ts`.
 * Sessions are keyed by `Session.id` (a hash of the client's token) and carry their own `expiresAt`,
 * so a store needs no policy: it forgets a session at `expiresAt` (TTL, sweep, or lazily on read).
 */
export interface SessionStore {
  /** Short backend name, as reported by `/ready` (`memory`, `sqlite`, `redis`, `postgres`). */
  readonly kind: string
  /**
   * The session, or undefined when the store does not have it. A store may still return a session whose
   * `expiresAt` has passed (it has not forgotten it yet); callers must check. It may be shared between reads
   * (and frozen): callers never change it.
   */
  get(id: string): Promise<Session | undefined>
  /**
   * Only a store whose client token is the session itself (sealed in a cookie): the live session `token`
   * holds, or `ERR_SESSION_UNKNOWN` / `ERR_SESSION_EXPIRED`. Stores that keep sessions by id leave it out.
   */
  resolveToken?(token: string): Session
  /** Stores a new session; throws `AppError('ERR_SESSION_LIMIT')` when the store is full. */
  create(session: Session): Promise<void>
  /**
   * Replaces the stored session with `next` only if the stored one is still at `expectedVersion`.
   * False when another writer got there first or the session is gone: re-read and try again. A store may keep
   * `next`'s data as given (the memory store does): callers never change a session they have written.
   */
  compareAndSwap(next: Session, expectedVersion: number): Promise<boolean>
  /** Records activity without changing data or version (heartbeats); false when the session is gone. */
  touch(id: string, lastActivityAt: number, expiresAt: number): Promise<boolean>
  /** Forgets the session; false when there was none. */
  destroy(id: string): Promise<boolean>
  /** The user's sessions that have not expired, oldest first. */
  listByUser(userId: string): Promise<Session[]>
  /**
   * How many sessions the user has, without loading them (for limits and metrics). Stores with native expiry
   * may count a session that expired idle until `listByUser` prunes it: the count never falls short.
   */
  countByUser?(userId: string): Promise<number>
  /** Forgets all of the user's sessions but `exceptId`; returns how many were forgotten. */
  destroyByUser(userId: string, exceptId?: string): Promise<number>
  /** Forgets every session expired at `now`; for stores without native expiry. Returns how many. */
  sweepExpired?(now: number): Promise<number>
  /** Resolves when the store answers; rejects with `AppError('ERR_STORE_UNAVAILABLE')` otherwise. */
  ping?(): Promise<void>
  close?(): Promise<void>
}
