// What every experiment needs and what several may share: a data directory (users registered once are known
// to every replica), one JWT secret, the central store, the accounts of the virtual users, and supervisors
// kept per kind of replica so that strategies running identical servers (memory and sticky) reuse them.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout } from 'node:timers/promises'
import { startGateway } from '../../gateway/index.ts'
import { type LbName, openLbGateway } from '../lb/index.ts'
import { type Account, registerAccounts } from '../load.ts'
import { type ProgressSink, silentProgress } from '../results.ts'
import {
  type CentralStore,
  type CentralStoreChoice,
  chooseCentralStore,
  createJwtSecret,
  createStrategies,
  GATEWAY_PREFIX,
  type Strategy,
  type StrategyName,
} from '../strategies.ts'
import { type Replica, Supervisor } from '../supervisor.ts'

/** The gateway in front of the replicas: the built-in one, or HAProxy or nginx as child processes. */
export type LabLb = 'builtin' | LbName

export interface LabEnvironmentOptions {
  /** `central`'s store; undefined: Redis when it answers at `redisUrl`, else SQLite. */
  readonly store?: CentralStore
  readonly redisUrl?: string
  readonly databaseUrl?: string
  /** Every line the replicas print (warnings and errors: they run at LOG_LEVEL=warn). */
  readonly log?: (line: string) => void
  readonly progress?: ProgressSink
  /**
   * Keep every kind of replica running until `close`, for the next experiment on this environment (tests);
   * by default a kind is stopped as soon as no strategy left in the experiment runs it.
   */
  readonly keepReplicas?: boolean
  /** The gateway in front of the replicas: the built-in one (default), or HAProxy or nginx as child processes. */
  readonly lb?: LabLb
}

/** The gateway of one strategy's run: one pool in front of that strategy's replicas. */
export interface LabGateway {
  readonly url: string
  setBackends(replicas: readonly Replica[]): void
  /** Stops sending `replica` new requests; resolves when its in-flight requests are done. */
  drain(replica: Replica): Promise<void>
  /** Resolves once the gateway routes to `replica` again (healthy, not draining), or after `timeoutMs`. */
  waitUntilRouted(replica: Replica, timeoutMs?: number): Promise<boolean>
  /** Requests the gateway has sent to backends so far, a failed-over request once per backend tried. */
  forwarded(): number
  close(): Promise<void>
}

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'
/** Registrations in flight: each is an argon2id hash on the replica. */
const REGISTER_CONCURRENCY = 4
/** The gateway's active checks run every 2 s: a replica one of them caught restarting is back by then. */
const ROUTED_TIMEOUT_MS = 5000
const ROUTED_POLL_MS = 20
/** What Node prints on stderr once SIGUSR1 has opened its inspector, as the supervisor logs it. */
const INSPECTOR_LINE = /^(\S+) \| Debugger listening on (ws:\/\/\S+)/

/**
 * The lab's shared ground: open once, run experiments on it, close (which stops every replica and deletes
 * the data directory and what the central store holds of this run).
 *
 * @example
 * const lab = await LabEnvironment.open({ store: 'sqlite' })
 * try { await runScale(lab, { strategies: ['jwt', 'memory'], users: 12, requests: 15 }) } finally { await lab.close() }
 */
export class LabEnvironment {
  readonly dataDir: string
  readonly central: CentralStoreChoice
  readonly progress: ProgressSink
  readonly lb: LabLb
  readonly #keepReplicas: boolean
  readonly #jwtSecret = createJwtSecret()
  readonly #log: (line: string) => void
  readonly #logListeners = new Set<(line: string) => void>()
  /** Inspector addresses by process id. */
  readonly #inspectors = new Map<number, string>()
  readonly #supervisors = new Map<string, Promise<Supervisor>>()
  /** Replicas an experiment killed, per supervisor: restarted before the next one uses it. */
  readonly #killed = new Map<Supervisor, Set<string>>()
  #accounts: Account[] = []
  #registering: Promise<void> = Promise.resolve()

  private constructor(dataDir: string, central: CentralStoreChoice, options: LabEnvironmentOptions) {
    this.dataDir = dataDir
    this.central = central
    this.progress = options.progress ?? silentProgress
    this.#log = options.log ?? (() => {})
    this.#keepReplicas = options.keepReplicas === true
    this.lb = options.lb ?? 'builtin'
  }

  static async open(options: LabEnvironmentOptions = {}): Promise<LabEnvironment> {
    const central = await chooseCentralStore(options.store, {
      redisUrl: options.redisUrl ?? (process.env.REDIS_URL || DEFAULT_REDIS_URL),
      databaseUrl: options.databaseUrl ?? (process.env.DATABASE_URL || DEFAULT_DATABASE_URL),
    })
    options.progress?.note(`central store: ${central.label}`)
    if (options.lb && options.lb !== 'builtin')
      options.progress?.note(`gateway: ${options.lb} (child process)`)
    const dataDir = await mkdtemp(join(tmpdir(), 'statelab-lab-'))
    return new LabEnvironment(dataDir, central, options)
  }

  /** The strategies named, configured for this environment. */
  strategies(names: readonly StrategyName[]): Strategy[] {
    return createStrategies(names, { central: this.central })
  }

  /**
   * The supervisor running `strategy`'s kind of replica, with exactly `count` of them alive: killed ones are
   * restarted, missing ones added, extra ones removed (newest first), all in parallel.
   */
  async replicas(strategy: Strategy, count: number): Promise<Supervisor> {
    let pending = this.#supervisors.get(strategy.replicaKind)
    if (!pending) {
      this.progress.phase(
        `${strategy.name}: starting ${count} ${strategy.api} replica${count === 1 ? '' : 's'}`,
      )
      pending = Supervisor.start({
        api: strategy.api,
        count,
        namePrefix: strategy.replicaKind,
        env: {
          // Pinned, so that a developer's own environment cannot change what is measured.
          STATELAB_DATA_DIR: this.dataDir,
          JWT_ALGORITHM: 'HS256',
          JWT_SECRET: this.#jwtSecret,
          JWT_DENYLIST: 'off',
          DATA_STORE: 'sqlite',
          SESSION_CACHE: 'off',
          LOG_LEVEL: 'warn',
          // SIGUSR1 then opens the inspector on a free port of 127.0.0.1 (not 9229): `inspectorUrl`.
          NODE_OPTIONS: [process.env.NODE_OPTIONS, '--inspect-port=0'].filter(Boolean).join(' '),
          ...strategy.env,
        },
        log: (line) => {
          this.#log(line)
          for (const listener of this.#logListeners) listener(line)
        },
      })
      this.#supervisors.set(strategy.replicaKind, pending)
      pending.catch(() => this.#supervisors.delete(strategy.replicaKind))
    }
    const supervisor = await pending
    await this.resize(supervisor, count, strategy)
    return supervisor
  }

  /** Brings `supervisor` to `count` live replicas (see `replicas`). */
  async resize(supervisor: Supervisor, count: number, strategy?: Strategy): Promise<void> {
    const killed = this.#killed.get(supervisor)
    if (killed && killed.size > 0) {
      const ids = [...killed]
      killed.clear()
      await Promise.all(ids.map((id) => supervisor.restart(id)))
    }
    const live = supervisor.replicas
    if (live.length === count) return
    const what = strategy ? `${strategy.name}: ` : ''
    if (live.length < count) {
      this.progress.phase(`${what}starting ${count - live.length} more replicas (${live.length} → ${count})`)
      await Promise.all(Array.from({ length: count - live.length }, () => supervisor.add()))
    } else {
      this.progress.phase(`${what}stopping ${live.length - count} replicas (${live.length} → ${count})`)
      await Promise.all(live.slice(count).map((replica) => supervisor.remove(replica.id)))
    }
  }

  /**
   * The inspector address (`ws://127.0.0.1:…`) of `replica`, opened with SIGUSR1 the first time: the memory
   * experiment reads heaps through it. Rejects after `timeoutMs` without the replica announcing it.
   */
  async inspectorUrl(replica: Replica, timeoutMs = 5000): Promise<string> {
    const known = this.#inspectors.get(replica.pid)
    if (known) return known
    const announced = Promise.withResolvers<string>()
    const listener = (line: string) => {
      const match = INSPECTOR_LINE.exec(line)
      if (match?.[1] === replica.id) announced.resolve(match[2]!)
    }
    this.#logListeners.add(listener)
    const timer = globalThis.setTimeout(
      () =>
        announced.reject(new Error(`replica ${replica.id} announced no inspector within ${timeoutMs} ms`)),
      timeoutMs,
    )
    try {
      process.kill(replica.pid, 'SIGUSR1')
      const url = await announced.promise
      this.#inspectors.set(replica.pid, url)
      return url
    } finally {
      clearTimeout(timer)
      this.#logListeners.delete(listener)
    }
  }

  /**
   * `strategy` is done: its replicas stop unless kept, or one of the strategies `later` runs the same kind.
   * `evenIfKept` stops them although the environment keeps replicas (a kind only one experiment runs).
   */
  async release(
    strategy: Strategy,
    later: readonly Strategy[],
    options: { readonly evenIfKept?: boolean } = {},
  ): Promise<void> {
    if (
      (this.#keepReplicas && !options.evenIfKept) ||
      later.some((s) => s.replicaKind === strategy.replicaKind)
    )
      return
    const pending = this.#supervisors.get(strategy.replicaKind)
    if (!pending) return
    this.#supervisors.delete(strategy.replicaKind)
    const supervisor = await pending
    this.#killed.delete(supervisor)
    this.progress.phase(`${strategy.name}: stopping its replicas`)
    await supervisor.stop()
  }

  /** SIGKILLs `id`; the next `replicas` call for that supervisor restarts it. */
  async kill(supervisor: Supervisor, id: string): Promise<void> {
    const killed = this.#killed.get(supervisor) ?? new Set<string>()
    this.#killed.set(supervisor, killed)
    killed.add(id)
    await supervisor.kill(id)
  }

  /** `count` registered accounts, registered through `replica` the first time they are needed. */
  async accounts(count: number, replica: Replica): Promise<Account[]> {
    this.#registering = this.#registering.then(async () => {
      if (this.#accounts.length >= count) return
      this.progress.phase(`registering ${count - this.#accounts.length} users`)
      const more = await registerAccounts({
        url: `${replica.url}/api/users`,
        count: count - this.#accounts.length,
        concurrency: REGISTER_CONCURRENCY,
      })
      this.#accounts = [...this.#accounts, ...more]
    })
    await this.#registering
    return this.#accounts.slice(0, count)
  }

  /**
   * A gateway with `strategy`'s policy in front of `replicas`, on a free port of 127.0.0.1: the built-in
   * one, or HAProxy or nginx (`lb`) with the same policy, health checks and failover. It learns
   * about added replicas through `setBackends` (service discovery); about a crash it learns nothing: its
   * own health checks and failover must notice.
   */
  async openGateway(strategy: Strategy, replicas: readonly Replica[]): Promise<LabGateway> {
    if (this.lb !== 'builtin')
      return openLbGateway(this.lb, {
        pool: { name: strategy.api, prefix: GATEWAY_PREFIX[strategy.api], policy: strategy.policy },
        replicas,
        log: this.#log,
      })
    const urls = (list: readonly Replica[]) => list.map((replica) => replica.url)
    let forwardedToRemoved = 0
    const gateway = await startGateway({
      port: 0,
      pools: {
        [strategy.api]: {
          prefix: GATEWAY_PREFIX[strategy.api],
          backends: urls(replicas),
          policy: strategy.policy,
        },
      },
    })
    return {
      url: gateway.url,
      setBackends: (list) => {
        const kept = new Set(urls(list))
        // A backend dropped from the pool takes its counters with it: keep what it was sent.
        for (const backend of gateway.stats()[strategy.api] ?? [])
          if (!kept.has(backend.url)) forwardedToRemoved += backend.requests
        gateway.setBackends(strategy.api, [...kept])
      },
      drain: (replica) => gateway.drain(strategy.api, replica.url),
      waitUntilRouted: async (replica, timeoutMs = ROUTED_TIMEOUT_MS) => {
        const deadline = performance.now() + timeoutMs
        const routed = () =>
          gateway.stats()[strategy.api]?.some((b) => b.url === replica.url && b.healthy && !b.draining)
        while (!routed()) {
          if (performance.now() >= deadline) return false
          await setTimeout(ROUTED_POLL_MS)
        }
        return true
      },
      forwarded: () =>
        Object.values(gateway.stats())
          .flat()
          .reduce((sum, backend) => sum + backend.requests, forwardedToRemoved),
      close: () => gateway.close(),
    }
  }

  /** Stops every replica, deletes the data directory and the central store's keys or schema. */
  async close(): Promise<void> {
    const supervisors = await Promise.allSettled(this.#supervisors.values())
    this.#supervisors.clear()
    await Promise.all(
      supervisors.map((settled) => (settled.status === 'fulfilled' ? settled.value.stop() : undefined)),
    )
    try {
      await this.central.cleanup()
    } finally {
      await rm(this.dataDir, { recursive: true, force: true })
    }
  }
}
