import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Private `redis-server` processes, for a benchmark or a test that must own the server: crash it, restart
 * it, cluster it. Every process is stopped by its PID; anything left running is SIGKILLed when this process
 * exits.
 */

export const REDIS_HOST = '127.0.0.1'

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

const handedOut = new Set<number>()

/** A TCP port nothing listens on right now (the kernel picks it; we never hand out the same one twice). */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer()
    server.listen(0, REDIS_HOST)
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
  const args = [
    '--port',
    String(port),
    '--bind',
    REDIS_HOST,
    '--save',
    '',
    '--dir',
    dir,
    ...(options.args ?? []),
  ]
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
    host: REDIS_HOST,
    port,
    url: `redis://${REDIS_HOST}:${port}`,
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
 * One command over a fresh connection, for readiness checks without a client library. Returns a simple or
 * bulk string reply (integers as strings); rejects on an error reply, a refused connection or after 1 s.
 */
export async function redisCommand(port: number, ...args: string[]): Promise<string> {
  const socket = createConnection({ host: REDIS_HOST, port })
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
