import { type ChildProcess, spawn } from 'node:child_process'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

/** Why the lab could not run or find a replica. */
export type ReplicaErrorCode =
  /** The process exited, stayed silent or never answered `/health` in time; the message quotes its output. */
  | 'ERR_REPLICA_START'
  /** The port of a restarted replica stayed taken by someone else. */
  | 'ERR_REPLICA_PORT_IN_USE'
  /** No replica of this supervisor has that id. */
  | 'ERR_REPLICA_UNKNOWN'
  /** The supervisor was stopped: it starts nothing any more. */
  | 'ERR_SUPERVISOR_STOPPED'

export class ReplicaError extends Error {
  readonly code: ReplicaErrorCode

  constructor(code: ReplicaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ReplicaError'
    this.code = code
  }
}

/** How a process ended: `code` after a normal exit, `signal` after a kill, `error` when it never ran. */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly error?: Error
}

export interface ReplicaStartOptions {
  readonly id: string
  readonly api: 'stateless' | 'stateful'
  /** 0: let the system choose. A fixed port is retried for `bindRetryMs` while its old socket lingers. */
  readonly port: number
  /** The child's whole environment. */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly log: (line: string) => void
  /** Aborting kills a child that is still starting and rejects. */
  readonly signal?: AbortSignal
  readonly listenTimeoutMs?: number
  readonly healthTimeoutMs?: number
  readonly bindRetryMs?: number
}

const BIN = fileURLToPath(new URL('../../bin/statelab.mjs', import.meta.url))
const HOST = '127.0.0.1'
// serve.ts prints `statelab <kind> API on http://HOST:PORT (docs ...)` once it listens.
const LISTENING = / API on http:\/\/[^\s/]+:(\d+)/
const TAIL_LINES = 30
const TAIL_CHARS = 4000

/** Every child still running, killed on the parent's exit so that none outlives it. */
const running = new Set<ChildProcess>()
let exitHookInstalled = false

function track(child: ChildProcess): void {
  running.add(child)
  if (exitHookInstalled) return
  exitHookInstalled = true
  // 'exit' handlers must be synchronous: a signal is all there is time for.
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL')
  })
}

/**
 * One `statelab serve` child process that listens and answers `/health`.
 *
 * @example
 * const replica = await ReplicaProcess.start({ id: 'stateless-1', api: 'stateless', port: 0, env: process.env, log: console.log })
 * await replica.terminate()
 */
export class ReplicaProcess {
  readonly id: string
  readonly port: number
  readonly pid: number
  readonly url: string
  /** Resolves once the process has exited, however it ended. */
  readonly exited: Promise<ExitStatus>
  readonly #child: ChildProcess
  #status: ExitStatus | undefined

  private constructor(id: string, port: number, child: ChildProcess, exited: Promise<ExitStatus>) {
    this.id = id
    this.port = port
    this.pid = child.pid!
    this.url = `http://${HOST}:${port}`
    this.#child = child
    this.exited = exited
    void exited.then((status) => {
      this.#status = status
    })
  }

  /** Spawns the child, reads its port from its first words and waits until `/health` answers 200. */
  static async start(options: ReplicaStartOptions): Promise<ReplicaProcess> {
    const retryUntil = performance.now() + (options.bindRetryMs ?? 3000)
    // Waiting here costs a bind; finding out from a child costs a whole Node start-up.
    if (options.port !== 0) await waitForFreePort(options.port, retryUntil, options.signal)
    for (;;) {
      try {
        return await ReplicaProcess.#startOnce(options)
      } catch (err) {
        const retry =
          err instanceof ReplicaError &&
          err.code === 'ERR_REPLICA_PORT_IN_USE' &&
          options.port !== 0 &&
          performance.now() < retryUntil &&
          !options.signal?.aborted
        if (!retry) throw err
        await delay(100)
      }
    }
  }

  get alive(): boolean {
    return this.#status === undefined
  }

  /** SIGKILL: a crash, nothing is flushed. Resolves when the process has exited. */
  async kill(): Promise<ExitStatus> {
    if (this.alive) this.#child.kill('SIGKILL')
    return this.exited
  }

  /** SIGTERM, so the server finishes its requests and closes its stores; SIGKILL after `graceMs`. */
  async terminate(graceMs = 5000): Promise<ExitStatus> {
    if (!this.alive) return this.exited
    this.#child.kill('SIGTERM')
    const ac = new AbortController()
    const late = delay(graceMs, 'late' as const, { signal: ac.signal }).catch(() => 'done' as const)
    const first = await Promise.race([this.exited.then(() => 'done' as const), late])
    ac.abort()
    if (first === 'late') return this.kill()
    return this.exited
  }

  static async #startOnce(options: ReplicaStartOptions): Promise<ReplicaProcess> {
    const { id, log, signal } = options
    signal?.throwIfAborted()
    const child = spawn(
      process.execPath,
      [BIN, 'serve', options.api, '--port', String(options.port), '--host', HOST],
      { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const tail: string[] = []
    const listening = Promise.withResolvers<number>()
    const onLine = (line: string) => {
      log(`${id} | ${line}`)
      tail.push(line)
      if (tail.length > TAIL_LINES) tail.shift()
      const match = LISTENING.exec(line)
      if (match) listening.resolve(Number(match[1]))
    }
    readLines(child.stdout!, onLine)
    readLines(child.stderr!, onLine)
    const { exited, ended } = watchExit(child, log)
    if (child.pid !== undefined) track(child)

    const fail = async (code: ReplicaErrorCode, reason: string): Promise<never> => {
      child.kill('SIGKILL')
      const status = await ended
      const said = tail.join('\n').slice(-TAIL_CHARS).trim()
      const inUse = said.includes('EADDRINUSE')
      throw new ReplicaError(
        inUse ? 'ERR_REPLICA_PORT_IN_USE' : code,
        `replica ${id} ${reason}${status.error ? `: ${status.error.message}` : ''}${said ? `; it said:\n${said}` : ' (it printed nothing)'}`,
        { cause: status.error },
      )
    }

    const listenMs = options.listenTimeoutMs ?? 15_000
    const port = await waitFor(listening.promise, listenMs, ended, signal)
    if (port === 'timeout')
      return fail('ERR_REPLICA_START', `printed no "API on http://..." line within ${listenMs} ms`)
    if (port === 'aborted') return fail('ERR_SUPERVISOR_STOPPED', 'was stopped while starting')
    if (typeof port !== 'number')
      return fail('ERR_REPLICA_START', `exited (${describeExit(port)}) before listening`)

    const url = `http://${HOST}:${port}`
    const healthMs = options.healthTimeoutMs ?? 10_000
    const healthy = await waitFor(pollHealth(url, signal, ended), healthMs, ended, signal)
    if (healthy === 'timeout')
      return fail('ERR_REPLICA_START', `did not answer GET ${url}/health with 200 within ${healthMs} ms`)
    if (healthy === 'aborted') return fail('ERR_SUPERVISOR_STOPPED', 'was stopped while starting')
    if (healthy !== true)
      return fail('ERR_REPLICA_START', `exited (${describeExit(healthy)}) before it was healthy`)
    return new ReplicaProcess(id, port, child, exited)
  }
}

/** Resolves once `port` can be bound on 127.0.0.1 (checked by binding it briefly), or at `until`. */
async function waitForFreePort(port: number, until: number, signal: AbortSignal | undefined): Promise<void> {
  while (performance.now() < until && !signal?.aborted) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)))
    })
    if (free) return
    await delay(100)
  }
}

/** The value of `promise`, or what came first: the deadline, the abort, or the end of the process. */
async function waitFor<T>(
  promise: Promise<T>,
  ms: number,
  ended: Promise<ExitStatus>,
  signal: AbortSignal | undefined,
): Promise<T | ExitStatus | 'timeout' | 'aborted'> {
  const ac = new AbortController()
  const stop = ac.signal
  const abortedByCaller = new Promise<'aborted'>((resolve) => {
    if (signal?.aborted) return resolve('aborted')
    signal?.addEventListener('abort', () => resolve('aborted'), { once: true, signal: stop })
  })
  try {
    return await Promise.race([
      promise,
      ended,
      abortedByCaller,
      delay(ms, 'timeout' as const, { signal: stop }).catch(() => 'timeout' as const),
    ])
  } finally {
    ac.abort()
  }
}

/** GET /health until 200; each try is bounded, so a server that accepts but never answers is retried. */
async function pollHealth(
  url: string,
  signal: AbortSignal | undefined,
  ended: Promise<ExitStatus>,
): Promise<true> {
  let over = false
  void ended.then(() => {
    over = true
  })
  while (!over && !signal?.aborted) {
    if ((await probe(`${url}/health`, 1000)) === 200) return true
    await delay(50)
  }
  return new Promise<true>(() => {}) // the caller's race settles on the end or the abort
}

/** The status of one GET on a fresh connection (no keep-alive pool to outlive the replica); 0 if none. */
function probe(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
    req.end()
  })
}

/**
 * `exited`: the process is gone. `ended`: also its output has been read (at most a second later), so an
 * error can quote it.
 */
function watchExit(child: ChildProcess, log: (line: string) => void) {
  const exited = Promise.withResolvers<ExitStatus>()
  const closed = Promise.withResolvers<void>()
  child.once('exit', (code, signal) => {
    running.delete(child)
    exited.resolve({ code, signal })
  })
  child.once('close', () => closed.resolve())
  child.on('error', (error) => {
    // Only a failed spawn ends here without an 'exit'; a failed kill is logged and changes nothing.
    if (child.pid === undefined) {
      exited.resolve({ code: null, signal: null, error })
      closed.resolve()
    } else {
      log(`pid ${child.pid}: ${error.message}`)
    }
  })
  const ended = exited.promise.then(async (status) => {
    const ac = new AbortController()
    await Promise.race([closed.promise, delay(1000, undefined, { signal: ac.signal }).catch(() => {})])
    ac.abort()
    return status
  })
  return { exited: exited.promise, ended }
}

function readLines(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', onLine)
}

export function describeExit(status: ExitStatus): string {
  if (status.error) return `could not spawn: ${status.error.message}`
  return status.signal ? `signal ${status.signal}` : `code ${status.code}`
}
