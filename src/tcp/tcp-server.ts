import { createServer, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { type Config, loadConfig } from '../config.ts'
import { type Clock, systemClock } from '../core/clock.ts'
import { AppError } from '../core/errors.ts'
import { openStores } from '../open-stores.ts'
import { createLogger } from '../runtime.ts'
import { FsBlobStore } from '../stores/blobs/fs/index.ts'
import { MemorySessionStore } from '../stores/memory/index.ts'
import type { SessionStore } from '../stores/session-store.ts'
import { buildAdminApp } from './admin-app.ts'
import { ConnectionSet } from './connection-set.ts'
import { errorReply, FrameHandler } from './frame-handler.ts'
import { encodeFrame } from './frames.ts'
import type { TcpConfig } from './tcp-config.ts'
import { type ConnectionShared, normalizeAddress, TcpConnection } from './tcp-connection.ts'
import { TcpMetrics } from './tcp-metrics.ts'
import { TcpSessions } from './tcp-sessions.ts'

export interface TcpServerOptions {
  readonly config: TcpConfig
  /** Time for session expiry and rate limits; default the system clock. */
  readonly clock?: Clock
  /** Default: pino at `info`. Payloads, HMACs and the session ids clients hold are never logged. */
  readonly log?: Logger
  /**
   * Where sessions live. Default: the store `config.persistence` names, opened with statelab's own settings
   * (`settings`: data directory for SQLite, `REDIS_URL`, `REDIS_PREFIX`) and closed by `close()`. A store
   * given here is the caller's to close.
   */
  readonly store?: SessionStore
  /** statelab's settings used to open the default store; default `loadConfig()` (the environment). */
  readonly settings?: Config
}

/** A running TCP server and its admin endpoint. */
export interface TcpServer {
  /** The TCP port (the real one when `config.port` was 0). */
  readonly port: number
  /** The admin HTTP port. */
  readonly adminPort: number
  /** Stops listening, cuts every connection (an upload in progress leaves no temporary file), closes. */
  close(): Promise<void>
}

/** How long `close()` lets connections finish their current frame's cleanup. */
const CLOSE_GRACE_MS = 5000

/**
 * Starts the statelab session protocol server (docs/protocol.md) and its admin endpoint.
 *
 * @example
 * const server = await startTcpServer({ config: loadTcpConfig({ file: 'tcp.yaml' }) })
 * console.log(`TCP on ${server.port}, admin on http://127.0.0.1:${server.adminPort}`)
 */
export async function startTcpServer(options: TcpServerOptions): Promise<TcpServer> {
  const { config } = options
  const clock = options.clock ?? systemClock
  const baseLog = options.log ?? createLogger('info')
  const log = baseLog.child({ component: 'tcp' })
  const closers: (() => Promise<unknown>)[] = []
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((err) => log.warn({ err }, 'closing failed'))
  }
  try {
    const store = options.store ?? (await openStore(config, options.settings, clock, log, closers))
    const blobs = await FsBlobStore.open(config.storagePath)
    const sessions = new TcpSessions({
      store,
      clock,
      sessionTimeoutMs: config.sessionTimeout * 1000,
      maxSessions: config.maxSessions,
      connectRate: config.connectRate,
      bindToIp: config.bindToIp,
    })
    const metrics = new TcpMetrics()
    const handler = new FrameHandler({
      config,
      clock,
      sessions,
      blobs,
      metrics,
      claimedNames: new Set<string>(),
    })
    const frameTimeoutMs = config.requestTimeout * 1000
    // Between frames a stateful client may think for as long as its session lives (never less than a frame).
    const idleTimeoutMs =
      config.mode === 'stateless' ? frameTimeoutMs : Math.max(frameTimeoutMs, config.sessionTimeout * 1000)
    // Connections are counted here, not with `net.Server.maxConnections`, which drops extra ones silently.
    const connections = new ConnectionSet<TcpConnection>(frameTimeoutMs)
    const shared: ConnectionShared = {
      config,
      metrics,
      handler,
      connections,
      log,
      idleTimeoutMs,
      frameTimeoutMs,
    }
    /** Connections refused over `max_connections`, cut by `close()` if still lingering. */
    const refused = new Set<Socket>()
    let nextId = 1
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => {
      const id = nextId++
      if (connections.size >= config.maxConnections) {
        refused.add(socket)
        socket.once('close', () => refused.delete(socket))
        socket.on('error', (err) => log.debug({ conn: id, err: err.message }, 'socket error'))
        refuse(socket, config.maxConnections)
        metrics.rejectedConnections.inc()
        log.warn(
          {
            conn: id,
            remote: normalizeAddress(socket.remoteAddress),
            max_connections: config.maxConnections,
          },
          'connection refused: too many connections',
        )
        return
      }
      metrics.connections.inc()
      // A connection holds its slot until its socket is closed and its last frame cleaned up (temp file gone).
      TcpConnection.serve(socket, shared, id)
      metrics.openConnections.set(connections.size)
    })
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) =>
        reject(new AppError('ERR_CONFIG', `cannot listen on ${config.host}:${config.port}: ${err.message}`))
      server.once('error', onError)
      server.listen(config.port, config.host, () => {
        server.off('error', onError)
        resolve()
      })
    })
    server.on('error', (err) => log.error({ err }, 'TCP server error'))
    closers.push(async () => {
      const closed = new Promise((resolve) => server.close(resolve))
      for (const socket of refused) socket.destroy()
      await connections.close(CLOSE_GRACE_MS)
      await closed
    })
    const port = (server.address() as { port: number }).port

    const admin = await buildAdminApp({
      sessions,
      metrics,
      clock,
      log: baseLog,
      status: () => ({ mode: config.mode, connections: connections.size }),
    })
    closers.push(() => admin.close())
    await admin.listen({ host: config.adminHost, port: config.adminPort })
    const adminPort = (admin.server.address() as { port: number }).port

    log.info(
      { host: config.host, port, admin_port: adminPort, mode: config.mode, store: store.kind },
      'TCP session protocol server listening',
    )
    let closing: Promise<void> | undefined
    return {
      port,
      adminPort,
      close() {
        closing ??= closeAll()
        return closing
      },
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}

/** The store `config.persistence` names; what it opened is closed with the server. */
async function openStore(
  config: TcpConfig,
  settings: Config | undefined,
  clock: Clock,
  log: Logger,
  closers: (() => Promise<unknown>)[],
): Promise<SessionStore> {
  if (config.persistence === 'memory') {
    const store = new MemorySessionStore({ clock, maxSessions: config.maxSessions })
    closers.push(() => store.close())
    return store
  }
  // The same stores, files and keys as the HTTP API: `statelab up` and `statelab tcp serve` can share them.
  const stores = await openStores(
    { ...(settings ?? loadConfig()), sessionStore: config.persistence, sessionCache: 'off' },
    { clock, log },
  )
  closers.push(() => stores.close())
  return stores.sessions
}

/** Over `max_connections`: say so, then close (reading and dropping what the client sends meanwhile). */
function refuse(socket: Socket, max: number): void {
  const error = new AppError(
    'ERR_TOO_MANY_CONNECTIONS',
    `The server serves at most ${max} connections at once; try again later`,
  )
  const { header } = errorReply(error, '2.0')
  socket.end(encodeFrame(header))
  socket.resume()
  setTimeout(() => socket.destroy(), 2000).unref()
}
