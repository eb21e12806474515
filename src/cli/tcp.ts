import { loadConfig } from '../config.ts'
import { createLogger } from '../runtime.ts'
import { loadTcpConfig, type TcpConfigOverrides } from '../tcp/tcp-config.ts'
import { startTcpServer } from '../tcp/tcp-server.ts'
import { parse, SERVER_OPTIONS } from './options.ts'

/** `statelab tcp <sub-command>`: each one is a module exporting `run(args)`, loaded on demand. */
const SUBCOMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ run(args: string[]): Promise<void> }> }
> = {
  serve: {
    summary: 'run the session protocol server (docs/protocol.md)',
    load: async () => ({ run: serve }),
  },
  send: {
    summary: 'send files to a server, statelessly or in a session',
    load: () => import('./tcp-send.ts'),
  },
}

const HELP = `Usage: statelab tcp <command> [options]

Commands:
${Object.entries(SUBCOMMANDS)
  .map(([name, c]) => `  ${name.padEnd(6)} ${c.summary}`)
  .join('\n')}

Run "statelab tcp <command> --help" for a command's options.`

const SERVE_HELP = `Usage: statelab tcp serve [--config tcp.yaml] [options]

Serves the statelab session protocol over raw TCP (docs/protocol.md) and an HTTP admin endpoint
(/health, /metrics, /sessions). Each flag overrides the YAML key in brackets:

  --config, -c FILE        YAML file with the keys below
  --host ADDR              [server.host]                 default 127.0.0.1
  --port, -p N             [server.port]                 default 65432
  --mode M                 [server.mode]                 stateless | stateful | dual (default)
  --max-connections N      [server.max_connections]      default 100
  --session-timeout S      [stateful.session_timeout]    seconds, default 300
  --max-sessions N         [stateful.max_sessions]       default 50
  --store S                [stateful.persistence]        memory (default) | sqlite | redis
  --request-timeout S      [stateless.request_timeout]   seconds, default 30
  --max-request-size B     [stateless.max_request_size]  bytes, default 10485760
  --storage DIR            [storage.path]                default ./data/tcp
  --naming N               [storage.naming]              simple | session_aware (default)
  --bind-to-ip             [security.bind_to_ip]         a session answers only to its creator's address
  --connect-rate N         [security.connect_rate]       sessions per client address per minute, default 10
  --admin-host ADDR        [admin.host]                  default 127.0.0.1
  --admin-port N           [admin.port]                  default 65433
  --data-dir DIR           statelab's data directory (SQLite sessions.db), default ./data

The HMAC key comes from security.hmac_key or STATELAB_TCP_HMAC_KEY, never from a flag.
Redis: REDIS_URL and REDIS_PREFIX, as for the HTTP API. Log level: LOG_LEVEL.`

export async function run(args: string[]): Promise<void> {
  const [name, ...rest] = args
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(HELP)
    return
  }
  const command = SUBCOMMANDS[name]
  if (!command) {
    console.error(`statelab tcp: unknown command "${name}"\n\n${HELP}`)
    process.exitCode = 2
    return
  }
  const module = await command.load()
  await module.run(rest)
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse(args, {
    ...SERVER_OPTIONS,
    port: { type: 'string', short: 'p' },
    mode: { type: 'string' },
    'max-connections': { type: 'string' },
    'session-timeout': { type: 'string' },
    'max-sessions': { type: 'string' },
    store: { type: 'string' },
    'request-timeout': { type: 'string' },
    'max-request-size': { type: 'string' },
    storage: { type: 'string' },
    naming: { type: 'string' },
    'bind-to-ip': { type: 'boolean' },
    'connect-rate': { type: 'string' },
    'admin-host': { type: 'string' },
    'admin-port': { type: 'string' },
  })
  if (values.help) {
    console.log(SERVE_HELP)
    return
  }
  const overrides: TcpConfigOverrides = {
    host: values.host,
    port: values.port,
    mode: values.mode,
    maxConnections: values['max-connections'],
    sessionTimeout: values['session-timeout'],
    maxSessions: values['max-sessions'],
    persistence: values.store,
    requestTimeout: values['request-timeout'],
    maxRequestSize: values['max-request-size'],
    storagePath: values.storage,
    naming: values.naming,
    bindToIp: values['bind-to-ip'],
    connectRate: values['connect-rate'],
    adminHost: values['admin-host'],
    adminPort: values['admin-port'],
  }
  const config = loadTcpConfig({ file: values.config, overrides, env: process.env })
  const settings = loadConfig({ overrides: { dataDir: values['data-dir'] } })
  const log = createLogger(settings.logLevel)
  const server = await startTcpServer({ config, settings, log })
  const stop = async () => {
    await server.close()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  console.log(
    `statelab TCP server (${config.mode}) on ${config.host}:${server.port}, sessions in ${config.persistence}, ` +
      `files in ${config.storagePath}\nadmin: http://${config.adminHost}:${server.adminPort}/health | /metrics | /sessions`,
  )
}
