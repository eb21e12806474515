// npm run bench:stores [-- --quick]
//
// Measures every session store through the SessionStore interface (get, touch, compareAndSwap: ops/s, p50,
// p99) against a baseline measured in the same run on the same client, and bytes per session for the
// memory store (heap and RSS, in a child process) and Redis (used_memory), against a Map of the sessions'
// JSON and a plain SET of it with a TTL. Prints a table and the targets on stdout and writes everything
// to bench/results/stores-<time>.json.
// It writes only under fresh key prefixes, a fresh schema and a temp directory, and deletes them at the end.

import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import type pg from 'pg'
import pino from 'pino'
import { formatCount, formatMicros, formatRatio, formatTable, Progress } from '../src/cli/report.ts'
import { type Config, loadConfig } from '../src/config.ts'
import { systemClock } from '../src/core/clock.ts'
import { advanceSession, DEFAULT_SESSION_POLICY, type Session } from '../src/core/sessions/session.ts'
import { encodeSession } from '../src/core/sessions/session-codec.ts'
import {
  type AdminRedis,
  type Probe,
  probePostgres,
  probeRedis,
  serviceUrls,
  uniqueName,
  unlinkPrefix,
  usedMemory,
} from '../src/lab/services.ts'
import { type CacheStats, openStores, type Stores } from '../src/open-stores.ts'
import { forEachConcurrently, type Load, Meter, measureOp, type Op, type OpStats } from './lib/measure.ts'
import type { Footprint } from './lib/memory-footprint.ts'
import {
  describeRun,
  formatCheck,
  runBenchmark,
  type TargetCheck,
  timeBudget,
  writeResults,
} from './lib/run.ts'
import { makeSession } from './lib/sessions.ts'

interface Settings {
  /** Operations in flight at once, for every store and baseline. */
  readonly concurrency: number
  readonly warmupMs: number
  /** Measured time per op; baseline and get share it out in `slices` alternating turns. */
  readonly durationMs: number
  readonly slices: number
  /** Sessions each store holds while measured; each loop owns `sessions / concurrency` of them. */
  readonly sessions: number
  /** Sessions created in a child process to measure the memory store's bytes per session. */
  readonly memorySessions: number
  /** Sessions created in Redis to measure its bytes per session. */
  readonly redisSessions: number
  /** The whole run stops starting phases after this. */
  readonly budgetMs: number
}

const FULL: Settings = {
  concurrency: 32,
  warmupMs: 500,
  durationMs: 2000,
  slices: 8,
  sessions: 10_000,
  memorySessions: 1_000_000,
  redisSessions: 500_000,
  budgetMs: 300_000,
}
const QUICK: Settings = {
  ...FULL,
  warmupMs: 150,
  durationMs: 500,
  slices: 4,
  sessions: 2_000,
  memorySessions: 100_000,
  redisSessions: 50_000,
  budgetMs: 40_000,
}

const { redis: REDIS_URL, postgres: DATABASE_URL } = serviceUrls()
/** Loops creating sessions for the bytes-per-session figures: enough to keep Redis busy. */
const FILL_CONCURRENCY = 128
/** Slowest rates the bytes-per-session fills are budgeted at: in the child process, and into Redis. */
const MEMORY_FILL_PER_SEC = 50_000
const REDIS_FILL_PER_SEC = 8_000
/** Bytes per session the memory store (RSS) and Redis (used_memory) may take, with the sessions bench/lib/sessions.ts makes. */
const MEMORY_RSS_TARGET = 600
const REDIS_TARGET = 400
/** Sessions the memory target is judged at: with fewer, the heap's own growth is a large part of the RSS. */
const MEMORY_TARGET_SESSIONS = 1_000_000

type OpName = 'get' | 'touch' | 'compareAndSwap'

interface OpResult extends OpStats {
  readonly op: OpName
  /** This op's figure divided by the baseline's: above 1 is more ops/s, or a longer latency. */
  readonly ratio: { readonly opsPerSec: number; readonly p50: number; readonly p99: number }
}

interface StoreResult {
  readonly store: string
  readonly baselineLabel: string
  baseline?: OpStats
  readonly ops: OpResult[]
  /** Ops/s of each turn of baseline and get: how steady the machine was while they took turns. */
  turns?: { readonly baseline: number[]; readonly get: number[] }
  /** Local cache hits and misses of `get` in its measured window (redis+cache). */
  cache?: CacheStats
  /** Why the store was not (fully) measured. */
  skipped?: string
}

interface MemoryFootprint {
  readonly sessions: number
  readonly jsonBytes: number
  /** Length of the form the memory store and Redis keep a session in (`encodeSession`). */
  readonly encodedBytes: number
  readonly store: { readonly heapBytesPerSession: number; readonly rssBytesPerSession: number }
  readonly baseline: { readonly heapBytesPerSession: number; readonly rssBytesPerSession: number }
  readonly heapRatio: number
  readonly rssRatio: number
}

interface RedisFootprint {
  readonly sessions: number
  readonly jsonBytes: number
  readonly encodedBytes: number
  readonly storeBytesPerSession: number
  readonly baselineBytesPerSession: number
  readonly ratio: number
}

/** A store as the bench drives it, with its baseline on the same client. */
interface Bench {
  readonly stores: Stores
  /** Puts what the baseline reads in place, for the same ids. */
  prepareBaseline(sessions: readonly Session[]): Promise<void>
  /** One baseline operation on `id`; throws when the answer is wrong. */
  baseline(id: string): unknown
  /** Closes the stores and deletes everything the bench made. */
  close(): Promise<void>
}

interface Target {
  readonly name: string
  readonly baselineLabel: string
  /** Why it cannot run (its service does not answer), once the services are probed. */
  readonly unavailable: () => string | undefined
  open(): Promise<Bench>
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (args.help) {
  process.stdout.write(
    'usage: npm run bench:stores [-- --quick] [-- --only memory,sqlite,redis,redis+cache,postgres]\n' +
      '  Benchmarks the session stores against baselines, and bytes per session of memory and redis;\n' +
      '  --quick measures 0.5 s per op instead of 2 s, and fewer sessions for the bytes.\n' +
      `  Services: REDIS_URL (${REDIS_URL}), DATABASE_URL (${DATABASE_URL}); loopback addresses only.\n`,
  )
  process.exit(0)
}

const settings = args.quick ? QUICK : FULL
const startedAt = new Date()
const progress = new Progress(process.stderr)
const interrupt = new AbortController()
process.once('SIGINT', () => {
  progress.note('interrupted: finishing the current phase, then cleaning up (Ctrl-C again to abandon)')
  interrupt.abort(new Error('interrupted'))
})
/** Throws unless `ms` more fits in the run's budget and nobody pressed Ctrl-C. */
const assertTimeFor = timeBudget(settings.budgetMs, interrupt.signal)
const load: Load = { ...settings, signal: interrupt.signal }
const log = pino({ level: 'warn' }, pino.destination(2))
const scratch = mkdtempSync(join(tmpdir(), 'statelab-bench-'))

/** A config as the server would load it, with nothing from the environment. */
function configFor(overrides: Partial<Config>): Config {
  return loadConfig({ env: {}, overrides: { dataDir: join(scratch, uniqueName('data')), ...overrides } })
}

function open(overrides: Partial<Config>): Promise<Stores> {
  return openStores(configFor(overrides), { clock: systemClock, log })
}

let redis: Probe<AdminRedis> = { ok: false, reason: 'not probed' }
let postgres: Probe<pg.Client> = { ok: false, reason: 'not probed' }

const redisTarget = (name: string, sessionCache: 'on' | 'off'): Target => ({
  name,
  baselineLabel: sessionCache === 'on' ? 'GET (same client, cached)' : 'GET (same client)',
  unavailable: () => (redis.ok ? undefined : redis.reason),
  async open() {
    const prefix = uniqueName('statelab-bench')
    // openStores keeps its client to itself. The Redis denylist on that client answers has() with exactly
    // one GET, so it is the raw GET, pipelined by the very client the session store uses.
    const stores = await open({
      sessionStore: 'redis',
      redisUrl: REDIS_URL,
      redisPrefix: prefix,
      sessionCache,
      jwtDenylist: 'redis',
    })
    const denylist = stores.denylist!
    try {
      await stores.sessions.ping!()
    } catch (err) {
      await stores.close()
      throw err
    }
    return {
      stores,
      async prepareBaseline(sessions) {
        await forEachConcurrently(sessions.length, settings.concurrency, (i) =>
          denylist.add(sessions[i]!.id, sessions[i]!.expiresAt),
        )
      },
      async baseline(id) {
        if (!(await denylist.has(id))) throw new Error('GET found no value')
      },
      async close() {
        await stores.close()
        if (redis.ok) await unlinkPrefix(redis.client, prefix)
      },
    }
  },
})

const TARGETS: readonly Target[] = [
  {
    name: 'memory',
    baselineLabel: 'Map.get + JSON.parse',
    unavailable: () => undefined,
    async open() {
      const stores = await open({ sessionStore: 'memory' })
      const map = new Map<string, string>()
      return {
        stores,
        async prepareBaseline(sessions) {
          for (const session of sessions) map.set(session.id, JSON.stringify(session))
        },
        async baseline(id) {
          return JSON.parse(map.get(id)!)
        },
        close: () => stores.close(),
      }
    },
  },
  {
    name: 'sqlite',
    baselineLabel: 'prepared SELECT by id',
    unavailable: () => undefined,
    async open() {
      const dataDir = join(scratch, uniqueName('sqlite'))
      const stores = await open({ sessionStore: 'sqlite', dataDir })
      // A second connection to the store's file: the store does not lend its own.
      const db = new DatabaseSync(join(dataDir, 'sessions.db'))
      const select = db.prepare('SELECT data FROM sessions WHERE id = ?')
      return {
        stores,
        async prepareBaseline() {},
        async baseline(id) {
          if (!select.get(id)) throw new Error('SELECT found no row')
        },
        async close() {
          db.close()
          await stores.close()
        },
      }
    },
  },
  redisTarget('redis', 'off'),
  redisTarget('redis+cache', 'on'),
  {
    name: 'postgres',
    baselineLabel: 'SELECT 1 (same pool)',
    unavailable: () => (postgres.ok ? undefined : postgres.reason),
    async open() {
      const schema = uniqueName('statelab_bench')
      const stores = await open({
        sessionStore: 'postgres',
        databaseUrl: DATABASE_URL,
        databaseSchema: schema,
      })
      const dropSchema = async () => {
        if (postgres.ok) await postgres.client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      }
      const ping = stores.sessions.ping
      if (!ping) {
        await stores.close()
        await dropSchema()
        throw new Error('the PostgreSQL session store has no ping()')
      }
      return {
        stores,
        async prepareBaseline() {},
        // The store's ping() is exactly `SELECT 1` through the pool openStores made.
        baseline: () => ping.call(stores.sessions),
        async close() {
          await stores.close()
          await dropSchema()
        },
      }
    },
  },
]

/** The targets `--only` names (all without it); throws naming an unknown one. */
function selectedTargets(): readonly Target[] {
  if (args.only === undefined) return TARGETS
  const names = args.only.split(',').map((name) => name.trim())
  const unknown = names.filter((name) => !TARGETS.some((t) => t.name === name))
  if (unknown.length > 0)
    throw new TypeError(
      `--only: unknown store ${unknown.join(', ')} (one of ${TARGETS.map((t) => t.name).join(', ')})`,
    )
  return TARGETS.filter((t) => names.includes(t.name))
}

async function benchStore(target: Target): Promise<StoreResult> {
  const result: StoreResult = { store: target.name, baselineLabel: target.baselineLabel, ops: [] }
  const unavailable = target.unavailable()
  if (unavailable) {
    result.skipped = unavailable
    progress.note(`${target.name}: skipped: ${unavailable}`)
    return result
  }
  const { concurrency, slices } = settings
  const phaseMs = settings.warmupMs + settings.durationMs
  const seconds = `${settings.durationMs / 1000} s`
  try {
    assertTimeFor(4 * phaseMs)
    progress.phase(`${target.name}: creating ${formatCount(settings.sessions)} sessions`)
    const bench = await target.open()
    try {
      const store = bench.stores.sessions
      const sessions = Array.from({ length: settings.sessions }, (_, i) => makeSession(i))
      await forEachConcurrently(sessions.length, concurrency, (i) => store.create(sessions[i]!))
      await bench.prepareBaseline(sessions)
      // Loop `worker` owns sessions worker, worker + concurrency, ...: no two operations on one session
      // at once, so every compare-and-swap must succeed.
      const slots = Math.max(1, Math.floor(sessions.length / concurrency))
      const slot = (worker: number, round: number) => worker + concurrency * (round % slots)
      const latest = [...sessions]
      const { idleTimeoutMs } = DEFAULT_SESSION_POLICY

      const ops: Record<'baseline' | OpName, Op> = {
        baseline: (w, r) => bench.baseline(latest[slot(w, r)]!.id),
        async get(w, r) {
          if (!(await store.get(latest[slot(w, r)]!.id))) throw new Error('get: a session went missing')
        },
        async touch(w, r) {
          const session = latest[slot(w, r)]!
          const now = Date.now()
          const expiresAt = Math.min(now + idleTimeoutMs, session.absoluteExpiresAt)
          if (!(await store.touch(session.id, now, expiresAt)))
            throw new Error('touch: a session went missing')
        },
        async compareAndSwap(w, r) {
          const k = slot(w, r)
          const next = advanceSession(latest[k]!, Date.now(), DEFAULT_SESSION_POLICY)
          if (!(await store.compareAndSwap(next, latest[k]!.version)))
            throw new Error('compareAndSwap: refused a swap no one else raced')
          latest[k] = next
        },
      }
      const check = () => interrupt.signal.throwIfAborted()

      // Baseline and get take turns in slices, so a burst of other work on the machine hits both alike and
      // the ratio holds. Reads are primed first (each session read once by the loop that owns it), so the
      // local cache starts full however slow its misses are.
      assertTimeFor(2 * phaseMs)
      progress.phase(
        `${target.name}: baseline ${target.baselineLabel} and get, ${slices} turns each (${seconds})`,
      )
      const baseline = new Meter(ops.baseline, load)
      const get = new Meter(ops.get, load)
      for (const op of [ops.baseline, ops.get])
        await forEachConcurrently(concurrency, concurrency, async (worker) => {
          for (let round = 0; round < slots; round++) await op(worker, round)
        })
      await baseline.warmUp()
      await get.warmUp()
      const cacheStats = bench.stores.cacheStats
      let hits = 0
      let misses = 0
      const turns = { baseline: [] as number[], get: [] as number[] }
      for (let turn = 0; turn < slices; turn++) {
        turns.baseline.push(await baseline.measure(settings.durationMs / slices))
        const before = cacheStats?.()
        turns.get.push(await get.measure(settings.durationMs / slices))
        const after = cacheStats?.()
        if (before && after) {
          hits += after.hits - before.hits
          misses += after.misses - before.misses
        }
        check()
      }
      if (cacheStats) result.cache = { hits, misses, hitRatio: hits / (hits + misses) }
      result.baseline = baseline.stats
      result.turns = turns
      const measured: [OpName, OpStats][] = [['get', get.stats]]

      for (const op of ['touch', 'compareAndSwap'] as const) {
        assertTimeFor(phaseMs)
        progress.phase(`${target.name}: ${op} (${seconds})`)
        measured.push([op, await measureOp(ops[op], load)])
        check()
      }
      for (const [op, stats] of measured) {
        result.ops.push({
          op,
          ...stats,
          ratio: {
            opsPerSec: stats.opsPerSec / result.baseline.opsPerSec,
            p50: stats.p50Us / result.baseline.p50Us,
            p99: stats.p99Us / result.baseline.p99Us,
          },
        })
      }
    } finally {
      progress.phase(`${target.name}: cleaning up`)
      await bench.close()
    }
  } catch (err) {
    result.skipped = `stopped: ${(err as Error).message}`
    progress.note(`${target.name}: ${result.skipped}`)
  }
  return result
}

/** Heap and RSS growth of the memory store per session, each in a clean child process with --expose-gc. */
async function measureMemoryFootprint(): Promise<MemoryFootprint> {
  const script = fileURLToPath(new URL('./lib/memory-footprint.ts', import.meta.url))
  const count = settings.memorySessions
  const run = async (kind: 'store' | 'map'): Promise<Footprint> => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', script, kind, String(count)],
      { timeout: 10_000 + (count / MEMORY_FILL_PER_SEC) * 2000, signal: interrupt.signal },
    )
    return JSON.parse(stdout) as Footprint
  }
  progress.phase(`memory footprint: ${formatCount(count)} sessions in a MemorySessionStore`)
  const store = await run('store')
  progress.phase(`memory footprint: ${formatCount(count)} JSON strings in a bare Map`)
  const map = await run('map')
  const perSession = (f: Footprint) => ({
    heapBytesPerSession: f.heapBytes / f.count,
    rssBytesPerSession: f.rssBytes / f.count,
  })
  return {
    sessions: store.count,
    jsonBytes: store.jsonBytes,
    encodedBytes: encodedBytes(),
    store: perSession(store),
    baseline: perSession(map),
    heapRatio: store.heapBytes / map.heapBytes,
    rssRatio: store.rssBytes / map.rssBytes,
  }
}

/** The length of a bench session in the form the stores keep it. */
function encodedBytes(): number {
  return Buffer.byteLength(encodeSession(makeSession(0)))
}

/** A fresh key prefix as long as the default `statelab`, so that key names cost what they do in production. */
function shortPrefix(): string {
  return `b${randomBytes(4).toString('hex').slice(0, 7)}`
}

/** Resolves once Redis has freed what earlier UNLINKs handed to its background thread. */
async function lazyFreeDone(admin: AdminRedis): Promise<void> {
  for (let waited = 0; waited < 30_000; waited += 100) {
    const pending = /^lazyfree_pending_objects:(\d+)\r?$/m.exec(await admin.info('memory'))
    if (!pending || pending[1] === '0') return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * `used_memory` growth per session in Redis, against plain `SET key <the same JSON> PX ttl`. Each side
 * writes under its own fresh prefix, deleted at once (the Redis is shared: never FLUSHALL).
 */
async function measureRedisFootprint(admin: AdminRedis): Promise<RedisFootprint> {
  const count = settings.redisSessions
  const grow = async (prefix: string, fill: () => Promise<void>) => {
    try {
      await lazyFreeDone(admin)
      const before = await usedMemory(admin)
      await fill()
      return (await usedMemory(admin)) - before
    } finally {
      await unlinkPrefix(admin, prefix)
    }
  }

  const prefix = shortPrefix()
  progress.phase(`redis footprint: ${formatCount(count)} sessions through the store`)
  const stores = await open({ sessionStore: 'redis', redisUrl: REDIS_URL, redisPrefix: prefix })
  let storeBytes: number
  try {
    storeBytes = await grow(prefix, () =>
      forEachConcurrently(count, FILL_CONCURRENCY, (i) => stores.sessions.create(makeSession(i))),
    )
  } finally {
    await stores.close()
  }

  const rawPrefix = shortPrefix()
  progress.phase(`redis footprint: ${formatCount(count)} plain SET ... PX`)
  const rawBytes = await grow(rawPrefix, () =>
    forEachConcurrently(count, FILL_CONCURRENCY, async (i) => {
      const session = makeSession(i)
      // Same key shape and length as the store's, so only the data structure differs.
      await admin.set(`${rawPrefix}:{s:${session.id}}`, JSON.stringify(session), {
        expiration: { type: 'PX', value: session.expiresAt - Date.now() },
      })
    }),
  )
  return {
    sessions: count,
    jsonBytes: Buffer.byteLength(JSON.stringify(makeSession(0))),
    encodedBytes: encodedBytes(),
    storeBytesPerSession: storeBytes / count,
    baselineBytesPerSession: rawBytes / count,
    ratio: storeBytes / rawBytes,
  }
}

function checkTargets(
  stores: readonly StoreResult[],
  memory: MemoryFootprint | string,
  redisMemory: RedisFootprint | string,
): TargetCheck[] {
  const getOf = (name: string) => stores.find((s) => s.store === name)?.ops.find((o) => o.op === 'get')
  const redisGet = getOf('redis')
  const cachedGet = getOf('redis+cache')
  const memoryGet = getOf('memory')
  const checks: TargetCheck[] = []
  if (redisGet) {
    const ratio = redisGet.ratio.opsPerSec
    checks.push({
      name: 'redis get within 1.5x of a raw pipelined GET',
      pass: ratio >= 1 / 1.5,
      detail: `${formatRatio(ratio)} of the GET ops/s (needs >= ${formatRatio(1 / 1.5)})`,
    })
  } else
    checks.push({
      name: 'redis get within 1.5x of a raw pipelined GET',
      pass: undefined,
      detail: 'not measured',
    })
  if (cachedGet && memoryGet) {
    const ratio = cachedGet.opsPerSec / memoryGet.opsPerSec
    checks.push({
      name: 'redis+cache get within 2x of the memory store get',
      pass: ratio >= 0.5,
      detail: `${formatRatio(ratio)} of the memory store's ops/s (needs >= 0.50)`,
    })
  } else
    checks.push({
      name: 'redis+cache get within 2x of the memory store get',
      pass: undefined,
      detail: 'not measured',
    })
  const memoryName = `memory store RSS <= ${MEMORY_RSS_TARGET} B per idle session`
  if (typeof memory === 'string') checks.push({ name: memoryName, pass: undefined, detail: memory })
  else {
    const perSession = memory.store.rssBytesPerSession
    const judged = memory.sessions >= MEMORY_TARGET_SESSIONS
    checks.push({
      name: memoryName,
      pass: judged ? perSession <= MEMORY_RSS_TARGET : undefined,
      detail:
        `${formatCount(perSession)} B at ${formatCount(memory.sessions)} sessions (Map of their JSON: ${formatCount(memory.baseline.rssBytesPerSession)} B)` +
        (judged ? '' : `; judged at ${formatCount(MEMORY_TARGET_SESSIONS)} sessions (a full run)`),
    })
  }
  const redisName = `redis used_memory <= ${REDIS_TARGET} B per idle session, with TTL and user index`
  if (typeof redisMemory === 'string') checks.push({ name: redisName, pass: undefined, detail: redisMemory })
  else {
    const perSession = redisMemory.storeBytesPerSession
    checks.push({
      name: redisName,
      pass: perSession <= REDIS_TARGET,
      detail: `${formatCount(perSession)} B at ${formatCount(redisMemory.sessions)} sessions (SET of their JSON with PX: ${formatCount(redisMemory.baselineBytesPerSession)} B)`,
    })
  }
  return checks
}

function printReport(
  stores: readonly StoreResult[],
  memory: MemoryFootprint | string,
  redisMemory: RedisFootprint | string,
  checks: readonly TargetCheck[],
): void {
  const rows: string[][] = []
  for (const s of stores) {
    if (!s.baseline) continue
    const b = s.baseline
    rows.push([
      s.store,
      `baseline: ${s.baselineLabel}`,
      formatCount(b.opsPerSec),
      formatMicros(b.p50Us),
      formatMicros(b.p99Us),
      '1.00',
    ])
    for (const o of s.ops) {
      rows.push([
        s.store,
        o.op,
        formatCount(o.opsPerSec),
        formatMicros(o.p50Us),
        formatMicros(o.p99Us),
        formatRatio(o.ratio.opsPerSec),
      ])
    }
  }
  const out: string[] = [
    `statelab session stores: ${settings.concurrency} in flight, ${settings.durationMs / 1000} s per op after ${settings.warmupMs / 1000} s warm-up, ${formatCount(settings.sessions)} sessions per store; ratio = ops/s / baseline ops/s`,
    '',
    formatTable(['store', 'op', 'ops/s', 'p50 µs', 'p99 µs', 'ratio'], rows, [
      false,
      false,
      true,
      true,
      true,
      true,
    ]),
    '',
  ]
  for (const s of stores)
    if (s.skipped) out.push(`${s.store}: ${s.skipped.startsWith('stopped') ? '' : 'skipped: '}${s.skipped}`)
  const bytes = (n: number) => `${formatCount(n)} B`
  if (typeof memory === 'string') out.push(`memory bytes/session: ${memory}`)
  else
    out.push(
      `memory bytes/session (${formatCount(memory.sessions)} sessions, ${bytes(memory.jsonBytes)} JSON, ${bytes(memory.encodedBytes)} encoded): ` +
        `heap ${bytes(memory.store.heapBytesPerSession)}, RSS ${bytes(memory.store.rssBytesPerSession)}; ` +
        `bare Map<id, JSON> heap ${bytes(memory.baseline.heapBytesPerSession)}, RSS ${bytes(memory.baseline.rssBytesPerSession)}; ` +
        `ratio heap ${formatRatio(memory.heapRatio)}, RSS ${formatRatio(memory.rssRatio)}`,
    )
  if (typeof redisMemory === 'string') out.push(`redis bytes/session: ${redisMemory}`)
  else
    out.push(
      `redis bytes/session (${formatCount(redisMemory.sessions)} sessions, ${bytes(redisMemory.jsonBytes)} JSON, ${bytes(redisMemory.encodedBytes)} encoded, INFO used_memory): store ${bytes(redisMemory.storeBytesPerSession)}; ` +
        `SET key <same JSON> PX ttl ${bytes(redisMemory.baselineBytesPerSession)}; ratio ${formatRatio(redisMemory.ratio)}`,
    )
  const cached = stores.find((s) => s.cache)?.cache
  if (cached)
    out.push(
      `redis+cache get hit ratio: ${(cached.hitRatio * 100).toFixed(2)}% (${formatCount(cached.hits)} hits, ${formatCount(cached.misses)} misses in the measured window)`,
    )
  out.push('')
  out.push(...checks.map(formatCheck))
  process.stdout.write(`${out.join('\n')}\n`)
}

async function main(): Promise<void> {
  const targets = selectedTargets()
  progress.phase('probing Redis and PostgreSQL')
  ;[redis, postgres] = await Promise.all([probeRedis(REDIS_URL), probePostgres(DATABASE_URL)])
  const stores: StoreResult[] = []
  // Bytes per session are measured for the memory store and Redis when --only names them (or is not given).
  const selected = (name: string) => targets.some((t) => t.name === name)
  let memory: MemoryFootprint | string = 'not measured (not selected)'
  let redisMemory: RedisFootprint | string = 'not measured (not selected)'
  try {
    if (selected('memory')) {
      try {
        assertTimeFor((2 * settings.memorySessions * 1000) / MEMORY_FILL_PER_SEC)
        memory = await measureMemoryFootprint()
      } catch (err) {
        memory = `not measured: ${(err as Error).message}`
      }
    }
    for (const target of targets) stores.push(await benchStore(target))
    if (selected('redis')) {
      if (!redis.ok) redisMemory = `skipped: ${redis.reason}`
      else {
        try {
          // The sessions through the store (two keys each), then the plain SETs, and the cleanup after each.
          assertTimeFor((2 * settings.redisSessions * 1000) / REDIS_FILL_PER_SEC)
          redisMemory = await measureRedisFootprint(redis.client)
        } catch (err) {
          redisMemory = `not measured: ${(err as Error).message}`
        }
      }
    }
  } finally {
    if (redis.ok) redis.client.destroy()
    if (postgres.ok) await postgres.client.end().catch(() => {})
    progress.done()
  }

  const checks = checkTargets(stores, memory, redisMemory)
  printReport(stores, memory, redisMemory, checks)
  const results = {
    ...describeRun(startedAt, args.quick),
    settings,
    services: {
      redis: redis.ok ? REDIS_URL : `unavailable: ${redis.reason}`,
      postgres: postgres.ok ? DATABASE_URL : `unavailable: ${postgres.reason}`,
    },
    stores,
    memory,
    redisMemory,
    targets: checks,
  }
  writeResults('stores', startedAt, results)
}

await runBenchmark('bench:stores', progress, scratch, main)
