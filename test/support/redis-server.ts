import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'

/**
 * Private `redis-server` processes for tests that must own the server: crash it, restart it, cluster it.
 * Every process is stopped by its PID; anything a test forgets is SIGKILLed when this process exits.
 */

const HOST = '127.0.0.1'

export interface RedisServer {
  readonly host: string
  readonly port: number
  readonly url: string
  /** Working directory (AOF, cluster config). */
  readonly dir: string
  readonly pid: number
  /** SIGTERM, SIGKILL if it lingers; resolves once it has exited. Removes `dir` if this module made it. */
  stop(): Promise<void>
  /** SIGKILL: a crash, nothing flushed. Keeps `dir` (until this process exits) so a server can restart on it. */
  kill(): Promise<void>
}

export interface StartRedisServerOptions {
  /** Default: a free port. */
  readonly port?: number
  /** Default: a fresh temporary directory, removed by `stop()`. A given directory is kept. */
  readonly dir?: string
  /** Extra arguments, e.g. `['--appendonly', 'yes']`. */
  readonly args?: readonly string[]
  /** How long to wait for the first PONG (AOF loading included). Default 10 s. */
  readonly readyTimeoutMs?: number
}

export interface RedisClusterFixture {
  readonly nodes: readonly { readonly host: string; readonly port: number }[]
  readonly servers: readonly RedisServer[]
  stop(): Promise<void>
}

const running = new Map<number, ChildProcess>()
/** Temporary directories this module made and `stop()` has not removed yet (a killed server keeps its own). */
const ownedDirs = new Set<string>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const pid of running.keys()) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true })
  })
}

/**
 * Why tests that spawn Redis cannot run here, or false when they can. With `STATELAB_REQUIRE_SERVICES=1`
 * missing binaries are an error, never a skip.
 */
export function redisBinariesSkip(): string | false {
  const missing = ['redis-server', 'redis-cli'].filter(
    (bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).error !== undefined,
  )
  if (missing.length === 0) return false
  const reason = `${missing.join(' and ')} not found on PATH (e.g. apt-get install redis-server)`
  if (process.env.STATELAB_REQUIRE_SERVICES === '1') {
    throw new Error(`${reason}, and STATELAB_REQUIRE_SERVICES=1 says this run must test against it`)
  }
  return reason
}

const handedOut = new Set<number>()

/** A TCP port nothing listens on right now (the kernel picks it; we never hand out the same one twice). */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer()
    server.listen(0, HOST)
    await once(server, 'listening')
    const address = server.address()
    server.close()
    await once(server, 'close')
    if (typeof address !== 'object' || address === null) throw new Error('no port from listen(0)')
    if (!handedOut.has(address.port)) {
      handedOut.add(address.port)
      return address.port
    }
  }
}

/** Starts `redis-server` bound to 127.0.0.1 without RDB snapshots, and waits until it answers PING. */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  // A free port can be taken between our check and the spawn: retry with another one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options.port ?? (await freePort()), options)
    } catch (err) {
      if (options.port !== undefined || attempt === 3) throw err
    }
  }
}

async function startOnce(port: number, options: StartRedisServerOptions): Promise<RedisServer> {
  installExitHook()
  const ownedDir = options.dir === undefined ? mkdtempSync(join(tmpdir(), 'statelab-redis-')) : undefined
  if (ownedDir) ownedDirs.add(ownedDir)
  const dir = options.dir ?? ownedDir!
  const removeOwnedDir = () => {
    if (!ownedDir) return
    rmSync(ownedDir, { recursive: true, force: true })
    ownedDirs.delete(ownedDir)
  }
  const args = ['--port', String(port), '--bind', HOST, '--save', '', '--dir', dir, ...(options.args ?? [])]
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = once(child, 'exit').then(() => undefined)
  const pid = child.pid
  if (pid === undefined) throw new Error(`redis-server did not start: ${output}`)
  running.set(pid, child)

  const terminate = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
      await exited
      clearTimeout(timer)
    }
    running.delete(pid)
  }

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000)
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      running.delete(pid)
      removeOwnedDir()
      throw new Error(`redis-server on port ${port} exited before answering: ${output.trim()}`)
    }
    try {
      if ((await redisCommand(port, 'PING')) === 'PONG') break
    } catch {}
    if (Date.now() > deadline) {
      await terminate('SIGKILL')
      removeOwnedDir()
      throw new Error(`redis-server on port ${port} did not answer PING in time: ${output.trim()}`)
    }
    await sleep(20)
  }

  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    pid,
    async stop() {
      await terminate('SIGTERM')
      removeOwnedDir()
    },
    async kill() {
      await terminate('SIGKILL')
    },
  }
}

/**
 * A Redis Cluster of `masters` primaries and no replicas, every slot assigned, `cluster_state:ok` on all nodes.
 * Each node's bus port is picked free too (`--cluster-port`), so nothing assumes port + 10000 is available.
 */
export async function startCluster(masters = 3): Promise<RedisClusterFixture> {
  const servers: RedisServer[] = []
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
  }
  try {
    for (let i = 0; i < masters; i++) {
      const busPort = await freePort()
      const port = await freePort()
      servers.push(
        await startRedisServer({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-port',
            String(busPort),
            '--cluster-node-timeout',
            '5000',
            '--appendonly',
            'no',
          ],
        }),
      )
    }
    await promisify(execFile)(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...servers.map((server) => `${HOST}:${server.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 20_000 },
    )
    const deadline = Date.now() + 10_000
    for (const server of servers) {
      while (!(await redisCommand(server.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline)
          throw new Error(`cluster node ${server.port} never reached cluster_state:ok`)
        await sleep(50)
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes: servers.map(({ host, port }) => ({ host, port })), servers, stop }
}

/**
 * One command over a fresh connection, for readiness checks without a client library. Returns a simple or
 * bulk string reply (integers as strings); rejects on an error reply, a refused connection or after 1 s.
 */
export async function redisCommand(port: number, ...args: string[]): Promise<string> {
  const socket = createConnection({ host: HOST, port })
  socket.setTimeout(1000, () => socket.destroy(new Error(`no reply from port ${port} within 1 s`)))
  try {
    await once(socket, 'connect')
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
    let buffer = Buffer.alloc(0)
    for await (const chunk of socket) {
      buffer = Buffer.concat([buffer, chunk as Buffer])
      const reply = parseReply(buffer)
      if (reply !== undefined) return reply
    }
    throw new Error(`port ${port} closed the connection without a reply`)
  } finally {
    socket.destroy()
  }
}

function parseReply(buffer: Buffer): string | undefined {
  const end = buffer.indexOf('\r\n')
  if (end === -1) return undefined
  const line = buffer.toString('utf8', 1, end)
  switch (String.fromCharCode(buffer[0]!)) {
    case '+':
    case ':':
      return line
    case '-':
      throw new Error(line)
    case '$': {
      const length = Number(line)
      if (length < 0) return ''
      if (buffer.length < end + 2 + length + 2) return undefined
      return buffer.toString('utf8', end + 2, end + 2 + length)
    }
    default:
      throw new Error(`unexpected reply: ${line}`)
  }
}
