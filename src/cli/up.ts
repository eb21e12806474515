import { randomBytes } from 'node:crypto'
import { loadGatewayTls, resolveHttpsPort, startGateway } from '../gateway/index.ts'
import { buildStatefulApi } from '../http/stateful-api.ts'
import { buildStatelessApi } from '../http/stateless-api.ts'
import { createRuntime, type Runtime } from '../runtime.ts'
import { configFrom, parse, portFlag, SERVER_OPTIONS } from './options.ts'

const HELP = `Usage: statelab up [--config file.yaml] [--host 127.0.0.1] [--stateless-port 3000] [--stateful-port 3001] [--gateway-port 8080]
                  [--https-port 8443|off] [--data-dir ./data]

Starts the stateless API and the stateful API in one process, sharing one data directory, and the
built-in gateway in front of them: /api/stateless/* (round-robin) and /api/stateful/* (sticky), over HTTP
and HTTPS (a self-signed certificate made on first run under <data dir>/tls; --https-port off: none).
On the first run with an empty database it creates the user "demo" and prints its password once.`

export async function run(args: string[]): Promise<void> {
  const { values } = parse(args, {
    ...SERVER_OPTIONS,
    'stateless-port': { type: 'string' },
    'stateful-port': { type: 'string' },
    'gateway-port': { type: 'string' },
    'https-port': { type: 'string' },
  })
  if (values.help) return void console.log(HELP)
  const config = configFrom(values, {
    statelessPort: portFlag(values['stateless-port'], 'stateless-port'),
    statefulPort: portFlag(values['stateful-port'], 'stateful-port'),
    gatewayPort: portFlag(values['gateway-port'], 'gateway-port'),
    gatewayHttpsPort: values['https-port'],
  })
  const httpsPort = resolveHttpsPort(config.gatewayHttpsPort, config.gatewayPort)
  const runtime = await createRuntime(config)
  const apps = [await buildStatelessApi(runtime), await buildStatefulApi(runtime)]
  const front: Closable[] = []
  stopOnSignal(runtime, apps, front)
  const [stateless, stateful] = [
    await apps[0]!.listen({ port: config.statelessPort, host: config.host }),
    await apps[1]!.listen({ port: config.statefulPort, host: config.host }),
  ]
  // One replica each: it shows seed 001's layout; `statelab lab` is where the policies matter.
  const tls = httpsPort === undefined ? undefined : await loadGatewayTls(config.dataDir, runtime.log)
  const gateway = await startGateway({
    host: config.host,
    port: config.gatewayPort,
    ...(tls && httpsPort !== undefined && { https: { port: httpsPort, key: tls.key, cert: tls.cert } }),
    pools: {
      stateless: { prefix: '/api/stateless', backends: [stateless], policy: 'round-robin' },
      stateful: { prefix: '/api/stateful', backends: [stateful], policy: 'sticky' },
    },
    log: runtime.log,
  })
  front.push(gateway)
  const demo = await ensureDemoUser(runtime)
  console.log(`
statelab is up (data in ${config.dataDir})
  stateless API  ${stateless}   docs ${stateless}/docs   (JWT or Basic on every request)
  stateful API   ${stateful}   docs ${stateful}/docs   (log in once, then a session id)
  gateway        ${gateway.url}   (/api/stateless/*, /api/stateful/*)
  gateway HTTPS  ${gateway.httpsUrl && tls ? `${gateway.httpsUrl}   (self-signed: curl --cacert ${tls.certFile})` : 'off'}
${demo ? `\n  First run: created user "demo" with password ${demo}\n  (shown once; create others with: npm run statelab -- user add <name>)\n` : ''}
Try: npm run statelab -- client stateless   |   npm run statelab -- client stateful
Stop with Ctrl+C.`)
}

/** Creates the demo user when no user exists yet; returns its password, or undefined. */
async function ensureDemoUser(runtime: Runtime): Promise<string | undefined> {
  if ((await runtime.data.users.count()) > 0) return undefined
  const password = randomBytes(12).toString('base64url')
  await runtime.users.register('demo', password)
  return password
}

/** A server that finishes its in-flight requests, then stops. */
interface Closable {
  close(): PromiseLike<unknown>
}

/**
 * Closes servers (finishing in-flight requests) and stores on SIGINT/SIGTERM; `front` (read when the
 * signal comes) first, as the requests it is still forwarding need the servers behind it.
 */
export function stopOnSignal(runtime: Runtime, apps: Closable[], front: readonly Closable[] = []): void {
  const stop = async () => {
    await Promise.allSettled(front.map((server) => server.close()))
    await Promise.allSettled(apps.map((app) => app.close()))
    await runtime.close()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
