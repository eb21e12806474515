import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../../runtime.ts'
import { CookieSessionStore } from '../../stores/cookie/index.ts'
import { clearSessionCookie, setSessionCookie } from './stateful-authenticator.ts'

/**
 * With client-side sessions (`SESSION_STORE=cookie`), every request runs in a scope of its own whose session changes go straight
 * back to the client: re-issued in `Set-Cookie` when the session changes or its idle timer slides,
 * cleared when it ends. Returns the store, or undefined when sessions live on the server.
 */
export function registerCookieSessions(
  app: FastifyInstance,
  runtime: Runtime,
): CookieSessionStore | undefined {
  const store = runtime.sessions.store
  if (!(store instanceof CookieSessionStore)) return undefined
  app.addHook('onRequest', (request, reply, done) => {
    store.run((sealed, session) => {
      if (sealed && session) setSessionCookie(request, reply, sealed, session)
      else clearSessionCookie(request, reply)
    }, done)
  })
  return store
}
