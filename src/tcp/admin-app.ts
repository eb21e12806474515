import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Clock } from '../core/clock.ts'
import { isAppError } from '../core/errors.ts'
import { errorBody } from '../http/errors.ts'
import type { TcpMetrics } from './tcp-metrics.ts'
import { listedFileFields, type TcpSession, type TcpSessions } from './tcp-sessions.ts'

export interface AdminAppOptions {
  readonly sessions: TcpSessions
  readonly metrics: TcpMetrics
  readonly clock: Clock
  readonly log: Logger
  /** What `/health` reports about the TCP server itself. */
  readonly status: () => { readonly mode: string; readonly connections: number }
}

/**
 * The TCP server's HTTP side door: `/health`, `/metrics` (Prometheus), and the live sessions, which an
 * operator can end. It has no authentication: it listens on 127.0.0.1 unless told otherwise.
 */
export async function buildAdminApp(options: AdminAppOptions): Promise<FastifyInstance> {
  const { sessions, metrics, clock } = options
  const startedAt = clock.now()
  const app = Fastify({
    loggerInstance: options.log.child({ component: 'tcp-admin' }) as FastifyBaseLogger,
    routerOptions: { ignoreTrailingSlash: true },
  })
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(errorBody('ERR_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)),
  )
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isAppError(err, 'ERR_STORE_UNAVAILABLE'))
      return reply.code(503).send(errorBody(err.code, err.message))
    if (err.statusCode !== undefined && err.statusCode < 500) {
      return reply.code(err.statusCode).send(errorBody('ERR_BAD_REQUEST', err.message))
    }
    request.log.error({ err }, 'admin request failed')
    return reply.code(500).send(errorBody('ERR_INTERNAL', 'The server failed to answer; see its log'))
  })

  app.get('/health', async (_request, reply) => {
    const { mode, connections } = options.status()
    const body = {
      status: 'ok',
      mode,
      session_store: sessions.store.kind,
      connections,
      uptime_seconds: Math.floor((clock.now() - startedAt) / 1000),
    }
    try {
      await sessions.store.ping?.()
    } catch (err) {
      const message = `The session store does not answer: ${(err as Error).message}`
      return reply
        .code(503)
        .send({ ...body, ...errorBody('ERR_STORE_UNAVAILABLE', message), status: 'degraded' })
    }
    return body
  })

  app.get('/metrics', async (_request, reply) => {
    try {
      metrics.sessionsLive.set(await sessions.count())
    } catch (err) {
      // The counters are still worth serving while the store is down; the gauge keeps its last value.
      app.log.warn({ err }, 'could not count the live sessions for /metrics')
    }
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render())
  })

  app.get('/sessions', async () => ({
    sessions: (await sessions.list()).map((session) => describeSession(session)),
  }))

  app.get<{ Params: { id: string } }>('/sessions/:id', async (request, reply) => {
    const session = await sessions.get(request.params.id)
    if (!session) return reply.code(404).send(unknownSession())
    const { tcp } = session.data
    return {
      ...describeSession(session),
      stored_files: tcp.files.map(listedFileFields),
    }
  })

  app.delete<{ Params: { id: string } }>('/sessions/:id', async (request, reply) => {
    // Only TCP sessions: the HTTP API's sessions may share the store, and are not this door's to close.
    const session = await sessions.get(request.params.id)
    if (!session || !(await sessions.end(session.id))) return reply.code(404).send(unknownSession())
    request.log.info({ session: session.id }, 'session ended by an operator')
    return reply.code(204).send()
  })

  return app
}

/** A session as the admin API shows it: by the hash the store knows it by, never by the client's token. */
function describeSession(session: TcpSession) {
  const { tcp } = session.data
  return {
    id: session.id,
    client_address: tcp.clientAddress,
    state: tcp.state,
    created_at: new Date(session.createdAt).toISOString(),
    last_activity_at: new Date(session.lastActivityAt).toISOString(),
    expires_at: new Date(session.expiresAt).toISOString(),
    last_sequence: tcp.lastSequence,
    message_count: session.data.messageCount,
    total_bytes: session.data.totalBytes,
    files: tcp.fileCount,
  }
}

function unknownSession() {
  return errorBody('ERR_SESSION_UNKNOWN', 'No live TCP session has this id')
}
