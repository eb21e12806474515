// Child process of bench/tcp.ts: one statelab TCP server (memory sessions), alone in its process.
//   node --expose-gc bench/lib/tcp-server-child.ts '<TcpConfigOverrides as JSON>'
// Listens on 127.0.0.1, ports chosen by the system; talks to its parent through bench-child.ts.
import pino from 'pino'
import { loadTcpConfig, type TcpConfigOverrides } from '../../src/tcp/tcp-config.ts'
import { startTcpServer, type TcpServer } from '../../src/tcp/tcp-server.ts'
import { serveParent } from './bench-child.ts'

const overrides = JSON.parse(process.argv[2] ?? '{}') as TcpConfigOverrides
let server: TcpServer | undefined

await serveParent({
  async start() {
    const config = loadTcpConfig({
      overrides: { ...overrides, host: '127.0.0.1', port: 0, adminHost: '127.0.0.1', adminPort: 0 },
      env: {},
    })
    // Warnings only: the bench measures serving, not writing log lines to a terminal.
    server = await startTcpServer({ config, log: pino({ level: 'warn' }, pino.destination(2)) })
    return { port: server.port, adminPort: server.adminPort }
  },
  stop: async () => server?.close(),
})
