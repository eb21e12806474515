import { buildStatefulApi } from '../http/stateful-api.ts'
import { buildStatelessApi } from '../http/stateless-api.ts'
import { createRuntime } from '../runtime.ts'
import { configFrom, parse, portFlag, SERVER_OPTIONS } from './options.ts'
import { stopOnSignal } from './up.ts'

const HELP = `Usage: statelab serve stateless|stateful [--port N] [--config file.yaml] [--host 127.0.0.1] [--data-dir ./data]

Serves one API (stateless on 3000, stateful on 3001 unless --port says otherwise).`

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { ...SERVER_OPTIONS, port: { type: 'string', short: 'p' } })
  const kind = positionals[0]
  if (values.help || (kind !== 'stateless' && kind !== 'stateful')) {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  const port = portFlag(values.port, 'port')
  const config = configFrom(values, kind === 'stateless' ? { statelessPort: port } : { statefulPort: port })
  const runtime = await createRuntime(config)
  const app = kind === 'stateless' ? await buildStatelessApi(runtime) : await buildStatefulApi(runtime)
  stopOnSignal(runtime, [app])
  const url = await app.listen({
    port: kind === 'stateless' ? config.statelessPort : config.statefulPort,
    host: config.host,
  })
  console.log(`statelab ${kind} API on ${url} (docs ${url}/docs)`)
}
