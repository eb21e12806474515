import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../runtime.ts'
import { buildApp } from './app.ts'
import { registerStatefulCalcRoutes } from './routes/calc.ts'
import { registerSessionRoutes } from './stateful/session-routes.ts'
import { createStatefulAuthenticator } from './stateful/stateful-authenticator.ts'

/**
 * The stateful API: log in once, then the server remembers you by a session id.
 *
 * @example
 * const app = await buildStatefulApi(await createRuntime(loadConfig()))
 * await app.listen({ port: 3001 })
 */
export function buildStatefulApi(runtime: Runtime): Promise<FastifyInstance> {
  return buildApp(runtime, {
    kind: 'stateful',
    authenticator: createStatefulAuthenticator(runtime),
    description:
      'Stateful: log in once; the server remembers you by the session id (X-Session-ID header or cookie).',
    routes: (app, runtime, authenticate) => {
      registerSessionRoutes(app, runtime, authenticate)
      registerStatefulCalcRoutes(app, runtime, authenticate)
    },
  })
}
