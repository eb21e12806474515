import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../runtime.ts'
import { buildApp } from './app.ts'
import { registerStatelessCalcRoutes } from './routes/calc.ts'
import { registerAuthRoutes } from './stateless/auth-routes.ts'
import { createStatelessAuthenticator } from './stateless/stateless-authenticator.ts'

/**
 * The stateless API: every request carries a JWT or the password itself.
 *
 * @example
 * const app = await buildStatelessApi(await createRuntime(loadConfig()))
 * await app.listen({ port: 3000 })
 */
export function buildStatelessApi(runtime: Runtime): Promise<FastifyInstance> {
  return buildApp(runtime, {
    kind: 'stateless',
    authenticator: createStatelessAuthenticator(runtime),
    description:
      'Stateless: the server remembers no one. Every request carries a JWT (Bearer) or credentials (Basic).',
    routes: (app, runtime, authenticate) => {
      registerAuthRoutes(app, runtime, authenticate)
      registerStatelessCalcRoutes(app)
    },
  })
}
