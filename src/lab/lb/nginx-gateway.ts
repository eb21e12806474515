// nginx as the lab's gateway: a child process on a free port of 127.0.0.1, everything it writes in a
// temporary directory. nginx (without Plus) has no runtime API: a change of servers rewrites the
// configuration and reloads it (SIGHUP), and the access log tells which servers took each request.
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LabGateway } from '../experiments/lab-environment.ts'
import type { Replica } from '../supervisor.ts'
import type { LbGatewayOptions } from './index.ts'
import type { LbConfig } from './lb-config.ts'
import { childPids, findFreePort, findLbBinary, LbProcess, sleepSync } from './lb-process.ts'
import { renderNginxConfig } from './nginx-config.ts'

const HOST = '127.0.0.1'
const POLL_MS = 10
const RELOAD_TIMEOUT_MS = 5000
/** An address in an `upstream=a:1, b:2` access log field. */
const UPSTREAM_ADDRESS = /\d{1,3}(?:\.\d{1,3}){3}:\d+|\[[0-9a-fA-F:]+\]:\d+/g

/** nginx retitles a worker that finishes its last requests before exiting. */
function isShuttingDown(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('shutting down')
  } catch {
    return true
  }
}

/** nginx in front of one pool of replicas. */
export class NginxGateway implements LabGateway {
  readonly url: string
  readonly #process: LbProcess
  readonly #dir: string
  readonly #config: LbConfig
  #listed: string[]

  private constructor(url: string, child: LbProcess, dir: string, config: LbConfig) {
    this.url = url
    this.#process = child
    this.#dir = dir
    this.#config = config
    this.#listed = [...config.pools[0]!.backends]
  }

  static async open(options: LbGatewayOptions): Promise<NginxGateway> {
    const binary = findLbBinary('nginx')
    const dir = await mkdtemp(join(tmpdir(), 'statelab-nginx-'))
    try {
      const port = await findFreePort(HOST)
      const config: LbConfig = {
        ...options.config,
        listen: { host: HOST, port },
        https: undefined,
        pools: [{ ...options.pool, backends: options.replicas.map((r) => new URL(r.url).host) }],
        runtime: { dir, slots: 0 },
      }
      // nginx checks its log directory before reading the configuration: -p gives it one here.
      await mkdir(join(dir, 'logs'))
      writeFileSync(join(dir, 'nginx.conf'), renderNginxConfig(config))
      const child = await LbProcess.start({
        command: binary,
        args: ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
        cwd: dir,
        host: HOST,
        port,
        log: options.log,
      })
      return new NginxGateway(`http://${HOST}:${port}`, child, dir, config)
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  setBackends(replicas: readonly Replica[]): void {
    this.#reload(replicas.map((replica) => new URL(replica.url).host))
  }

  /**
   * The replica leaves the configuration; the workers of the old one finish their requests in flight (to
   * it among others) and exit: then it is drained.
   */
  async drain(replica: Replica): Promise<void> {
    const address = new URL(replica.url).host
    if (!this.#listed.includes(address)) return
    const old = this.#reload(this.#listed.filter((a) => a !== address))
    while (childPids(this.#process.pid).some((pid) => old.includes(pid))) await sleep(POLL_MS)
  }

  /** Listed, and answering its health check: nginx has no active checks of its own to wait for. */
  async waitUntilRouted(replica: Replica, timeoutMs = 5000): Promise<boolean> {
    if (!this.#listed.includes(new URL(replica.url).host)) return false
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const ok = await fetch(`${replica.url}${this.#config.health.path}`, {
        signal: AbortSignal.timeout(1000),
      }).then(
        (reply) => reply.ok,
        () => false,
      )
      if (ok) return true
      if (performance.now() >= deadline) return false
      await sleep(POLL_MS * 5)
    }
  }

  forwarded(): number {
    let log: string
    try {
      log = readFileSync(join(this.#dir, 'access.log'), 'utf8')
    } catch {
      return 0
    }
    let count = 0
    for (const line of log.split('\n')) {
      const upstream = line.slice(line.lastIndexOf('upstream=') + 'upstream='.length)
      count += upstream.match(UPSTREAM_ADDRESS)?.length ?? 0
    }
    return count
  }

  async close(): Promise<void> {
    try {
      await this.#process.stop()
    } finally {
      await rm(this.#dir, { recursive: true, force: true })
    }
  }

  /**
   * Rewrites the configuration with `addresses` and reloads it; returns once new workers run it and the old
   * ones accept no more connections, with the pids of those old ones that still finish requests in flight.
   */
  #reload(addresses: readonly string[]): number[] {
    if (addresses.join() === this.#listed.join()) return []
    const pool = { ...this.#config.pools[0]!, backends: addresses }
    writeFileSync(join(this.#dir, 'nginx.conf'), renderNginxConfig({ ...this.#config, pools: [pool] }))
    this.#listed = [...addresses]
    const old = childPids(this.#process.pid)
    this.#process.signal('SIGHUP')
    const deadline = performance.now() + RELOAD_TIMEOUT_MS
    while (!childPids(this.#process.pid).some((pid) => !old.includes(pid))) {
      if (performance.now() >= deadline)
        throw new Error(`${this.#process} did not reload its configuration within ${RELOAD_TIMEOUT_MS} ms`)
      sleepSync(POLL_MS)
    }
    // An old worker that has not yet been told to stop still accepts connections, with the old servers.
    while (performance.now() < deadline) {
      const left = childPids(this.#process.pid).filter((pid) => old.includes(pid))
      if (left.every(isShuttingDown)) return left
      sleepSync(POLL_MS)
    }
    return old
  }
}
