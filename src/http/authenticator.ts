import type { FastifyRequest } from 'fastify'
import type { FileRecord } from '../core/files/file-record.ts'
import type { Session } from '../core/sessions/session.ts'

/** Who made a request, as established by an {@link Authenticator}. */
export interface Principal {
  readonly userId: string
  readonly username: string
  /** How the request proved it: a JWT, a password (HTTP Basic), or a server-side session. */
  readonly via: 'bearer' | 'basic' | 'session'
  /** The store id of the session, when `via` is `session`. */
  readonly sessionId?: string
  /**
   * The session when `via` is `session`: as this request left it, or, on a route marked `countsMessage`, as
   * the request found it (the handler's own change counts the message).
   */
  readonly session?: Session
}

/**
 * The one seam between the stateless and the stateful API. Everything else (files, users, health) is
 * shared; only this answers "is this the same person as before?".
 */
export interface Authenticator {
  /** Turns a request into a principal, or throws a 401/403 `AppError`. */
  authenticate(request: FastifyRequest): Promise<Principal>
  /** What the server remembers of an upload: the stateful side notes it in the session, the stateless side nothing. */
  rememberUpload(principal: Principal, file: FileRecord): Promise<void>
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `authenticate` pre-handler on routes that need a user. */
    principal: Principal
  }
  interface FastifyContextConfig {
    /**
     * The handler changes the session itself, counting the request's message in that same write
     * (`countMessage`): the stateful authenticator then leaves the message to it, so the request costs one
     * compare-and-swap instead of two. Every path of such a handler must write the session once.
     */
    countsMessage?: boolean
  }
}
