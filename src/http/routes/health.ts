import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../../runtime.ts'
import type { ApiKind } from '../app.ts'
import { errorBody } from '../errors.ts'
import { revocationMode } from '../stateless/auth-routes.ts'

/** `/health` (the process is up) and `/ready` (its stores answer). */
export function registerHealthRoutes(app: FastifyInstance, runtime: Runtime, kind: ApiKind): void {
  const startedAt = runtime.clock.now()
  app.get(
    '/health',
    { schema: { tags: ['health'], summary: 'Liveness: the process answers' } },
    async () => ({
      status: 'ok',
      api: kind,
      uptime_seconds: Math.floor((runtime.clock.now() - startedAt) / 1000),
      ...(kind === 'stateless'
        ? { revocation: revocationMode(runtime) }
        : { session_store: runtime.sessions.store.kind }),
    }),
  )

  app.get(
    '/ready',
    { schema: { tags: ['health'], summary: 'Readiness: every store this API needs answers' } },
    async (_request, reply) => {
      const stores =
        kind === 'stateless'
          ? { data: runtime.data, ...(runtime.denylist && { denylist: runtime.denylist }) }
          : { data: runtime.data, sessions: runtime.sessions.store }
      const checks: Record<string, { kind: string; status: 'ok' | 'unavailable'; error?: string }> = {}
      for (const [name, store] of Object.entries(stores)) {
        try {
          await store.ping?.()
          checks[name] = { kind: store.kind, status: 'ok' }
        } catch (err) {
          checks[name] = { kind: store.kind, status: 'unavailable', error: (err as Error).message }
        }
      }
      const ready = Object.values(checks).every((c) => c.status === 'ok')
      if (!ready) {
        return reply
          .code(503)
          .send({ ...errorBody('ERR_STORE_UNAVAILABLE', 'A store does not answer'), checks })
      }
      return { status: 'ready', api: kind, checks }
    },
  )
}
