// npm run bench:tcp [-- --quick] [-- --profile] [-- --only stream|sessions|files ...]
//
// Measures the statelab TCP server (docs/protocol.md), each time in a child process of its own, against
// baselines measured in the same run on the same loopback and disk:
//   1. one large stateless transfer (1 GiB, --quick 128 MiB, generated on the fly) against the same bytes piped
//      from a raw socket into a file write stream in another child;
//   2. 10,000 (--quick 2,000) idle, heartbeating stateful sessions: the server's RSS and heap per session,
//      against as many idle connections to a plain net.Server;
//   3. 1,000 (--quick 200) clients sending 10 files of 4 KiB each: stateful against stateless.
// Prints a table on stdout, progress on stderr, and writes everything to bench/results/tcp-<time>.json.
// Everything it writes goes into one temp directory, deleted at the end; it stops only the children it started.

import { execFileSync } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  formatBytes,
  formatCount,
  formatMicros,
  formatRatio,
  formatSize,
  formatTable,
  Progress,
} from '../src/cli/report.ts'
import type { TcpConfigOverrides } from '../src/tcp/tcp-config.ts'
import { BenchChild, type ChildMemory } from './lib/bench-child.ts'
import { type CpuProfile, monotonicMicros, summarizeCpuProfile, type Window } from './lib/cpu-profile.ts'
import {
  BenchSession,
  FrameClient,
  openSocket,
  type ReplyHeader,
  sendRaw,
  statelessHeader,
} from './lib/frame-client.ts'
import { forEachConcurrently, Histogram } from './lib/measure.ts'
import {
  describeRun,
  formatCheck,
  RESULTS_DIR,
  runBenchmark,
  type TargetCheck,
  timeBudget,
  writeResults,
} from './lib/run.ts'

interface Settings {
  /** Bytes of the one large transfer. */
  readonly streamBytes: number
  /** Turns each way of sending it takes, alternating. */
  readonly streamRounds: number
  /** Idle stateful sessions held at once. */
  readonly sessions: number
  /** How long connecting them may take; the memory is then measured on those that made it. */
  readonly connectBudgetMs: number
  /** Times every held session sends a heartbeat, with a pause between rounds. */
  readonly heartbeatRounds: number
  readonly clients: number
  readonly filesPerClient: number
  readonly fileBytes: number
  /** The whole run stops starting phases after this. */
  readonly budgetMs: number
}

const FULL: Settings = {
  streamBytes: 2 ** 30,
  streamRounds: 2,
  sessions: 10_000,
  connectBudgetMs: 30_000,
  heartbeatRounds: 2,
  clients: 1_000,
  filesPerClient: 10,
  fileBytes: 4096,
  budgetMs: 150_000,
}
const QUICK: Settings = {
  ...FULL,
  streamBytes: 128 * 2 ** 20,
  // Short turns are noisier, and three of them still take only a few seconds.
  streamRounds: 3,
  sessions: 2_000,
  connectBudgetMs: 12_000,
  clients: 200,
  budgetMs: 40_000,
}

/** The buffer the large transfer repeats: never more than this of it is in memory. */
const CHUNK_BYTES = 2 ** 20
/** Connections or sessions being opened at once (below the server's listen backlog of 511). */
const OPEN_CONCURRENCY = 200
/** Sessions and connections opened, used and closed before a memory measurement, so that code is compiled. */
const WARMUP_CONNECTIONS = 100
const HEARTBEAT_PAUSE_MS = 500
/**
 * Both children of the memory test run with a young generation of fixed size (V8 otherwise grows it, by tens
 * of MB at once, in a process that allocates fast), so that RSS growth is what the sessions hold.
 */
const PINNED_YOUNG_GENERATION = ['--min-semi-space-size=16', '--max-semi-space-size=16']
/** Latencies here reach seconds (a thousand clients queue on one disk): counted in µs, not ns. */
const LATENCY_RESOLUTION_NS = 1000
/** File descriptors kept free for everything else a process opens. */
const SPARE_FDS = 200
const MIME = 'application/octet-stream'
const TARGETS = { streamRatio: 0.8, bytesPerSession: 2048 } as const

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    help: { type: 'boolean', default: false },
  },
})
const PARTS = ['stream', 'sessions', 'files'] as const
type Part = (typeof PARTS)[number]
for (const part of args.only ?? []) {
  if (!(PARTS as readonly string[]).includes(part))
    throw new TypeError(`--only must be one of ${PARTS.join(', ')}; got ${JSON.stringify(part)}`)
}
/** The parts this run measures: all of them unless --only names some. */
const parts: ReadonlySet<Part> = new Set((args.only as Part[] | undefined) ?? PARTS)
if (args.help) {
  process.stdout.write(
    'usage: npm run bench:tcp [-- --quick] [-- --profile] [-- --only stream|sessions|files ...]\n' +
      '  Benchmarks the statelab TCP server against raw-socket baselines on 127.0.0.1; --quick is smaller.\n' +
      '  --profile runs each server child under --cpu-prof and prints where its time went.\n' +
      '  --only measures just the parts named (repeatable); the others are reported as not measured.\n',
  )
  process.exit(0)
}

const settings = args.quick ? QUICK : FULL
const startedAt = new Date()
const stamp = startedAt.toISOString().replaceAll(':', '-')
const progress = new Progress(process.stderr)
const interrupt = new AbortController()
process.once('SIGINT', () => {
  progress.note('interrupted: finishing the current step, then cleaning up')
  interrupt.abort(new Error('interrupted'))
})
/** Throws unless `ms` more fits in the run's budget and nobody pressed Ctrl-C. */
const assertTimeFor = timeBudget(settings.budgetMs, interrupt.signal)
const profileDir = join(RESULTS_DIR, `tcp-${stamp}-profiles`)
const scratch = mkdtempSync(join(tmpdir(), 'statelab-bench-tcp-'))
const serverScript = fileURLToPath(new URL('./lib/tcp-server-child.ts', import.meta.url))
const baselineScript = fileURLToPath(new URL('./lib/tcp-baseline-child.ts', import.meta.url))
/** Every child still running, stopped at the end whatever happened. */
const children = new Set<BenchChild>()
const notes: string[] = []
/** With --profile: each server child's profile, and the windows in which it was measured. */
const profiles = new Map<string, Window[]>()

function note(text: string): void {
  notes.push(text)
  progress.note(text)
}

async function startChild(
  script: string,
  childArgs: readonly string[],
  options: { readonly profileName?: string; readonly execArgv?: readonly string[] } = {},
) {
  const { profileName, execArgv = [] } = options
  const profiling =
    args.profile && profileName
      ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profileName}.cpuprofile`]
      : []
  const child = await BenchChild.start(script, childArgs, [...execArgv, ...profiling])
  children.add(child)
  return child
}

async function stopChild(child: BenchChild): Promise<void> {
  children.delete(child)
  await child.stop()
}

/** A statelab server child storing files under a fresh folder of the scratch directory. */
async function startServer(name: string, overrides: TcpConfigOverrides, execArgv: readonly string[] = []) {
  const storage = join(scratch, name)
  const child = await startChild(
    serverScript,
    [JSON.stringify({ storagePath: storage, mode: 'dual', persistence: 'memory', ...overrides })],
    { profileName: `server-${name}`, execArgv },
  )
  const windows: Window[] = []
  if (args.profile) profiles.set(join(profileDir, `server-${name}.cpuprofile`), windows)
  /** Runs `work`, marking its span as measured in the server's profile. */
  const measured = async <T>(work: () => Promise<T>): Promise<T> => {
    const start = monotonicMicros()
    try {
      return await work()
    } finally {
      windows.push([start, monotonicMicros()])
    }
  }
  return { child, storage, measured, port: child.ready.port, adminPort: child.ready.adminPort! }
}

/** The soft limit on open files of this process (and so of its children), or undefined when unknown. */
function openFileLimit(): number | undefined {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out)
  } catch {
    return undefined
  }
}

/**
 * Writes the system's dirty pages out (`sync`), so that no turn pays for the writeback of the one before it.
 * Where there is no `sync` command the turns simply share that cost.
 */
function flushDisks(): void {
  try {
    execFileSync('sync', { stdio: 'ignore', timeout: 30_000 })
  } catch {}
}

/** A value of the server's Prometheus `/metrics`, without labels. */
async function metric(adminPort: number, name: string): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

/** Waits until `count()` is `expected` (connections accepted or closed by a child), for at most `ms`. */
async function waitFor(what: string, count: () => Promise<number>, expected: number, ms = 10_000) {
  const until = performance.now() + ms
  for (let n = await count(); n !== expected; n = await count()) {
    if (performance.now() > until) throw new Error(`${what}: ${n} instead of ${expected} after ${ms} ms`)
    await sleep(50)
  }
}

// ---------------------------------------------------------------------------------------------------------
// 1. One large stream

type StreamVariant = 'statelab' | 'pipe' | 'pipe+fsync'

interface StreamResult {
  readonly bytes: number
  /** Per variant: MB/s (10^6 bytes) over all its turns together. */
  readonly mbPerSec: Record<StreamVariant, number>
  readonly turns: { readonly variant: StreamVariant; readonly seconds: number; readonly mbPerSec: number }[]
  /** statelab / pipe, and statelab / pipe+fsync. */
  readonly ratio: number
  readonly ratioFsync: number
}

async function benchStream(): Promise<StreamResult> {
  const size = settings.streamBytes
  const chunk = randomFillSync(Buffer.alloc(CHUNK_BYTES))
  progress.phase(`stream: starting the statelab server and the baseline receivers`)
  const sinkDir = join(scratch, 'sink')
  mkdirSync(sinkDir)
  const starting = Promise.all([
    startServer('stream', { maxRequestSize: size, maxConnections: 10 }),
    startChild(baselineScript, ['sink', sinkDir]),
    startChild(baselineScript, ['sink', sinkDir, '--flush']),
  ])
  // The digest the server must report, computed while the children start.
  const hash = createHash('sha256')
  for (let left = size; left > 0; left -= CHUNK_BYTES)
    hash.update(chunk.subarray(0, Math.min(left, CHUNK_BYTES)))
  const expected = hash.digest('hex')
  const [server, pipe, pipeFsync] = await starting
  const emptyStorage = () => {
    rmSync(server.storage, { recursive: true, force: true })
    mkdirSync(join(server.storage, '.tmp'), { recursive: true })
  }

  const send: Record<StreamVariant, () => Promise<void>> = {
    async statelab() {
      const client = await FrameClient.open(server.port)
      let ack: ReplyHeader
      try {
        ack = await client.stream(statelessHeader(MIME, size, 'stream.bin'), chunk, size)
      } finally {
        client.destroy()
      }
      if (ack.type !== 'ack' || ack.file_size !== size || ack.sha256 !== expected)
        throw new Error(`the server stored something else: ${JSON.stringify(ack)}`)
    },
    async pipe() {
      const answer = await sendRaw(pipe.ready.port, chunk, size)
      if (Number(answer) !== size) throw new Error(`the baseline wrote ${answer} bytes instead of ${size}`)
    },
    async 'pipe+fsync'() {
      const answer = await sendRaw(pipeFsync.ready.port, chunk, size)
      if (Number(answer) !== size) throw new Error(`the baseline wrote ${answer} bytes instead of ${size}`)
    },
  }
  const variants: StreamVariant[] = ['pipe', 'statelab', 'pipe+fsync']
  const turns: StreamResult['turns'] = []
  try {
    for (let round = 0; round < settings.streamRounds; round++) {
      // Alternating the order, so that whatever the disk is still doing from one turn hits each side alike.
      for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
        assertTimeFor(size / 100_000) // 100 MB/s at worst
        progress.phase(
          `stream: ${formatSize(size)} via ${variant}, turn ${round + 1} of ${settings.streamRounds}`,
        )
        flushDisks()
        const started = performance.now()
        await (variant === 'statelab' ? server.measured(send[variant]) : send[variant]())
        const seconds = (performance.now() - started) / 1000
        turns.push({ variant, seconds, mbPerSec: size / seconds / 1e6 })
        // Deleted at once: the disk holds one copy at a time, and the next turn starts from the same state.
        emptyStorage()
        for (const file of readdirSync(sinkDir)) rmSync(join(sinkDir, file))
      }
    }
  } finally {
    await Promise.all([stopChild(server.child), stopChild(pipe), stopChild(pipeFsync)])
  }
  const overall = (variant: StreamVariant) => {
    const mine = turns.filter((t) => t.variant === variant)
    return (mine.length * size) / mine.reduce((sum, t) => sum + t.seconds, 0) / 1e6
  }
  const mbPerSec = {
    statelab: overall('statelab'),
    pipe: overall('pipe'),
    'pipe+fsync': overall('pipe+fsync'),
  }
  return {
    bytes: size,
    mbPerSec,
    turns,
    ratio: mbPerSec.statelab / mbPerSec.pipe,
    ratioFsync: mbPerSec.statelab / mbPerSec['pipe+fsync'],
  }
}

// ---------------------------------------------------------------------------------------------------------
// 2. Many idle sessions

interface PerSession {
  readonly rssBytes: number
  readonly heapBytes: number
}

interface SessionsResult {
  readonly requested: number
  /** Sessions actually held while measured (fewer when connecting ran out of time). */
  readonly sessions: number
  readonly connectSeconds: number
  readonly connectPerSec: number
  readonly connectP50Us: number
  readonly connectP99Us: number
  readonly heartbeats: number
  readonly heartbeatP50Us: number
  readonly heartbeatP99Us: number
  /** What the server's /metrics said while they were held. */
  readonly metrics: { readonly sessionsLive?: number; readonly connectionsOpen?: number }
  readonly statelab: PerSession & { readonly before: ChildMemory; readonly after: ChildMemory }
  readonly baseline: PerSession & { readonly before: ChildMemory; readonly after: ChildMemory }
  /** statelab minus baseline: what a session costs beyond its socket. */
  readonly beyondSocket: PerSession
}

function perSession(before: ChildMemory, after: ChildMemory, count: number): PerSession {
  return { rssBytes: (after.rss - before.rss) / count, heapBytes: (after.heapUsed - before.heapUsed) / count }
}

/** A new connection with a session on it. */
async function openSession(port: number): Promise<BenchSession> {
  const client = await FrameClient.open(port)
  try {
    return await BenchSession.connect(client)
  } catch (err) {
    client.destroy()
    throw err
  }
}

async function benchSessions(requested: number): Promise<SessionsResult> {
  const capacity = requested + WARMUP_CONNECTIONS + 100
  const server = await startServer(
    'sessions',
    { maxConnections: capacity, maxSessions: capacity, connectRate: 1_000_000 },
    PINNED_YOUNG_GENERATION,
  )
  const held: BenchSession[] = []
  const connect = new Histogram({ resolutionNs: LATENCY_RESOLUTION_NS })
  const heartbeat = new Histogram({ resolutionNs: LATENCY_RESOLUTION_NS })
  const openConnections = async () => Number(await metric(server.adminPort, 'statelab_tcp_connections_open'))
  let statelab: SessionsResult['statelab']
  let connectSeconds: number
  let metrics: SessionsResult['metrics']
  try {
    progress.phase(`sessions: warming up the server with ${WARMUP_CONNECTIONS} sessions`)
    await forEachConcurrently(WARMUP_CONNECTIONS, OPEN_CONCURRENCY, async () => {
      const session = await openSession(server.port)
      await session.heartbeat()
      await session.disconnect()
      session.client.destroy()
    })
    await waitFor('statelab connections after the warm-up', openConnections, 0)
    const before = await server.child.memory()

    const connectUntil = performance.now() + settings.connectBudgetMs
    const started = performance.now()
    let timedOut = false
    await server.measured(() =>
      forEachConcurrently(requested, OPEN_CONCURRENCY, async (i) => {
        interrupt.signal.throwIfAborted()
        if (performance.now() > connectUntil) {
          timedOut = true
          return
        }
        if (i % 500 === 0)
          progress.phase(`sessions: connecting, ${formatCount(held.length)} of ${formatCount(requested)}`)
        const t = performance.now()
        held.push(await openSession(server.port))
        connect.record((performance.now() - t) * 1e6)
      }),
    )
    connectSeconds = (performance.now() - started) / 1000
    if (timedOut)
      note(
        `sessions: only ${formatCount(held.length)} of ${formatCount(requested)} sessions connected within ` +
          `${settings.connectBudgetMs / 1000} s; memory is measured on those`,
      )
    for (let round = 0; round < settings.heartbeatRounds; round++) {
      assertTimeFor(5000)
      progress.phase(
        `sessions: heartbeat round ${round + 1} of ${settings.heartbeatRounds} over ${formatCount(held.length)} sessions`,
      )
      await sleep(HEARTBEAT_PAUSE_MS)
      await server.measured(() =>
        forEachConcurrently(held.length, OPEN_CONCURRENCY, async (i) => {
          const t = performance.now()
          await held[i]!.heartbeat()
          heartbeat.record((performance.now() - t) * 1e6)
        }),
      )
    }
    progress.phase(`sessions: measuring the server's memory with ${formatCount(held.length)} sessions held`)
    metrics = {
      sessionsLive: await metric(server.adminPort, 'statelab_tcp_sessions_live'),
      connectionsOpen: await metric(server.adminPort, 'statelab_tcp_connections_open'),
    }
    const after = await server.child.memory()
    statelab = { before, after, ...perSession(before, after, held.length) }
  } finally {
    for (const session of held) session.client.destroy()
    await stopChild(server.child)
  }

  // The baseline holds exactly as many connections as statelab held sessions.
  const count = held.length
  const idle = await startChild(baselineScript, ['idle'], { execArgv: PINNED_YOUNG_GENERATION })
  const sockets: Socket[] = []
  let baseline: SessionsResult['baseline']
  try {
    const connections = async () => (await idle.memory()).connections
    progress.phase(`sessions: baseline, ${WARMUP_CONNECTIONS} connections to warm up`)
    const warm: Socket[] = []
    await forEachConcurrently(WARMUP_CONNECTIONS, OPEN_CONCURRENCY, async () => {
      warm.push(await openSocket(idle.ready.port))
    })
    await waitFor('baseline connections during the warm-up', connections, WARMUP_CONNECTIONS)
    for (const socket of warm) socket.destroy()
    await waitFor('baseline connections after the warm-up', connections, 0)
    const before = await idle.memory()
    progress.phase(`sessions: baseline, ${formatCount(count)} idle connections to a plain net.Server`)
    await forEachConcurrently(count, OPEN_CONCURRENCY, async () => {
      interrupt.signal.throwIfAborted()
      sockets.push(await openSocket(idle.ready.port))
    })
    await waitFor('baseline connections', connections, count)
    const after = await idle.memory()
    baseline = { before, after, ...perSession(before, after, count) }
  } finally {
    for (const socket of sockets) socket.destroy()
    await stopChild(idle)
  }
  return {
    requested,
    sessions: count,
    connectSeconds,
    connectPerSec: count / connectSeconds,
    connectP50Us: connect.quantileNs(0.5) / 1000,
    connectP99Us: connect.quantileNs(0.99) / 1000,
    heartbeats: heartbeat.count,
    heartbeatP50Us: heartbeat.quantileNs(0.5) / 1000,
    heartbeatP99Us: heartbeat.quantileNs(0.99) / 1000,
    metrics,
    statelab,
    baseline,
    beyondSocket: {
      rssBytes: statelab.rssBytes - baseline.rssBytes,
      heapBytes: statelab.heapBytes - baseline.heapBytes,
    },
  }
}

// ---------------------------------------------------------------------------------------------------------
// 3. Many clients, small files

type FilesMode = 'stateless' | 'stateful'

interface FilesStats {
  readonly files: number
  readonly seconds: number
  readonly filesPerSec: number
  readonly p50Us: number
  readonly p99Us: number
  /** Files/s of each turn, in the order they ran. */
  readonly turns: readonly number[]
  /** Stateful only: `connect` until `session_created`. */
  readonly connectP50Us?: number
  readonly connectP99Us?: number
}

interface FilesResult {
  readonly clients: number
  readonly filesPerClient: number
  readonly fileBytes: number
  readonly stateless: FilesStats
  readonly stateful: FilesStats
  /** stateful / stateless files/s, and the latencies' ratios. */
  readonly ratio: { readonly filesPerSec: number; readonly p50: number; readonly p99: number }
}

/** Connections (and, stateful, a session on each), all open before any clock starts, that send files in turns. */
class FileClients {
  readonly mode: FilesMode
  readonly #opened: { readonly client: FrameClient; readonly session?: BenchSession }[] = []
  readonly #connect = new Histogram({ resolutionNs: LATENCY_RESOLUTION_NS })
  readonly #latency = new Histogram({ resolutionNs: LATENCY_RESOLUTION_NS })
  readonly #payload: Buffer
  #seconds = 0
  #sent = 0
  readonly #turns: number[] = []

  private constructor(mode: FilesMode, payload: Buffer) {
    this.mode = mode
    this.#payload = payload
  }

  /** `clients` connections to `port`; on each a session when `mode` is stateful. */
  static async open(port: number, mode: FilesMode, clients: number, payload: Buffer): Promise<FileClients> {
    const group = new FileClients(mode, payload)
    try {
      await forEachConcurrently(clients, OPEN_CONCURRENCY, async () => {
        interrupt.signal.throwIfAborted()
        const client = await FrameClient.open(port)
        if (mode === 'stateless') {
          group.#opened.push({ client })
          return
        }
        const t = performance.now()
        try {
          group.#opened.push({ client, session: await BenchSession.connect(client) })
        } catch (err) {
          client.destroy()
          throw err
        }
        group.#connect.record((performance.now() - t) * 1e6)
      })
    } catch (err) {
      group.destroy()
      throw err
    }
    return group
  }

  /**
   * Every client sends `files` files, one after the other, all clients at once. The window adds to the
   * group's time; latency is per file, header to ack.
   */
  async send(files: number): Promise<void> {
    const payload = this.#payload
    const first = this.#sent
    const started = performance.now()
    await forEachConcurrently(this.#opened.length, this.#opened.length, async (c) => {
      const { client, session } = this.#opened[c]!
      for (let f = first; f < first + files; f++) {
        const t = performance.now()
        const ack = session
          ? await session.transfer(payload, MIME, `file-${f}.bin`)
          : await client.request(statelessHeader(MIME, payload.length, `file-${f}.bin`), payload)
        this.#latency.record((performance.now() - t) * 1e6)
        if (ack.type !== 'ack' || ack.file_size !== payload.length)
          throw new Error(`unexpected reply: ${JSON.stringify(ack)}`)
      }
    })
    const seconds = (performance.now() - started) / 1000
    this.#seconds += seconds
    this.#sent += files
    this.#turns.push((files * this.#opened.length) / seconds)
  }

  get stats(): FilesStats {
    const latency = this.#latency
    return {
      files: latency.count,
      seconds: this.#seconds,
      filesPerSec: latency.count / this.#seconds,
      p50Us: latency.quantileNs(0.5) / 1000,
      p99Us: latency.quantileNs(0.99) / 1000,
      turns: [...this.#turns],
      ...(this.mode === 'stateful' && {
        connectP50Us: this.#connect.quantileNs(0.5) / 1000,
        connectP99Us: this.#connect.quantileNs(0.99) / 1000,
      }),
    }
  }

  /** Ends the sessions as a client would, then the connections. */
  async close(): Promise<void> {
    try {
      await forEachConcurrently(this.#opened.length, OPEN_CONCURRENCY, async (c) => {
        await this.#opened[c]!.session?.disconnect()
      })
    } finally {
      this.destroy()
    }
  }

  destroy(): void {
    for (const { client } of this.#opened) client.destroy()
  }
}

async function benchFiles(): Promise<FilesResult> {
  const { clients, filesPerClient } = settings
  const capacity = 2 * clients + 100
  const server = await startServer('files', {
    maxConnections: capacity,
    maxSessions: capacity,
    connectRate: 1_000_000,
  })
  const payload = randomFillSync(Buffer.alloc(settings.fileBytes))
  const groups: FileClients[] = []
  try {
    const openConnections = async () =>
      Number(await metric(server.adminPort, 'statelab_tcp_connections_open'))
    progress.phase('files: warming up both modes')
    for (const mode of ['stateless', 'stateful'] as const) {
      const warm = await FileClients.open(server.port, mode, 20, payload)
      await warm.send(2).finally(() => warm.close())
    }
    await waitFor('statelab connections after the warm-up', openConnections, 0)

    progress.phase(
      `files: opening ${formatCount(clients)} connections, and ${formatCount(clients)} more with a session each`,
    )
    const stateless = await FileClients.open(server.port, 'stateless', clients, payload)
    groups.push(stateless)
    const stateful = await FileClients.open(server.port, 'stateful', clients, payload)
    groups.push(stateful)
    // Two turns each, in the order A B B A, so that a disk or a directory slowing down as files pile up
    // weighs on both modes alike; every client still sends all its files on its one connection.
    const firstHalf = Math.ceil(filesPerClient / 2)
    const turns: [FileClients, number][] = [
      [stateless, firstHalf],
      [stateful, firstHalf],
      [stateful, filesPerClient - firstHalf],
      [stateless, filesPerClient - firstHalf],
    ]
    for (const [group, files] of turns) {
      if (files === 0) continue
      assertTimeFor(5000)
      progress.phase(
        `files: ${formatCount(clients)} ${group.mode} clients send ${files} files of ${formatSize(settings.fileBytes)} each`,
      )
      await server.measured(() => group.send(files))
    }
    const result = {
      clients,
      filesPerClient,
      fileBytes: settings.fileBytes,
      stateless: stateless.stats,
      stateful: stateful.stats,
    }
    return {
      ...result,
      ratio: {
        filesPerSec: result.stateful.filesPerSec / result.stateless.filesPerSec,
        p50: result.stateful.p50Us / result.stateless.p50Us,
        p99: result.stateful.p99Us / result.stateless.p99Us,
      },
    }
  } finally {
    await Promise.all(groups.map((group) => group.close().catch(() => group.destroy())))
    await stopChild(server.child)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

function checkTargets(stream: StreamResult | string, sessions: SessionsResult | string): TargetCheck[] {
  const streamName = `stream within ${formatRatio(TARGETS.streamRatio)} of a raw socket piped to a file`
  const sessionName = `idle session under ${formatSize(TARGETS.bytesPerSession)} of server RSS beyond its socket`
  return [
    typeof stream === 'string'
      ? { name: streamName, pass: undefined, detail: stream }
      : {
          name: streamName,
          pass: stream.ratio >= TARGETS.streamRatio,
          detail: `${formatRatio(stream.ratio)} of the pipe's MB/s (needs >= ${formatRatio(TARGETS.streamRatio)})`,
        },
    typeof sessions === 'string'
      ? { name: sessionName, pass: undefined, detail: sessions }
      : {
          name: sessionName,
          pass: sessions.beyondSocket.rssBytes < TARGETS.bytesPerSession,
          detail:
            `${formatBytes(sessions.beyondSocket.rssBytes)} RSS (heap ${formatBytes(sessions.beyondSocket.heapBytes)}) ` +
            `per session over ${formatCount(sessions.sessions)} sessions`,
        },
  ]
}

function printReport(
  stream: StreamResult | string,
  sessions: SessionsResult | string,
  files: FilesResult | string,
  checks: readonly TargetCheck[],
): void {
  const rows: string[][] = []
  const dash = '-'
  if (typeof stream !== 'string') {
    const label = `1 stream, ${formatSize(stream.bytes)}`
    rows.push([
      label,
      'MB/s, stateless transfer',
      formatCount(stream.mbPerSec.statelab),
      formatCount(stream.mbPerSec.pipe),
      'socket piped to a file',
      formatRatio(stream.ratio),
    ])
    rows.push([
      label,
      'MB/s, same transfer',
      formatCount(stream.mbPerSec.statelab),
      formatCount(stream.mbPerSec['pipe+fsync']),
      'same, fsync before close',
      formatRatio(stream.ratioFsync),
    ])
  }
  if (typeof sessions !== 'string') {
    const label = `${formatCount(sessions.sessions)} idle sessions`
    for (const [what, key] of [
      ['RSS', 'rssBytes'],
      ['heap', 'heapBytes'],
    ] as const) {
      const beyond = sessions.beyondSocket[key]
      rows.push([
        label,
        `server ${what} per session`,
        formatBytes(sessions.statelab[key]),
        formatBytes(sessions.baseline[key]),
        'idle net.Server connection',
        `${beyond >= 0 ? '+' : ''}${formatBytes(beyond)}`,
      ])
    }
    rows.push([label, 'connect: sessions/s', formatCount(sessions.connectPerSec), dash, '', ''])
    rows.push([
      label,
      'connect p50 / p99 µs',
      `${formatMicros(sessions.connectP50Us)} / ${formatMicros(sessions.connectP99Us)}`,
      dash,
      '',
      '',
    ])
    rows.push([
      label,
      'heartbeat p50 / p99 µs',
      `${formatMicros(sessions.heartbeatP50Us)} / ${formatMicros(sessions.heartbeatP99Us)}`,
      dash,
      '',
      '',
    ])
  }
  if (typeof files !== 'string') {
    const label = `${formatCount(files.clients)} clients x ${files.filesPerClient} files`
    const { stateful: sf, stateless: sl } = files
    rows.push([
      label,
      'files/s',
      formatCount(sf.filesPerSec),
      formatCount(sl.filesPerSec),
      'stateless, same clients',
      formatRatio(files.ratio.filesPerSec),
    ])
    rows.push([
      label,
      'p50 µs per file',
      formatMicros(sf.p50Us),
      formatMicros(sl.p50Us),
      'stateless, same clients',
      formatRatio(files.ratio.p50),
    ])
    rows.push([
      label,
      'p99 µs per file',
      formatMicros(sf.p99Us),
      formatMicros(sl.p99Us),
      'stateless, same clients',
      formatRatio(files.ratio.p99),
    ])
    rows.push([
      label,
      'connect p50 / p99 µs',
      `${formatMicros(sf.connectP50Us ?? 0)} / ${formatMicros(sf.connectP99Us ?? 0)}`,
      dash,
      '',
      '',
    ])
  }
  const out: string[] = [
    'statelab TCP server (child process, memory sessions) against same-run baselines on 127.0.0.1; ' +
      'MB = 10^6 bytes; ratio = statelab / baseline (for memory: statelab - baseline); ' +
      'small files: statelab = stateful, baseline = stateless',
    '',
    formatTable(['test', 'measure', 'statelab', 'baseline', 'baseline is', 'ratio'], rows, [
      false,
      false,
      true,
      true,
      false,
      true,
    ]),
    '',
  ]
  if (typeof stream !== 'string') {
    const each = (variant: StreamVariant) =>
      stream.turns
        .filter((t) => t.variant === variant)
        .map((t) => formatCount(t.mbPerSec))
        .join(', ')
    out.push(
      `stream MB/s turn by turn: statelab ${each('statelab')}; pipe ${each('pipe')}; pipe+fsync ${each('pipe+fsync')}`,
    )
  }
  if (typeof files !== 'string') {
    const each = (stats: FilesStats) => stats.turns.map((n) => formatCount(n)).join(', ')
    out.push(
      `small files/s turn by turn (A B B A): stateless ${each(files.stateless)}; stateful ${each(files.stateful)}`,
    )
  }
  if (typeof sessions !== 'string')
    out.push(
      `memory: each child's RSS and heap after two full GCs, before and after the ${formatCount(sessions.sessions)} ` +
        'sessions (or connections) were opened, divided by their number; young generation pinned at 16 MB in both',
    )
  for (const [name, value] of [
    ['stream', stream],
    ['sessions', sessions],
    ['files', files],
  ] as const)
    if (typeof value === 'string') out.push(`${name}: ${value}`)
  for (const text of notes) out.push(`note: ${text}`)
  out.push('')
  out.push(...checks.map(formatCheck))
  process.stdout.write(`${out.join('\n')}\n`)
}

async function main(): Promise<void> {
  const limit = openFileLimit()
  let sessionCount = settings.sessions
  // The client holds every session's socket, and the server child (whose limit is ours) one each too.
  if (limit !== undefined && limit - SPARE_FDS < sessionCount) {
    sessionCount = Math.max(100, limit - SPARE_FDS)
    note(
      `ulimit -n is ${limit}: holding ${formatCount(sessionCount)} sessions instead of ${formatCount(settings.sessions)}`,
    )
  }
  if (limit !== undefined && limit - SPARE_FDS < settings.clients)
    throw new TypeError(`ulimit -n is ${limit}: raise it to at least ${settings.clients + SPARE_FDS}`)

  let stream: StreamResult | string = 'not measured'
  let sessions: SessionsResult | string = 'not measured'
  let files: FilesResult | string = 'not measured'
  const attempt = async <T>(name: string, estimateMs: number, run: () => Promise<T>): Promise<T | string> => {
    try {
      assertTimeFor(estimateMs)
      return await run()
    } catch (err) {
      const reason = `not measured: ${(err as Error).message}`
      progress.note(`${name}: ${reason}`)
      return reason
    }
  }
  try {
    if (parts.has('stream')) stream = await attempt('stream', 5000, benchStream)
    if (parts.has('sessions'))
      sessions = await attempt('sessions', settings.connectBudgetMs / 2, () => benchSessions(sessionCount))
    if (parts.has('files')) files = await attempt('files', 5000, benchFiles)
  } finally {
    await Promise.all([...children].map((child) => stopChild(child)))
    progress.done()
  }

  const checks = checkTargets(stream, sessions)
  printReport(stream, sessions, files, checks)
  let profileSummaries: Record<string, unknown> | undefined
  if (args.profile) {
    profileSummaries = {}
    for (const [file, windows] of profiles) {
      let profile: CpuProfile
      try {
        profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
      } catch {
        continue
      }
      const summary = summarizeCpuProfile(profile, { top: 15, windows })
      profileSummaries[relative(process.cwd(), file)] = summary
      process.stdout.write(`\nprofile ${relative(process.cwd(), file)}: ${summary.text}\n`)
    }
  }
  const results = {
    ...describeRun(startedAt, args.quick, { openFileLimit: limit }),
    settings,
    stream,
    sessions,
    files,
    targets: checks,
    notes,
    ...(profileSummaries && { profiles: profileSummaries }),
  }
  writeResults('tcp', startedAt, results)
}

await runBenchmark('bench:tcp', progress, scratch, main)
