// HAProxy as the lab's gateway: a child process on a free port of 127.0.0.1 whose servers the lab sets,
// drains and counts over the runtime API (a UNIX socket in a temporary directory), without reloads.
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LabGateway } from '../experiments/lab-environment.ts'
import type { Replica } from '../supervisor.ts'
import { haproxyServerName, renderHaproxyConfig } from './haproxy-config.ts'
import type { LbGatewayOptions } from './index.ts'
import { findFreePort, findLbBinary, LbProcess } from './lb-process.ts'

/** Servers declared per backend: more than the lab ever runs at once (10), as a replica never reuses a slot. */
const SLOTS = 64
const POLL_MS = 25
const HOST = '127.0.0.1'

/**
 * Sends `commands` (`;`-separated, as HAProxy's CLI takes them) to the runtime API at `socket` and
 * resolves with the answer.
 */
function haproxyCommand(socket: string, commands: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = ''
    const client = connect(socket)
    client.setEncoding('utf8')
    client.on('data', (chunk: string) => {
      answer += chunk
    })
    client.once('end', () => resolve(answer))
    client.once('error', reject)
    client.write(`${commands}\n`)
  })
}

/**
 * {@link haproxyCommand}, blocking: run in a child process, because `setBackends` and `forwarded` are
 * synchronous in {@link LabGateway} (the built-in gateway answers them from memory).
 */
function haproxyCommandSync(socket: string, commands: string): string {
  return execFileSync(process.execPath, [import.meta.filename, socket, commands], { encoding: 'utf8' })
}

// Run as a script by haproxyCommandSync.
if (process.argv[1] === import.meta.filename) {
  const [socket = '', commands = ''] = process.argv.slice(2)
  process.stdout.write(await haproxyCommand(socket, commands))
}

/** One server row of `show stat`. */
interface ServerStat {
  readonly name: string
  /** UP, DOWN, MAINT, DRAIN, "UP 1/2" (going down)... */
  readonly status: string
  /** Requests (streams) in flight. */
  readonly current: number
  /** Requests sent to it so far; a redispatched one counts on each server tried. */
  readonly total: number
}

function parseStat(csv: string, backend: string): ServerStat[] {
  const [header = '', ...rows] = csv.split('\n').filter((line) => line.trim() !== '')
  const columns = header.replace(/^# /, '').split(',')
  const at = (name: string) => columns.indexOf(name)
  const [px, sv, status, scur, stot] = ['pxname', 'svname', 'status', 'scur', 'stot'].map(at)
  return rows
    .map((row) => row.split(','))
    .filter((cells) => cells[px!] === backend && /^s\d+$/.test(cells[sv!] ?? ''))
    .map((cells) => ({
      name: cells[sv!]!,
      status: cells[status!] ?? '',
      current: Number(cells[scur!]),
      total: Number(cells[stot!]),
    }))
}

/** HAProxy in front of one pool of replicas. */
export class HaproxyGateway implements LabGateway {
  readonly url: string
  readonly #process: LbProcess
  readonly #dir: string
  readonly #socket: string
  readonly #backend: string
  /** Slot index (from 1) of every replica URL the backend has had; a URL keeps its slot. */
  readonly #slots = new Map<string, number>()
  #listed = new Set<string>()

  private constructor(
    url: string,
    child: LbProcess,
    dir: string,
    backend: string,
    initial: readonly string[],
  ) {
    this.url = url
    this.#process = child
    this.#dir = dir
    this.#socket = join(dir, 'haproxy.sock')
    this.#backend = backend
    for (const [i, replicaUrl] of initial.entries()) this.#slots.set(replicaUrl, i + 1)
    this.#listed = new Set(initial)
  }

  static async open(options: LbGatewayOptions): Promise<HaproxyGateway> {
    const binary = findLbBinary('haproxy')
    const dir = await mkdtemp(join(tmpdir(), 'statelab-haproxy-'))
    try {
      const port = await findFreePort(HOST)
      const urls = options.replicas.map((replica) => replica.url)
      const config = renderHaproxyConfig({
        ...options.config,
        listen: { host: HOST, port },
        pools: [{ ...options.pool, backends: urls.map(hostPort) }],
        runtime: { dir, slots: SLOTS },
      })
      const file = join(dir, 'haproxy.cfg')
      await writeFile(file, config)
      const child = await LbProcess.start({
        command: binary,
        // -db: stay in the foreground (no daemon), so the lab owns the process.
        args: ['-f', file, '-db'],
        cwd: dir,
        host: HOST,
        port,
        log: options.log,
      })
      return new HaproxyGateway(`http://${HOST}:${port}`, child, dir, options.pool.name, urls)
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  setBackends(replicas: readonly Replica[]): void {
    const wanted = new Set(replicas.map((replica) => replica.url))
    const commands: string[] = []
    for (const url of wanted) {
      let slot = this.#slots.get(url)
      if (slot === undefined) {
        slot = this.#slots.size + 1
        if (slot > SLOTS) throw new RangeError(`HAProxy gateway: more than ${SLOTS} replica addresses`)
        this.#slots.set(url, slot)
        const { hostname, port } = new URL(url)
        commands.push(`set server ${this.#server(slot)} addr ${hostname} port ${port}`)
        // A new replica answered its health check already (the supervisor waits for it): no need to wait for
        // HAProxy's own first check, just as the built-in gateway starts new backends healthy.
        commands.push(`set server ${this.#server(slot)} health up`)
      }
      commands.push(`set server ${this.#server(slot)} state ready`)
    }
    for (const url of this.#listed)
      if (!wanted.has(url)) commands.push(`set server ${this.#server(this.#slots.get(url)!)} state maint`)
    this.#listed = wanted
    if (commands.length > 0) haproxyCommandSync(this.#socket, commands.join('; '))
  }

  /**
   * Maintenance rather than HAProxy's "drain" state: "drain" keeps sending sticky clients, and the lab's
   * drain is strict (the built-in gateway's), so that stopping the replica afterwards breaks no request.
   */
  async drain(replica: Replica): Promise<void> {
    const slot = this.#slots.get(replica.url)
    if (slot === undefined || !this.#listed.has(replica.url)) return
    this.#listed.delete(replica.url)
    await haproxyCommand(this.#socket, `set server ${this.#server(slot)} state maint`)
    while ((await this.#stat()).find((s) => s.name === haproxyServerName(slot))?.current) await sleep(POLL_MS)
  }

  async waitUntilRouted(replica: Replica, timeoutMs = 5000): Promise<boolean> {
    const slot = this.#slots.get(replica.url)
    if (slot === undefined) return false
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const server = (await this.#stat()).find((s) => s.name === haproxyServerName(slot))
      if (server?.status === 'UP') return true
      if (performance.now() >= deadline) return false
      await sleep(POLL_MS)
    }
  }

  forwarded(): number {
    const stats = parseStat(haproxyCommandSync(this.#socket, 'show stat'), this.#backend)
    return stats.reduce((sum, server) => sum + server.total, 0)
  }

  async close(): Promise<void> {
    try {
      await this.#process.stop()
    } finally {
      await rm(this.#dir, { recursive: true, force: true })
    }
  }

  async #stat(): Promise<ServerStat[]> {
    return parseStat(await haproxyCommand(this.#socket, 'show stat'), this.#backend)
  }

  #server(slot: number): string {
    return `${this.#backend}/${haproxyServerName(slot)}`
  }
}

function hostPort(url: string): string {
  return new URL(url).host
}
