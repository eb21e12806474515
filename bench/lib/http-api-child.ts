// Child process of `statelab bench`: one statelab API (stateless or stateful), alone in its process.
//   node --expose-gc bench/lib/http-api-child.ts '<ApiChildOptions as JSON>'
// Listens on 127.0.0.1, port chosen by the system; talks to its parent through bench-child.ts.
import type { FastifyInstance } from 'fastify'
import { type Config, loadConfig } from '../../src/config.ts'
import { buildStatefulApi } from '../../src/http/stateful-api.ts'
import { buildStatelessApi } from '../../src/http/stateless-api.ts'
import { createRuntime, type Runtime } from '../../src/runtime.ts'
import { serveParent } from './bench-child.ts'

/** Which API to serve, over which stores (a config as the server would load it, without the environment). */
export interface ApiChildOptions {
  readonly api: 'stateless' | 'stateful'
  readonly config: Partial<Config>
}

const options = JSON.parse(process.argv[2] ?? '{}') as ApiChildOptions
let runtime: Runtime | undefined
let app: FastifyInstance | undefined

await serveParent({
  async start() {
    runtime = await createRuntime(loadConfig({ env: {}, overrides: options.config }))
    app = options.api === 'stateless' ? await buildStatelessApi(runtime) : await buildStatefulApi(runtime)
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    if (address === null || typeof address === 'string') throw new Error('the API listens on no TCP port')
    return { port: address.port }
  },
  async stop() {
    await app?.close()
    await runtime?.close()
  },
})
