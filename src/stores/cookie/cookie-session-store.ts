import { AsyncLocalStorage } from 'node:async_hooks'
import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import type { SessionSealer } from '../../core/sessions/sealed-session.ts'
import { assertSessionActive, type Session } from '../../core/sessions/session.ts'
import type { SessionStore } from '../session-store.ts'

/** Told of every change to the request's session: the sealed value to hand back, or undefined to forget it. */
export type IssueSealed = (sealed: string | undefined, session: Session | undefined) => void

export interface CookieSessionStoreOptions {
  readonly sealer: SessionSealer
  readonly clock: Clock
  /**
   * Longest sealed session handed out; a change that would exceed it fails with `ERR_SESSION_TOO_LARGE`.
   * Default {@link MAX_SEALED_BYTES}.
   */
  readonly maxSealedBytes?: number
}

/** What a browser keeps of one cookie (RFC 6265: at least 4096 bytes of name and value), less room for the name. */
export const MAX_SEALED_BYTES = 4096 - 32
const RESERVE_BYTES = 64
/** What one message or read can add to the sealed session: a digit more in a counter or a timestamp. */
const COUNTER_GROWTH_BYTES = 8

/** The one session a request brought, as the request leaves it. */
interface Scope {
  session: Session | undefined
  /** `session` as last sealed and issued, when this request changed it. */
  sealed: string | undefined
  /** Length of the sealed session the client holds now. */
  held: number
  readonly issue: IssueSealed
}

/**
 * Client-side sessions: the server keeps none. Each request runs in a scope (`run`) holding the one session
 * its client sent back sealed (`resolve`); the session manager reads and changes it there as in any store,
 * and every change is sealed at once and handed to the scope's `issue`, which sends it back to the client.
 *
 * What the server cannot do follows: it lists only the session in hand, cannot end the user's other
 * sessions, and a copy of an old sealed session stays valid until it expires.
 *
 * @example
 * const store = new CookieSessionStore({ sealer, clock: systemClock })
 * store.run((sealed) => reply.setCookie('sid', sealed ?? ''), () => handle(request))
 */
export class CookieSessionStore implements SessionStore {
  readonly kind = 'cookie'
  readonly #sealer: SessionSealer
  readonly #clock: Clock
  readonly #maxSealedBytes: number
  readonly #scopes = new AsyncLocalStorage<Scope>()

  constructor(options: CookieSessionStoreOptions) {
    const { maxSealedBytes = MAX_SEALED_BYTES } = options
    if (!Number.isSafeInteger(maxSealedBytes) || maxSealedBytes < 256)
      throw new TypeError('CookieSessionStore options.maxSealedBytes must be an integer of at least 256')
    this.#sealer = options.sealer
    this.#clock = options.clock
    this.#maxSealedBytes = maxSealedBytes
  }

  /** Runs `work` (one request) in a scope of its own; `issue` hears every change of its session. */
  run<T>(issue: IssueSealed, work: () => T): T {
    return this.#scopes.run({ session: undefined, sealed: undefined, held: 0, issue }, work)
  }

  /**
   * The live session `sealed` holds, now the current scope's: `ERR_SESSION_UNKNOWN` when this server did
   * not seal it, `ERR_SESSION_EXPIRED` (and the client is told to forget it) when it has timed out.
   */
  resolveToken(sealed: string): Session {
    const scope = this.#scope()
    const session = this.#sealer.open(sealed)
    try {
      assertSessionActive(session, this.#clock.now())
    } catch (err) {
      scope.issue(undefined, undefined)
      throw err
    }
    scope.session = session
    scope.held = sealed.length
    return session
  }

  /** What this request last handed its client (the sealed session), or undefined when it changed nothing. */
  issuedInScope(): string | undefined {
    return this.#scopes.getStore()?.sealed
  }

  async get(id: string): Promise<Session | undefined> {
    const session = this.#scopes.getStore()?.session
    return session?.id === id ? session : undefined
  }

  async create(session: Session): Promise<void> {
    this.#put(this.#scope(), session)
  }

  async compareAndSwap(next: Session, expectedVersion: number): Promise<boolean> {
    const scope = this.#scope()
    const live = this.#live(scope, next.id)
    if (!live || live.version !== expectedVersion) return false
    this.#put(scope, next)
    return true
  }

  async touch(id: string, lastActivityAt: number, expiresAt: number): Promise<boolean> {
    const scope = this.#scope()
    const live = this.#live(scope, id)
    if (!live) return false
    this.#put(scope, { ...live, lastActivityAt, expiresAt })
    return true
  }

  async destroy(id: string): Promise<boolean> {
    const scope = this.#scopes.getStore()
    if (!scope || scope.session?.id !== id) return false
    scope.session = undefined
    scope.sealed = undefined
    scope.issue(undefined, undefined)
    return true
  }

  async listByUser(userId: string): Promise<Session[]> {
    const session = this.#scopes.getStore()?.session
    return session?.userId === userId && session.expiresAt > this.#clock.now() ? [session] : []
  }

  /** Only the session in hand can be ended: copies held elsewhere live on until they expire. */
  async destroyByUser(userId: string, exceptId?: string): Promise<number> {
    const session = this.#scopes.getStore()?.session
    if (session?.userId !== userId || session.id === exceptId) return 0
    return (await this.destroy(session.id)) ? 1 : 0
  }

  async ping(): Promise<void> {}

  #scope(): Scope {
    const scope = this.#scopes.getStore()
    if (!scope) throw new AppError('ERR_INTERNAL', 'A cookie session was used outside a request scope')
    return scope
  }

  #live(scope: Scope, id: string): Session | undefined {
    const session = scope.session
    return session?.id === id && session.expiresAt > this.#clock.now() ? session : undefined
  }

  /**
   * Seals first: a session too large for the cookie is refused and the scope keeps what it had. The last
   * {@link RESERVE_BYTES} are kept for counters and timestamps, so a full session can still be used (and
   * emptied), only not grown.
   */
  #put(scope: Scope, session: Session): void {
    const sealed = this.#sealer.seal(session)
    const grows = sealed.length - scope.held > COUNTER_GROWTH_BYTES
    if (
      sealed.length > this.#maxSealedBytes ||
      (grows && sealed.length > this.#maxSealedBytes - RESERVE_BYTES)
    ) {
      throw new AppError(
        'ERR_SESSION_TOO_LARGE',
        `The session would take ${sealed.length} bytes sealed, more than the ${this.#maxSealedBytes - RESERVE_BYTES} a cookie holds; ` +
          'nothing was changed (clear the calculator history to make room)',
      )
    }
    scope.session = session
    scope.sealed = sealed
    scope.held = sealed.length
    scope.issue(sealed, session)
  }
}
