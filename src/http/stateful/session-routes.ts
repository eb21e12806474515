import type { FastifyInstance } from 'fastify'
import { AppError } from '../../core/errors.ts'
import { type Session, sessionIdOf } from '../../core/sessions/session.ts'
import type { Runtime } from '../../runtime.ts'
import type { AuthenticateHook } from '../app.ts'
import { credentialsSchema, iso } from '../routes/users.ts'
import { registerCookieSessions } from './cookie-sessions.ts'
import { clearSessionCookie, sessionTokenOf, setSessionCookie } from './stateful-authenticator.ts'

/** Start, inspect, list and end sessions. */
export function registerSessionRoutes(
  app: FastifyInstance,
  runtime: Runtime,
  authenticate: AuthenticateHook,
): void {
  const { sessions } = runtime
  const cookies = registerCookieSessions(app, runtime)

  const describe = (session: Session, currentId?: string) => ({
    id: session.id,
    current: session.id === currentId,
    username: session.username,
    created_at: iso(session.createdAt),
    last_activity_at: iso(session.lastActivityAt),
    expires_at: iso(session.expiresAt),
    absolute_expires_at: iso(session.absoluteExpiresAt),
    message_count: session.data.messageCount,
    files_uploaded: session.data.filesUploaded,
    total_bytes: session.data.totalBytes,
    version: session.version,
  })

  app.post<{ Body: { username: string; password: string } }>(
    '/api/session/start',
    {
      schema: {
        tags: ['session'],
        summary: 'Log in: the server creates a session and remembers you by its id',
        body: credentialsSchema,
      },
    },
    async (request, reply) => {
      const user = await runtime.users.authenticate(request.body.username, request.body.password, request.ip)
      // No fixation: whatever session the client arrived with is ended, and a fresh id is always issued.
      const previous = sessionTokenOf(request)
      if (previous) {
        try {
          await sessions.end(sessionIdOf(previous.token))
        } catch (err) {
          if (!(err instanceof AppError)) throw err
        }
      }
      const started = await sessions.start(user)
      const { session } = started
      // Client-side sessions: what the client holds is the whole session, sealed, not an id.
      const token = cookies?.issuedInScope() ?? started.token
      setSessionCookie(request, reply, token, session)
      return reply.code(201).send({
        session_id: token,
        expires_in: Math.round((session.expiresAt - runtime.clock.now()) / 1000),
        idle_timeout: sessions.policy.idleTimeoutMs / 1000,
        absolute_timeout: sessions.policy.absoluteTimeoutMs / 1000,
        username: user.username,
      })
    },
  )

  app.get(
    '/api/session',
    {
      preHandler: authenticate,
      schema: { tags: ['session'], summary: 'What the server remembers about this session' },
    },
    async (request) => describe(request.principal.session!, request.principal.sessionId),
  )

  app.post(
    '/api/session/end',
    {
      preHandler: authenticate,
      schema: { tags: ['session'], summary: 'Log out: the server forgets this session' },
    },
    async (request, reply) => {
      await sessions.end(request.principal.sessionId!)
      clearSessionCookie(request, reply)
      return { message: 'Session ended' }
    },
  )

  app.get(
    '/api/sessions',
    { preHandler: authenticate, schema: { tags: ['session'], summary: 'My live sessions' } },
    async (request) => {
      const list = await sessions.list(request.principal.userId)
      return { sessions: list.map((s) => describe(s, request.principal.sessionId)) }
    },
  )

  app.delete(
    '/api/sessions',
    { preHandler: authenticate, schema: { tags: ['session'], summary: 'End all my other sessions' } },
    async (request) => ({
      ended: await sessions.endOthers(request.principal.userId, request.principal.sessionId),
    }),
  )

  app.delete<{ Params: { id: string } }>(
    '/api/sessions/:id',
    {
      preHandler: authenticate,
      schema: { tags: ['session'], summary: 'End one of my sessions, by the id /api/sessions lists' },
    },
    async (request) => {
      const mine = await sessions.list(request.principal.userId)
      if (!mine.some((s) => s.id === request.params.id))
        throw new AppError('ERR_NOT_FOUND', 'No such session of yours')
      await sessions.end(request.params.id)
      return { ended: 1 }
    },
  )
}
