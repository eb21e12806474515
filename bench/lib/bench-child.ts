// A server under test in a child process, so that it runs on its own core and its memory is its own. The
// parent starts it, asks it for its memory and stops it over the IPC channel; `serveParent` is the child's side.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { getHeapSpaceStatistics } from 'node:v8'

/** What the child says once it listens. */
export interface ChildReady {
  readonly port: number
  /** The statelab server's admin HTTP port. */
  readonly adminPort?: number
}

/** The child's `process.memoryUsage()` after two full collections, and the connections it holds. */
export interface ChildMemory {
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
  /** Bytes V8 reserved and used per heap space (new_space, old_space ...): where heapTotal went. */
  readonly spaces: Readonly<Record<string, { readonly size: number; readonly used: number }>>
  readonly connections: number
}

type ToChild = { readonly type: 'memory' } | { readonly type: 'stop' }
type FromChild =
  | { readonly type: 'ready'; readonly ready: ChildReady }
  | { readonly type: 'memory'; readonly memory: ChildMemory }
  | { readonly type: 'failed'; readonly message: string }

/** How long a child may take to start, to answer, and to stop before it is killed. */
const START_TIMEOUT_MS = 15_000
const ANSWER_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000

/** A running child, as the bench drives it. */
export class BenchChild {
  readonly ready: ChildReady
  readonly #child: ChildProcess
  readonly #exited: Promise<unknown>

  private constructor(child: ChildProcess, ready: ChildReady, exited: Promise<unknown>) {
    this.#child = child
    this.ready = ready
    this.#exited = exited
  }

  /**
   * Spawns `node [execArgv] script [args]` with `--expose-gc`, its output going to our stderr (stdout is the
   * bench's table), and waits until it listens. Kills it if it does not say so in time.
   */
  static async start(
    script: string,
    args: readonly string[],
    execArgv: readonly string[] = [],
  ): Promise<BenchChild> {
    const child = spawn(process.execPath, ['--expose-gc', ...execArgv, script, ...args], {
      stdio: ['ignore', 2, 2, 'ipc'],
    })
    const exited = once(child, 'exit').catch(() => {})
    let timer: NodeJS.Timeout | undefined
    const ready = new Promise<ChildReady>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${script} did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      )
      child.on('message', (message: FromChild) => {
        if (message.type === 'ready') resolve(message.ready)
        if (message.type === 'failed') reject(new Error(`${script}: ${message.message}`))
      })
      child.once('error', reject)
      child.once('exit', (code, signal) =>
        reject(new Error(`${script} exited (${signal ?? code}) before listening`)),
      )
    }).finally(() => clearTimeout(timer))
    try {
      return new BenchChild(child, await ready, exited)
    } catch (err) {
      child.kill('SIGKILL')
      await exited
      throw err
    }
  }

  get pid(): number | undefined {
    return this.#child.pid
  }

  /** The child's memory, measured after it collected its garbage. */
  async memory(): Promise<ChildMemory> {
    const answer = this.#answer('memory')
    this.#send({ type: 'memory' })
    return (await answer).memory
  }

  /** Asks the child to close its server and exit (so that a `--cpu-prof` profile is written); kills it after a while. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#send({ type: 'stop' })
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await this.#exited
    clearTimeout(timer)
  }

  #send(message: ToChild): void {
    if (this.#child.connected) this.#child.send(message)
  }

  #answer<T extends FromChild['type']>(type: T): Promise<Extract<FromChild, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromChild) => {
        if (message.type !== type) return
        done()
        resolve(message as Extract<FromChild, { type: T }>)
      }
      const onExit = () => {
        done()
        reject(new Error('the child exited before answering'))
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`the child did not answer "${type}" within ${ANSWER_TIMEOUT_MS} ms`))
      }, ANSWER_TIMEOUT_MS)
      const done = () => {
        clearTimeout(timer)
        this.#child.off('message', onMessage)
        this.#child.off('exit', onExit)
      }
      this.#child.on('message', onMessage)
      this.#child.once('exit', onExit)
    })
  }
}

/**
 * The child's side: says `ready`, answers `memory`, and on `stop` (or when the parent goes away) runs `stop`
 * and exits. `start` failing is reported to the parent.
 */
export async function serveParent(handlers: {
  start(): Promise<ChildReady>
  stop(): Promise<void>
  /** Connections the server holds, so the parent can wait until every one it opened was accepted. */
  connections?(): number
}): Promise<void> {
  const send = (message: FromChild) => process.send?.(message)
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    try {
      await handlers.stop()
    } catch (err) {
      process.stderr.write(`bench child: stopping failed: ${(err as Error).message}\n`)
    }
    process.exit(0)
  }
  process.on('message', (message: ToChild) => {
    if (message.type === 'stop') void stop()
    if (message.type === 'memory')
      send({ type: 'memory', memory: settledMemory(handlers.connections?.() ?? 0) })
  })
  // The parent died or closed the channel: nothing will ever ask this child to stop.
  process.once('disconnect', () => void stop())
  process.once('SIGTERM', () => void stop())
  try {
    send({ type: 'ready', ready: await handlers.start() })
  } catch (err) {
    send({ type: 'failed', message: (err as Error).stack ?? String(err) })
    process.exit(1)
  }
}

/**
 * Allocates short-lived garbage worth twice the young generation, so that every one of its pages has been
 * touched (and counts in RSS) before and after alike: otherwise the first process to allocate a little more
 * would see pages it merely started using counted as memory its connections hold.
 */
function touchYoungGeneration(): number {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0
  let sum = 0
  for (let allocated = 0; allocated < 2 * young; allocated += 1024)
    sum += new Array<number>(120).fill(1).length
  return sum
}

function settledMemory(connections: number): ChildMemory {
  if (!globalThis.gc) throw new Error('run with node --expose-gc')
  touchYoungGeneration()
  // Twice: the first pass may only promote objects that the second frees.
  globalThis.gc()
  globalThis.gc()
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]),
  )
  return { rss, heapUsed, heapTotal, external, arrayBuffers, spaces, connections }
}
