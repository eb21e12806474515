import { loadConfig } from '../config.ts'
import { AppError } from '../core/errors.ts'
import { loadGatewayTls, POLICY_NAMES, resolveHttpsPort, startGateway } from '../gateway/index.ts'
import { createLogger } from '../runtime.ts'
import { choiceFlag, parse, portFlag } from './options.ts'

const HELP = `Usage: statelab gateway [options]

The built-in load balancer (docs/gateway.md): /api/stateless/... and /api/stateful/... go, prefix
stripped, to the backends of each pool; the admin API is under /_gateway/.

  --port, -p N                 listen port, default GATEWAY_PORT or 8080
  --host ADDR                  default 127.0.0.1 (the admin API is open to whoever reaches this address)
  --https-port N|off           HTTPS too, default GATEWAY_HTTPS_PORT or 8443 (a free port with --port 0),
                               with a self-signed certificate made on first run under <data dir>/tls
  --stateless URL[,URL]        stateless API backends, default http://127.0.0.1:3000
  --stateful URL[,URL]         stateful API backends, default http://127.0.0.1:3001
  --policy-stateless P         default round-robin
  --policy-stateful P          default sticky
                               policies: ${POLICY_NAMES.join(', ')}
  --health-path PATH           active health check, default /health
  --health-interval MS         default 2000; 0 turns active checks off
  --health-timeout MS          default 1000
  --passive-failures N         consecutive failures that take a backend out, default 3; 0 turns it off
  --passive-cooldown MS        how long it stays out at least, default 10000
  --retries N                  other backends tried after a connection error (idempotent methods), default 2
  --upstream-timeout MS        a backend's answer must start within it, default 30000 (then 504)

Environment: LOG_LEVEL (default info); STATELAB_GATEWAY_TOKEN, when set, is required on /_gateway/ as
"Authorization: Bearer <token>".`

export async function run(args: string[]): Promise<void> {
  const { values } = parse(args, {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    'https-port': { type: 'string' },
    stateless: { type: 'string' },
    stateful: { type: 'string' },
    'policy-stateless': { type: 'string' },
    'policy-stateful': { type: 'string' },
    'health-path': { type: 'string' },
    'health-interval': { type: 'string' },
    'health-timeout': { type: 'string' },
    'passive-failures': { type: 'string' },
    'passive-cooldown': { type: 'string' },
    retries: { type: 'string' },
    'upstream-timeout': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return void console.log(HELP)

  const healthInterval = count(values['health-interval'], 'health-interval', 2000)
  const passiveFailures = count(values['passive-failures'], 'passive-failures', 3)
  const token = process.env.STATELAB_GATEWAY_TOKEN
  const config = loadConfig()
  const port = portFlag(values.port, 'port') ?? config.gatewayPort
  const httpsPort = resolveHttpsPort(values['https-port'] ?? config.gatewayHttpsPort, port)
  const log = createLogger(process.env.LOG_LEVEL ?? 'info')
  const tls = httpsPort === undefined ? undefined : await loadGatewayTls(config.dataDir, log)
  const gateway = await startGateway({
    host: values.host ?? '127.0.0.1',
    port,
    ...(tls && httpsPort !== undefined && { https: { port: httpsPort, key: tls.key, cert: tls.cert } }),
    pools: {
      stateless: {
        prefix: '/api/stateless',
        backends: list(values.stateless ?? 'http://127.0.0.1:3000'),
        policy: choiceFlag(values['policy-stateless'] ?? 'round-robin', 'policy-stateless', POLICY_NAMES),
      },
      stateful: {
        prefix: '/api/stateful',
        backends: list(values.stateful ?? 'http://127.0.0.1:3001'),
        policy: choiceFlag(values['policy-stateful'] ?? 'sticky', 'policy-stateful', POLICY_NAMES),
      },
    },
    healthCheck:
      healthInterval === 0
        ? false
        : {
            intervalMs: healthInterval,
            timeoutMs: count(values['health-timeout'], 'health-timeout', 1000, 1),
            path: values['health-path'] ?? '/health',
          },
    passive:
      passiveFailures === 0
        ? false
        : {
            failures: passiveFailures,
            cooldownMs: count(values['passive-cooldown'], 'passive-cooldown', 10_000),
          },
    retries: count(values.retries, 'retries', 2),
    upstreamTimeoutMs: count(values['upstream-timeout'], 'upstream-timeout', 30_000, 1),
    admin: token ? { token } : true,
    log,
  })
  const stop = async () => {
    await gateway.close()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const pools = gateway.stats()
  console.log(`statelab gateway on ${gateway.url}
  ${gateway.url}/api/stateless/...  ->  ${pools.stateless!.map((b) => b.url).join(', ') || '(none)'}
  ${gateway.url}/api/stateful/...   ->  ${pools.stateful!.map((b) => b.url).join(', ') || '(none)'}
  admin: ${gateway.url}/_gateway/pools${token ? ' (Bearer token required)' : ''}
  ${gateway.httpsUrl && tls ? `https: ${gateway.httpsUrl} (self-signed certificate ${tls.certFile})` : 'https: off'}
Stop with Ctrl+C.`)
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '')
}

/** A non-negative integer flag (at least `min`), or its default. */
function count(value: string | undefined, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min)
    throw new AppError('ERR_CONFIG', `--${flag} must be an integer of at least ${min}; got "${value}"`)
  return n
}
