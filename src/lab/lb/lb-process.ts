// A load balancer run by the lab as a child process: found on the machine, started in its own process
// group on 127.0.0.1, ready when its port accepts connections, and stopped with everything it started.
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs'
import { createServer, connect as netConnect } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AppError } from '../../core/errors.ts'
import type { LbName } from './lb-config.ts'

/** Root's binaries live in /usr/sbin, which is not on every user's PATH. */
const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin']
const READY_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5000

/** The executable of `lb`, or `ERR_CONFIG` naming the Debian package that provides it. */
export function findLbBinary(lb: LbName): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN]
  for (const dir of dirs) {
    const file = join(dir, lb)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {}
  }
  throw new AppError(
    'ERR_CONFIG',
    `--lb ${lb}: no "${lb}" executable in PATH or ${SBIN.join(', ')}; install the Debian package "${lb}" (apt-get install ${lb}) or use --lb builtin`,
  )
}

/** A port of `host` nobody listens on right now (the load balancer binds it a moment later). */
export async function findFreePort(host: string): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The pids whose parent is `pid` (Linux `/proc`), e.g. nginx's workers. */
export function childPids(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // The command name (2nd field) may hold spaces; the parent pid is the 2nd field after its ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {}
  }
  return children
}

/** Blocks this thread for `ms` (for the few synchronous waits `LabGateway.setBackends` needs). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

export interface LbProcessOptions {
  readonly command: string
  readonly args: readonly string[]
  readonly cwd: string
  /** Ready once this address accepts a connection. */
  readonly port: number
  readonly host: string
  readonly log: (line: string) => void
}

/** One load balancer process, in a process group of its own so that a forced stop takes its workers too. */
export class LbProcess {
  readonly pid: number
  readonly #child: ChildProcess
  readonly #name: string
  readonly #exited: Promise<void>
  readonly #killOnExit = () => this.#killGroup('SIGKILL')
  #output = ''

  private constructor(child: ChildProcess, name: string, log: (line: string) => void) {
    this.#child = child
    this.pid = child.pid!
    this.#name = name
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8')
      stream?.on('data', (chunk: string) => {
        this.#output = (this.#output + chunk).slice(-4000)
        for (const line of chunk.split('\n')) if (line.trim()) log(`${name} | ${line}`)
      })
    }
    // The lab's own process may end without closing the gateway (an error, Ctrl-C): no orphan survives it.
    process.once('exit', this.#killOnExit)
  }

  /** Starts it and resolves when its port accepts connections; rejects with what it printed otherwise. */
  static async start(options: LbProcessOptions): Promise<LbProcess> {
    const name = options.command.split('/').at(-1)!
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve)
      child.once('error', reject)
    })
    const lb = new LbProcess(child, name, options.log)
    const deadline = performance.now() + READY_TIMEOUT_MS
    while (!(await accepts(options.host, options.port))) {
      if (child.exitCode !== null || child.signalCode !== null || performance.now() > deadline) {
        await lb.stop()
        throw new AppError(
          'ERR_CONFIG',
          `${name} did not start listening on ${options.host}:${options.port}: ${lb.#output.trim() || 'no output'}`,
        )
      }
      await sleep(20)
    }
    return lb
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, signal)
  }

  /**
   * SIGTERM (both stop at once: the lab closes a gateway once its users are done), then SIGKILL to the whole
   * group after 5 s; resolves once the process has exited.
   */
  async stop(): Promise<void> {
    if (this.running) {
      this.signal('SIGTERM')
      const timer = setTimeout(() => this.#killGroup('SIGKILL'), STOP_TIMEOUT_MS)
      await this.#exited
      clearTimeout(timer)
    }
    // Workers of a master that had to be killed would outlive it.
    this.#killGroup('SIGKILL')
    process.off('exit', this.#killOnExit)
  }

  #killGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal)
    } catch {}
  }

  toString(): string {
    return `${this.#name} (pid ${this.pid})`
  }
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
