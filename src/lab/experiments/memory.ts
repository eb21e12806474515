// `statelab lab memory`: what remembering costs. Sessions are started through the gateway; each replica's
// JavaScript heap is measured after a full garbage collection (through the inspector: the only way to see
// another process's heap without the garbage) while they live and again once they have all ended, so that
// code compiled on the way does not count; resident memory beside it, and the bytes a shared store holds.
// The client side of the bill: the bytes of credential sent on every request.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { formatSize as size } from '../../cli/report.ts'
import { VirtualUsers } from '../load.ts'
import { probePostgres, probeRedis, usedMemory } from '../services.ts'
import type { Strategy, StrategyName } from '../strategies.ts'
import type { Replica } from '../supervisor.ts'
import { type LabResult, labResult, replicasText, runTurns, type StrategyRowBase } from './disruption.ts'
import type { LabEnvironment } from './lab-environment.ts'
import { LOGOUT, replay, withoutCookies } from './revocation.ts'

export interface MemoryOptions {
  readonly strategies: readonly StrategyName[]
  /** Sessions started per strategy. Default 3,000 (--quick 300). */
  readonly sessions?: number
  /** Accounts the sessions are started for (several sessions each). Default 4. */
  readonly accounts?: number
  /** Default 2: enough to see whether one replica pays for another's sessions. */
  readonly replicas?: number
  /** Logins in flight at once. Default 8. */
  readonly concurrency?: number
  readonly quick?: boolean
}

export interface MemorySettings {
  readonly sessions: number
  /** The seed's "100,000 concurrent users": the figures are extrapolated to it, linearly. */
  readonly extrapolateTo: number
  readonly accounts: number
  readonly replicas: number
  readonly concurrency: number
  readonly quick: boolean
}

export interface ReplicaMemory {
  readonly id: string
  /** Logins this replica answered. */
  readonly loginsServed: number
  /** Of the sessions started, those this replica knows (`GET /api/sessions` of each account, asked directly). */
  readonly sessionsHeld: number
  /** JavaScript heap in use after a full GC with the sessions, bytes. */
  readonly heapWith: number
  /** The same once they have ended (the code that served them stays: it is not what a session costs). */
  readonly heapWithout: number
  /** Resident set size, bytes (undefined where /proc is missing); noisy: argon2 and the GC come and go. */
  readonly rssWith: number | undefined
  readonly rssWithout: number | undefined
}

export interface StoreMemory {
  /** What was measured: `redis keys under <prefix> (MEMORY USAGE)`, `sqlite sessions.db pages`... */
  readonly label: string
  readonly bytesWith: number
  readonly bytesWithout: number
  readonly bytesPerSession: number
  /** Redis only: INFO used_memory with minus without (the whole server: other clients count too). */
  readonly usedMemoryDelta?: number
}

export interface MemoryRow extends StrategyRowBase {
  /** Sessions started (logins that succeeded), measured. */
  readonly sessions: number
  readonly replicas: readonly ReplicaMemory[]
  /** Heap the sessions held in all replicas together (with them minus after they ended), per session. */
  readonly heapBytesPerSession: number
  /** The same for the replica that held most, per session started (on any replica). */
  readonly perReplicaBytesPerSession: number
  /**
   * Replicas that know each session, on average (exact, counted): 1 when each lives on one replica, the
   * replica count when every replica has every one (replicated, or a shared store), 0 for tokens.
   */
  readonly copiesPerSession: number
  /** Resident memory with minus without the sessions, all replicas, per session (noisy). */
  readonly rssBytesPerSession: number | undefined
  readonly store: StoreMemory | undefined
  /** Mean bytes of credential (headers and cookies, a cookie repeating a header counted once) per request. */
  readonly credentialBytes: number
  /** The lightest strategy of the run whose replicas hold sessions, and how many times its bytes this one pays. */
  readonly comparedTo: { readonly strategy: StrategyName; readonly ratio: number } | undefined
  /** Extrapolated to `settings.extrapolateTo` sessions. */
  readonly atScale: { readonly busiestReplicaHeap: number; readonly storeBytes: number }
  readonly verdict: string
}

export type MemoryResult = LabResult<'memory', MemorySettings, MemoryRow>

const EXTRAPOLATE_TO = 100_000
/**
 * Below this many bytes per session the servers "keep nothing": with a few hundred sessions, what the heaps
 * hold after a full GC still moves by tens of KB from one measurement to the next (sockets, caches, code).
 */
export const NOISE_BYTES_PER_SESSION = 150
const INSPECTOR_TIMEOUT_MS = 10_000

/** Validates `options` (a `TypeError` naming the option) and fills in the defaults. */
function memorySettings(options: MemoryOptions): MemorySettings {
  const quick = options.quick === true
  const { sessions = quick ? 300 : 3000, accounts = 4, replicas = 2, concurrency = 8 } = options
  for (const [name, value, max] of [
    ['sessions', sessions, 100_000],
    ['accounts', accounts, 1000],
    ['replicas', replicas, 20],
    ['concurrency', concurrency, 256],
  ] as const)
    if (!Number.isInteger(value) || value < 1 || value > max)
      throw new TypeError(`memory options.${name} must be an integer from 1 to ${max}`)
  return { sessions, extrapolateTo: EXTRAPOLATE_TO, accounts, replicas, concurrency, quick }
}

/**
 * Runs `memory` for each strategy on `lab`'s replicas, reading their heaps after a full GC through the
 * inspector (opened with SIGUSR1 on 127.0.0.1).
 *
 * @example
 * const result = await runMemory(lab, { strategies: ['memory', 'jwt'], sessions: 300 })
 */
export async function runMemory(lab: LabEnvironment, options: MemoryOptions): Promise<MemoryResult> {
  const settings = memorySettings(options)
  const startedAt = new Date().toISOString()
  const turns = lab.strategies(options.strategies).map((strategy) => ({ strategy }))
  const measured = await runTurns(
    lab,
    turns,
    {
      accounts: settings.accounts,
      replicas: settings.replicas,
      phase: ({ strategy }) => `${strategy.name}: ${replicasText(settings.replicas)}`,
    },
    async (run) => {
      const { strategy } = run.turn
      const probe = await openStoreProbe(lab, strategy)
      try {
        return await measure(lab, strategy, run.gateway.url, run.supervisor.replicas, run.accounts, {
          settings,
          probe,
        })
      } finally {
        await probe?.close()
      }
    },
  )
  const holders = measured.filter(heldInReplicas)
  const lightest = holders.reduce<(typeof holders)[number] | undefined>(
    (min, row) => (min === undefined || row.heapBytesPerSession < min.heapBytesPerSession ? row : min),
    undefined,
  )
  const rows = measured.map((row) => {
    const comparedTo =
      lightest && heldInReplicas(row) && lightest.heapBytesPerSession > 0
        ? { strategy: lightest.strategy, ratio: row.heapBytesPerSession / lightest.heapBytesPerSession }
        : undefined
    const full = { ...row, comparedTo }
    return { ...full, verdict: memoryVerdict(full, settings) }
  })
  return labResult(lab, 'memory', startedAt, settings, rows)
}

async function measure(
  lab: LabEnvironment,
  strategy: Strategy,
  baseUrl: string,
  replicas: readonly Replica[],
  accounts: readonly { username: string; password: string }[],
  context: {
    readonly settings: MemorySettings
    readonly probe: StoreProbe | undefined
  },
): Promise<Omit<MemoryRow, 'comparedTo' | 'verdict'>> {
  const { settings, probe } = context
  const { progress } = lab
  const logIn = (count: number, offset: number) =>
    VirtualUsers.logIn({
      strategy,
      baseUrl,
      accounts: Array.from({ length: count }, (_, i) => accounts[(offset + i) % accounts.length]!),
      concurrency: settings.concurrency,
    })
  const sample = async (replica: Replica) => ({
    heap: await heapAfterGc(await lab.inspectorUrl(replica)),
    rss: await residentBytes(replica.pid),
  })
  const snapshot = async () => ({
    replicas: await Promise.all(replicas.map(sample)),
    store: await probe?.bytes(),
    used: await probe?.usedMemory?.(),
  })
  const homes = new Map(replicas.map((replica) => [replica.id, replica.url]))
  // Each session is ended on the replica that started it: the one that holds it when nobody else does.
  const end = async (sessions: readonly Started[], label?: string) => {
    let next = 0
    let done = 0
    await Promise.all(
      Array.from({ length: settings.concurrency }, async () => {
        while (next < sessions.length) {
          const session = sessions[next++]!
          const url = homes.get(session.home ?? '') ?? replicas[0]!.url
          await replay(`${url}${LOGOUT[strategy.api].path}`, closing(session.identity), 'POST')
          if (label) progress.advance(label, ++done, sessions.length)
        }
      }),
    )
  }
  const start = async (count: number, label?: string) => {
    const chunk = Math.max(settings.concurrency * 4, Math.ceil(count / 20))
    const started: Started[] = []
    for (let offset = 0; offset < count; offset += chunk) {
      const crowd = await logIn(Math.min(chunk, count - offset), offset)
      for (const user of crowd.users)
        if (user.loginError === undefined)
          started.push({
            identity: crowd.identityOf(user.index)!,
            home: user.loginServedBy,
            username: user.username,
          })
      if (label) progress.advance(label, Math.min(offset + chunk, count), count)
    }
    return started
  }

  progress.phase(`${strategy.name}: warming up the replicas`)
  // Both paths compiled and optimized before anything is measured: code is heap too.
  await end(await start(settings.concurrency * replicas.length))
  const label = `${strategy.name}: starting ${settings.sessions} sessions`
  progress.phase(label)
  // Whole seconds: a session of the warm-up started in the same second has ended anyway.
  const since = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString()
  const sessions = await start(settings.sessions, label)
  const held = await Promise.all(
    replicas.map((replica) => sessionsHeldBy(replica, strategy, sessions, since)),
  )
  progress.phase(`${strategy.name}: measuring the heaps`)
  const withSessions = await snapshot()
  const ending = `${strategy.name}: ending them`
  progress.phase(ending)
  await end(sessions, ending)
  const without = await snapshot()

  const count = sessions.length
  const perSession = (bytes: number) => (count === 0 ? 0 : bytes / count)
  const served = new Map<string, number>()
  for (const { home } of sessions) if (home) served.set(home, (served.get(home) ?? 0) + 1)
  const memories: ReplicaMemory[] = replicas.map((replica, i) => ({
    id: replica.id,
    loginsServed: served.get(replica.id) ?? 0,
    sessionsHeld: held[i]!,
    heapWith: withSessions.replicas[i]!.heap,
    heapWithout: without.replicas[i]!.heap,
    rssWith: withSessions.replicas[i]!.rss,
    rssWithout: without.replicas[i]!.rss,
  }))
  const growth = memories.map((m) => m.heapWith - m.heapWithout)
  const rssKnown = memories.every((m) => m.rssWith !== undefined && m.rssWithout !== undefined)
  const store: StoreMemory | undefined =
    probe && withSessions.store !== undefined && without.store !== undefined
      ? {
          label: probe.label,
          bytesWith: withSessions.store,
          bytesWithout: without.store,
          bytesPerSession: perSession(withSessions.store - without.store),
          ...(withSessions.used !== undefined && without.used !== undefined
            ? { usedMemoryDelta: withSessions.used - without.used }
            : {}),
        }
      : undefined
  return {
    strategy: strategy.name,
    summary: strategy.summary,
    policy: strategy.policy,
    users: settings.sessions,
    loginFailures: settings.sessions - count,
    sessions: count,
    replicas: memories,
    heapBytesPerSession: perSession(growth.reduce((a, b) => a + b, 0)),
    perReplicaBytesPerSession: perSession(Math.max(...growth)),
    copiesPerSession: count === 0 ? 0 : held.reduce((a, b) => a + b, 0) / count,
    rssBytesPerSession: rssKnown
      ? perSession(memories.reduce((sum, m) => sum + m.rssWith! - m.rssWithout!, 0))
      : undefined,
    store,
    credentialBytes:
      count === 0 ? 0 : sessions.reduce((sum, s) => sum + credentialBytes(s.identity), 0) / count,
    atScale: {
      busiestReplicaHeap: Math.max(
        // A replica whose heap came out smaller with the sessions (noise) is extrapolated as flat.
        ...memories.map(
          (m, i) => m.heapWithout + Math.max(0, perSession(growth[i]!)) * settings.extrapolateTo,
        ),
      ),
      storeBytes: store ? store.bytesWithout + store.bytesPerSession * settings.extrapolateTo : 0,
    },
  }
}

interface Started {
  readonly identity: Record<string, string>
  readonly username: string
  /** The replica that answered the login. */
  readonly home: string | undefined
}

/**
 * Bytes of `identity` as sent in a request (`name: value\r\n` each); a cookie whose value repeats a header
 * (the session id in both `X-Session-ID` and its cookie) is counted once.
 */
export function credentialBytes(identity: Readonly<Record<string, string>>): number {
  const { cookie, ...headers } = identity
  const values = new Set(Object.values(headers))
  const pairs = (cookie ?? '')
    .split(/;\s*/)
    .filter((pair) => pair !== '' && !values.has(pair.slice(pair.indexOf('=') + 1)))
  let text = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')
  if (pairs.length > 0) text += `cookie: ${pairs.join('; ')}\r\n`
  return Buffer.byteLength(text)
}

interface InspectorReply {
  readonly result?: { readonly usedSize?: number }
}

/** Full GC, then the heap in use, through the inspector protocol at `url` (ws://127.0.0.1:…). */
async function heapAfterGc(url: string): Promise<number> {
  const socket = new WebSocket(url)
  const replies = new Map<number, (message: InspectorReply) => void>()
  const timeout = AbortSignal.timeout(INSPECTOR_TIMEOUT_MS)
  try {
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve()
      socket.onerror = () => reject(new Error(`the inspector at ${url} refused the connection`))
      timeout.onabort = () => reject(new Error(`the inspector at ${url} did not answer`))
    })
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as InspectorReply & { id?: number }
      if (message.id !== undefined) replies.get(message.id)?.(message)
    }
    let id = 0
    const call = (method: string) =>
      new Promise<InspectorReply>((resolve, reject) => {
        replies.set(++id, resolve)
        timeout.onabort = () => reject(new Error(`the inspector at ${url} did not answer ${method}`))
        socket.send(JSON.stringify({ id, method }))
      })
    // Twice: objects freed by the first collection's finalizers go in the second.
    await call('HeapProfiler.collectGarbage')
    await call('HeapProfiler.collectGarbage')
    const usage = await call('Runtime.getHeapUsage')
    const used = usage.result?.usedSize
    if (typeof used !== 'number') throw new Error(`the inspector at ${url} gave no heap usage`)
    return used
  } finally {
    socket.close()
  }
}

/**
 * `identity` for a replica asked directly, on a connection closed after the reply: a socket left open
 * would be counted in the replica's heap as if a session had cost it.
 */
function closing(identity: Record<string, string>): Record<string, string> {
  return { ...withoutCookies(identity), connection: 'close' }
}

/** How many of `sessions` `replica` knows: each account's session list, asked with one it accepts. */
async function sessionsHeldBy(
  replica: Replica,
  strategy: Strategy,
  sessions: readonly Started[],
  since: string,
): Promise<number> {
  if (strategy.api !== 'stateful') return 0
  const byAccount = new Map<string, Started[]>()
  for (const session of sessions)
    byAccount.set(session.username, [...(byAccount.get(session.username) ?? []), session])
  let held = 0
  for (const own of byAccount.values()) {
    // The sessions it started first: where the session lives only where it began, those are the ones it knows.
    const candidates = [
      ...own.filter((s) => s.home === replica.id),
      ...own.filter((s) => s.home !== replica.id),
    ]
    for (const session of candidates.slice(0, 3)) {
      try {
        const response = await fetch(`${replica.url}/api/sessions`, {
          headers: closing(session.identity),
          signal: AbortSignal.timeout(5000),
        })
        if (!response.ok) {
          await response.arrayBuffer()
          continue
        }
        // Only this measurement's: an earlier experiment may have left sessions of the same accounts.
        const body = (await response.json()) as { sessions?: { created_at?: string }[] }
        held += body.sessions?.filter((s) => (s.created_at ?? '') >= since).length ?? 0
        break
      } catch {
        // Not this one: try the next.
      }
    }
  }
  return held
}

/** Resident set size from /proc (Linux); undefined elsewhere. */
async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]
    return kib === undefined ? undefined : Number(kib) * 1024
  } catch {
    return undefined
  }
}

interface StoreProbe {
  readonly label: string
  bytes(): Promise<number>
  usedMemory?(): Promise<number>
  close(): Promise<void>
}

/** How to weigh what `strategy`'s replicas keep outside themselves: Redis keys, SQLite pages, PostgreSQL tables. */
async function openStoreProbe(lab: LabEnvironment, strategy: Strategy): Promise<StoreProbe | undefined> {
  const { env } = strategy
  const store = env.SESSION_STORE
  if (store === 'sqlite') {
    const path = join(lab.dataDir, 'sessions.db')
    return {
      label: 'sqlite sessions.db (pages in use)',
      bytes: async () => {
        let db: DatabaseSync | undefined
        try {
          db = new DatabaseSync(path, { readOnly: true })
          const pragma = (name: string) =>
            Number(Object.values(db!.prepare(`PRAGMA ${name}`).get() ?? {})[0] ?? 0)
          return (pragma('page_count') - pragma('freelist_count')) * pragma('page_size')
        } catch {
          return 0 // not created yet
        } finally {
          db?.close()
        }
      },
      close: async () => {},
    }
  }
  if (store === 'postgres' && env.DATABASE_URL && env.DATABASE_SCHEMA) {
    const probe = await probePostgres(env.DATABASE_URL, 1000)
    if (!probe.ok) return undefined
    const schema = env.DATABASE_SCHEMA
    return {
      label: `postgres schema ${schema} (pg_total_relation_size)`,
      bytes: async () => {
        const { rows } = await probe.client.query<{ bytes: string | null }>(
          `SELECT SUM(pg_total_relation_size(c.oid)) AS bytes FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
          [schema],
        )
        return Number(rows[0]?.bytes ?? 0)
      },
      close: () => probe.client.end(),
    }
  }
  if (env.REDIS_URL && env.REDIS_PREFIX) {
    const probe = await probeRedis(env.REDIS_URL, 1000)
    if (!probe.ok) return undefined
    const { client } = probe
    const prefix = env.REDIS_PREFIX
    return {
      label: `redis keys under ${prefix}: (MEMORY USAGE)`,
      bytes: async () => {
        let bytes = 0
        for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
          const sizes = await Promise.all(keys.map((key) => client.memoryUsage(key)))
          for (const size of sizes) bytes += Number(size ?? 0)
        }
        return bytes
      },
      usedMemory: () => usedMemory(client),
      close: async () => {
        client.destroy()
      },
    }
  }
  return undefined
}

/** One line on `row`. */
function memoryVerdict(row: Omit<MemoryRow, 'verdict'>, settings: MemorySettings): string {
  const scale = settings.extrapolateTo.toLocaleString('en-US')
  const client = `the client sends ${Math.round(row.credentialBytes)} B of credential per request`
  const heap = `${size(row.heapBytesPerSession)} of replica heap per session`
  const store = storedOutside(row)
  if (store)
    return `✅ the replicas keep the sessions in the store: ${size(store.bytesPerSession)} each there (${scale}: ${size(row.atScale.storeBytes)} in one place), ${heap} (noise below ${NOISE_BYTES_PER_SESSION} B); ${client}`
  if (!heldInReplicas(row)) return `✅ the servers keep nothing per session (${heap}: noise); ${client}`
  const copies = row.copiesPerSession
  const heapText =
    row.heapBytesPerSession < NOISE_BYTES_PER_SESSION
      ? `sessions in replica memory (${size(row.heapBytesPerSession)} per session measured: below what ${row.sessions} sessions resolve)`
      : heap
  const times =
    copies >= 1.5
      ? `, held by ${copies.toFixed(1)} replicas each: every replica pays for every session${row.comparedTo && row.comparedTo.ratio >= 1.5 ? ` (${row.comparedTo.ratio.toFixed(1)}× the heap of ${row.comparedTo.strategy})` : ''}`
      : ', each on one replica'
  return `${copies >= 1.5 ? '❌' : '⚠️ '} ${heapText}${times}; at ${scale} sessions the busiest replica's heap would be ${size(row.atScale.busiestReplicaHeap)}; ${client}`
}

/** The store that holds `row`'s sessions outside the replicas, when one does. */
export function storedOutside(row: Pick<MemoryRow, 'store'>): StoreMemory | undefined {
  return row.store && row.store.bytesPerSession >= NOISE_BYTES_PER_SESSION ? row.store : undefined
}

/** True when the replicas themselves hold the sessions (counted: the heap figure alone is too noisy to say). */
export function heldInReplicas(row: Pick<MemoryRow, 'store' | 'copiesPerSession'>): boolean {
  return storedOutside(row) === undefined && row.copiesPerSession >= 0.5
}
