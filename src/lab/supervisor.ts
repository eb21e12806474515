import { describeExit, ReplicaError, ReplicaProcess } from './replica.ts'

export type { ReplicaErrorCode } from './replica.ts'
export { ReplicaError } from './replica.ts'

/** A running replica as the lab sees it: an address, and the process behind it. */
export interface Replica {
  readonly id: string
  readonly url: string
  readonly port: number
  readonly pid: number
}

export interface SupervisorOptions {
  readonly api: 'stateless' | 'stateful'
  readonly count: number
  /**
   * Environment for every replica on top of process.env (SESSION_STORE, REDIS_URL, REDIS_PREFIX, JWT_SECRET,
   * STATELAB_DATA_DIR...). `LOG_LEVEL` is `warn` unless given here; `STATELAB_REPLICA_ID` is always the id.
   */
  readonly env?: Readonly<Record<string, string>>
  /** Replica ids are `${namePrefix}-1`, `-2`, ... (default: the api name). */
  readonly namePrefix?: string
  /** The supervisor's own events, and every line a replica prints, as `<id> | <line>`. Default: silent. */
  readonly log?: (line: string) => void
}

/** One id, for the supervisor's whole life: its port outlives its processes, so a balancer's pool stays put. */
interface Slot {
  readonly id: string
  readonly index: number
  port: number
  process: ReplicaProcess | undefined
  replica: Replica | undefined
  /** Operations on one id run one after the other (a restart queued behind a kill sees it finished). */
  queue: Promise<unknown>
}

const MAX_COUNT = 100
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

/**
 * Runs replicas of one API as child processes on 127.0.0.1, and kills, restarts, adds and removes them
 * on demand. The replicas share the caller's data directory (`env.STATELAB_DATA_DIR`), so a user
 * registered through one is known to all. Every child is killed when the parent process exits.
 *
 * @example
 * const supervisor = await Supervisor.start({ api: 'stateless', count: 3, env: { STATELAB_DATA_DIR: dir } })
 * await supervisor.kill('stateless-2')     // a crash
 * await supervisor.restart('stateless-2')  // same id, same port
 * await supervisor.stop()
 */
export class Supervisor {
  readonly #api: 'stateless' | 'stateful'
  readonly #env: Readonly<Record<string, string | undefined>>
  readonly #prefix: string
  readonly #log: (line: string) => void
  readonly #slots = new Map<string, Slot>()
  readonly #listeners = new Set<(replicas: readonly Replica[]) => void>()
  /** Aborted by `stop`, which cancels the starts in flight. */
  readonly #closing = new AbortController()
  #lastIndex = 0
  #stopped: Promise<void> | undefined

  private constructor(options: SupervisorOptions) {
    this.#api = options.api
    this.#prefix = options.namePrefix ?? options.api
    this.#log = options.log ?? (() => {})
    this.#env = { ...process.env, LOG_LEVEL: 'warn', ...options.env }
  }

  /** Starts `count` replicas in parallel; resolves when all answer GET /health, or rejects leaving none. */
  static async start(options: SupervisorOptions): Promise<Supervisor> {
    validate(options)
    const supervisor = new Supervisor(options)
    let failure: { error: unknown } | undefined
    const adding = Array.from({ length: options.count }, () =>
      supervisor.add().catch((error: unknown) => {
        // The first failure cancels the other starts; it is the one worth reporting.
        failure ??= { error }
        void supervisor.stop()
      }),
    )
    await Promise.all(adding)
    if (failure) {
      await supervisor.stop()
      throw failure.error
    }
    return supervisor
  }

  /** The live replicas, in id order. */
  get replicas(): readonly Replica[] {
    return [...this.#slots.values()]
      .filter((slot) => slot.replica !== undefined)
      .sort((a, b) => a.index - b.index)
      .map((slot) => slot.replica!)
  }

  /** SIGKILL: a crash, nothing flushed. Resolves when the process has exited; the id and port stay reserved. */
  async kill(id: string): Promise<void> {
    const slot = this.#slot(id)
    return this.#serialize(slot, async () => {
      const gone = this.#detach(slot)
      if (!gone) return
      this.#log(`supervisor: killing ${id} (pid ${gone.pid})`)
      await gone.kill()
      this.#emit()
    })
  }

  /** A fresh process with the same id on the same port (a live one is stopped gracefully first); resolves when healthy. */
  async restart(id: string): Promise<Replica> {
    const slot = this.#slot(id)
    return this.#serialize(slot, async () => {
      const old = this.#detach(slot)
      if (old) {
        await old.terminate()
        this.#emit()
      }
      return this.#launch(slot)
    })
  }

  /** One more replica with the next id; resolves when healthy. */
  async add(): Promise<Replica> {
    this.#assertRunning()
    const index = ++this.#lastIndex
    const slot: Slot = {
      id: `${this.#prefix}-${index}`,
      index,
      port: 0,
      process: undefined,
      replica: undefined,
      queue: Promise.resolve(),
    }
    this.#slots.set(slot.id, slot)
    try {
      return await this.#serialize(slot, () => this.#launch(slot))
    } catch (err) {
      this.#slots.delete(slot.id)
      throw err
    }
  }

  /** Graceful: SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. The id is gone. */
  async remove(id: string): Promise<void> {
    const slot = this.#slot(id)
    return this.#serialize(slot, () => this.#retire(slot))
  }

  /** Removes every replica, cancelling starts in flight. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#closing.abort()
      await Promise.allSettled(
        [...this.#slots.values()].map((slot) => this.#serialize(slot, () => this.#retire(slot))),
      )
    })()
    return this.#stopped
  }

  /** Calls `listener` with the live replicas after every change; returns the unsubscribe. */
  onChange(listener: (replicas: readonly Replica[]) => void): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  async #launch(slot: Slot): Promise<Replica> {
    this.#assertRunning()
    const began = performance.now()
    const child = await ReplicaProcess.start({
      id: slot.id,
      api: this.#api,
      port: slot.port,
      env: { ...this.#env, STATELAB_REPLICA_ID: slot.id },
      log: this.#log,
      signal: this.#closing.signal,
    })
    const replica: Replica = Object.freeze({
      id: slot.id,
      url: child.url,
      port: child.port,
      pid: child.pid,
    })
    slot.port = child.port
    slot.process = child
    slot.replica = replica
    this.#log(
      `supervisor: ${slot.id} up on ${replica.url} (pid ${replica.pid}, ${Math.round(performance.now() - began)} ms)`,
    )
    void child.exited.then((status) => {
      // A process the supervisor did not end itself: the lab must see it leave the pool.
      if (slot.process !== child) return
      this.#detach(slot)
      this.#log(`supervisor: ${slot.id} (pid ${replica.pid}) exited on its own: ${describeExit(status)}`)
      this.#emit()
    })
    this.#emit()
    return replica
  }

  async #retire(slot: Slot): Promise<void> {
    const old = this.#detach(slot)
    this.#slots.delete(slot.id)
    if (old) {
      this.#log(`supervisor: stopping ${slot.id} (pid ${old.pid})`)
      const status = await old.terminate()
      if (status.signal === 'SIGKILL') this.#log(`supervisor: ${slot.id} ignored SIGTERM for 5 s: killed`)
    }
    this.#emit()
  }

  /** Takes the process out of the pool (before signalling it, so its exit is not mistaken for a crash). */
  #detach(slot: Slot): ReplicaProcess | undefined {
    const child = slot.process
    slot.process = undefined
    slot.replica = undefined
    return child
  }

  #serialize<T>(slot: Slot, operation: () => Promise<T>): Promise<T> {
    const run = slot.queue.then(operation, operation)
    slot.queue = run.catch(() => {})
    return run
  }

  #slot(id: string): Slot {
    const slot = this.#slots.get(id)
    if (!slot) {
      const known = [...this.#slots.keys()].join(', ') || 'none'
      throw new ReplicaError('ERR_REPLICA_UNKNOWN', `no replica "${id}" (known: ${known})`)
    }
    return slot
  }

  #assertRunning(): void {
    if (this.#closing.signal.aborted) {
      throw new ReplicaError(
        'ERR_SUPERVISOR_STOPPED',
        'the supervisor was stopped: it starts no replica any more',
      )
    }
  }

  #emit(): void {
    const replicas = this.replicas
    for (const listener of this.#listeners) {
      try {
        listener(replicas)
      } catch (err) {
        this.#log(`supervisor: an onChange listener threw: ${(err as Error).message}`)
      }
    }
  }
}

function validate(options: SupervisorOptions): void {
  if (options.api !== 'stateless' && options.api !== 'stateful') {
    throw new TypeError(
      `Supervisor options.api must be "stateless" or "stateful"; got ${JSON.stringify(options.api)}`,
    )
  }
  if (!Number.isInteger(options.count) || options.count < 0 || options.count > MAX_COUNT) {
    throw new TypeError(
      `Supervisor options.count must be an integer from 0 to ${MAX_COUNT}; got ${options.count}`,
    )
  }
  if (options.namePrefix !== undefined && !NAME.test(options.namePrefix)) {
    throw new TypeError(
      `Supervisor options.namePrefix must be letters, digits, ".", "_" or "-" (it is sent in X-Served-By); got ${JSON.stringify(options.namePrefix)}`,
    )
  }
}
