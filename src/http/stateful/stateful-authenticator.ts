import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError, isAppError } from '../../core/errors.ts'
import { recordUpload, type Session } from '../../core/sessions/session.ts'
import type { Runtime } from '../../runtime.ts'
import type { Authenticator, Principal } from '../authenticator.ts'

export const SESSION_HEADER = 'x-session-id'
const COOKIE = 'statelab_sid'
/** Over TLS the `__Host-` prefix makes the browser refuse a Domain attribute or a non-secure origin. */
const SECURE_COOKIE = `__Host-${COOKIE}`
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Where the request's session token came from; a cookie is sent by the browser on its own, a header is not. */
export interface SessionToken {
  readonly token: string
  readonly from: 'header' | 'cookie'
}

/** The session token of a request: `X-Session-ID` first, then the cookie; never the URL. */
export function sessionTokenOf(request: FastifyRequest): SessionToken | undefined {
  const header = request.headers[SESSION_HEADER]
  if (typeof header === 'string' && header !== '') return { token: header, from: 'header' }
  // Parsed here, not by a hook on every request: most API clients send the header.
  const sent = request.headers.cookie
  if (!sent) return undefined
  const cookies = request.server.parseCookie(sent)
  const cookie = cookies[SECURE_COOKIE] ?? cookies[COOKIE]
  return cookie ? { token: cookie, from: 'cookie' } : undefined
}

export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
  session: Session,
): void {
  const secure = request.protocol === 'https'
  reply.setCookie(secure ? SECURE_COOKIE : COOKIE, token, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/',
    secure,
    expires: new Date(session.absoluteExpiresAt),
  })
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  const secure = request.protocol === 'https'
  reply.clearCookie(secure ? SECURE_COOKIE : COOKIE, { path: '/', secure, httpOnly: true, sameSite: 'lax' })
}

/**
 * "I keep you in my memory": the request names a session; the server looks it up, enforces both timeouts,
 * and counts the message with compare-and-swap.
 */
export function createStatefulAuthenticator(runtime: Runtime): Authenticator {
  return {
    async authenticate(request: FastifyRequest): Promise<Principal> {
      const found = sessionTokenOf(request)
      if (!found) {
        throw new AppError(
          'ERR_UNAUTHENTICATED',
          'No session: POST /api/session/start, then send the session id in X-Session-ID or the cookie',
        )
      }
      const safe = SAFE_METHODS.has(request.method)
      if (found.from === 'cookie' && !safe) assertSameOrigin(request)
      const current = await runtime.sessions.resolve(found.token)
      // A request that changes something is a message (counted, compare-and-swap); a read only slides expiry.
      // A route that changes the session itself counts the message in its own write (`countsMessage`).
      const session = safe
        ? await runtime.sessions.touch(current)
        : request.routeOptions.config.countsMessage
          ? current
          : await runtime.sessions.advance(current)
      return {
        userId: session.userId,
        username: session.username,
        via: 'session',
        sessionId: session.id,
        session,
      }
    },
    async rememberUpload(principal: Principal, file): Promise<void> {
      if (!principal.sessionId) return
      try {
        await runtime.sessions.advance(principal.sessionId, recordUpload(file.id, file.size))
      } catch (err) {
        // A session that cannot hold one more file (a full cookie) refuses the upload whole: nothing half-done.
        if (isAppError(err, 'ERR_SESSION_TOO_LARGE')) {
          await runtime.data.files.deleteForOwner(file.id, principal.userId)
          await runtime.blobs.remove(file.storedName)
        }
        throw err
      }
    },
  }
}

/**
 * A cookie rides along on requests other sites trigger; a state-changing request authenticated by it must
 * come from our own origin (CSRF). Clients that send no Origin (curl, scripts) are not browsers.
 */
function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin
  const site = request.headers['sec-fetch-site']
  let foreign = site === 'cross-site'
  if (origin !== undefined) {
    try {
      foreign ||= new URL(origin).host !== request.headers.host
    } catch {
      foreign = true
    }
  }
  if (foreign) {
    throw new AppError(
      'ERR_FOREIGN_ORIGIN',
      'A cookie-authenticated request that changes state must come from this site; send X-Session-ID from other origins',
    )
  }
}
