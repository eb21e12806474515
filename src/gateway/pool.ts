import type { Clock } from '../core/clock.ts'
import { AppError } from '../core/errors.ts'
import { backendId, normalizeBackendUrl } from './backend-url.ts'
import type { GatewayLog } from './gateway-log.ts'
import type { BalancingPolicy, PolicyBackend, PolicyName, RequestInfo } from './policies/index.ts'

/** One backend's counters and health, as `Gateway.stats()` and `GET /_gateway/pools` report them. */
export interface BackendStats {
  readonly url: string
  /** The value the sticky cookie carries for this backend. */
  readonly id: string
  /** Requests forwarded to it (a retried request counts once per backend it was sent to). */
  readonly requests: number
  /** Requests in flight. */
  readonly active: number
  /** Receives new requests only when healthy and not draining. */
  readonly healthy: boolean
  readonly draining: boolean
  /** Why it is unhealthy: the last active check failed, or passive detection took it out. */
  readonly down: 'check' | 'passive' | null
  /** Consecutive failed requests (connection errors, timeouts, 5xx) counted by passive detection. */
  readonly failures: number
  /** The last failure seen (check or request), for humans. */
  readonly lastError: string | null
}

export interface PassiveOptions {
  /** Consecutive failures that take a backend out. */
  readonly failures: number
  /** How long it stays out at least. */
  readonly cooldownMs: number
}

export interface PoolOptions {
  readonly name: string
  readonly prefix: string
  readonly policy: BalancingPolicy
  readonly backends: readonly string[]
  readonly passive: PassiveOptions | undefined
  /** With active checks, a backend taken out passively comes back only after a check succeeds. */
  readonly activeChecks: boolean
  readonly clock: Clock
  readonly log: GatewayLog
}

/** A backend with its mutable state; the pool owns it, policies see it as a {@link PolicyBackend}. */
export class Backend implements PolicyBackend {
  readonly id: string
  readonly url: string
  requests = 0
  active = 0
  draining = false
  checkOk = true
  failures = 0
  /** Passive detection keeps the backend out until this instant. */
  passiveUntil = 0
  /** Passive detection took it out and an active check started after the cooldown must bring it back. */
  awaitingCheck = false
  lastError: string | null = null
  readonly #idle: (() => void)[] = []

  constructor(url: string) {
    this.url = url
    this.id = backendId(url)
  }

  down(now: number): 'check' | 'passive' | null {
    if (!this.checkOk) return 'check'
    if (now < this.passiveUntil || this.awaitingCheck) return 'passive'
    return null
  }

  /** Resolves once no request is in flight. */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  /** @internal */
  settle(): void {
    if (this.active === 0) for (const resolve of this.#idle.splice(0)) resolve()
  }
}

/** Releases a backend taken by {@link Pool.acquire}; calling it again does nothing. */
export type Release = () => void

/** A named set of backends behind one prefix, with its policy, health and drain state. */
export class Pool {
  readonly name: string
  readonly prefix: string
  readonly #policy: BalancingPolicy
  readonly #passive: PassiveOptions | undefined
  readonly #activeChecks: boolean
  readonly #clock: Clock
  readonly #log: GatewayLog
  #backends: Backend[] = []

  constructor(options: PoolOptions) {
    this.name = options.name
    this.prefix = options.prefix
    this.#policy = options.policy
    this.#passive = options.passive
    this.#activeChecks = options.activeChecks
    this.#clock = options.clock
    this.#log = options.log
    this.setBackends(options.backends)
  }

  get policy(): BalancingPolicy {
    return this.#policy
  }

  get policyName(): PolicyName {
    return this.#policy.name
  }

  backends(): readonly Backend[] {
    return this.#backends
  }

  /**
   * Replaces the backend list. Backends that stay keep their counters and health but stop draining
   * (listing a backend again is how a drained one is put back); new ones start healthy. Returns the new ones.
   */
  setBackends(urls: readonly unknown[]): Backend[] {
    if (!Array.isArray(urls)) throw new AppError('ERR_VALIDATION', 'backends must be an array of URLs')
    const origins = urls.map(normalizeBackendUrl)
    const duplicate = origins.find((origin, i) => origins.indexOf(origin) !== i)
    if (duplicate) throw new AppError('ERR_VALIDATION', `backend ${duplicate} is listed twice`)
    const current = new Map(this.#backends.map((b) => [b.url, b]))
    const added: Backend[] = []
    this.#backends = origins.map((origin) => {
      const kept = current.get(origin)
      if (kept) {
        kept.draining = false
        return kept
      }
      const backend = new Backend(origin)
      added.push(backend)
      return backend
    })
    return added
  }

  /** Marks `url` draining (no new requests) and resolves when its in-flight requests are done. */
  drain(url: unknown): Promise<void> {
    const backend = this.find(url)
    if (!backend.draining) this.#log.info({ pool: this.name, backend: backend.url }, 'draining backend')
    backend.draining = true
    return backend.whenIdle()
  }

  /** The backend with this URL; ERR_NOT_FOUND when the pool has none. */
  find(url: unknown): Backend {
    const origin = normalizeBackendUrl(url)
    const backend = this.#backends.find((b) => b.url === origin)
    if (!backend) throw new AppError('ERR_NOT_FOUND', `pool "${this.name}" has no backend ${origin}`)
    return backend
  }

  /** Asks the policy for a backend among the available ones that this request has not tried yet. */
  pick(request: RequestInfo, tried: ReadonlySet<Backend>): Backend | undefined {
    const now = this.#clock.now()
    const available = this.#backends.filter((b) => !b.draining && b.down(now) === null && !tried.has(b))
    return this.#policy.pick(available, request) as Backend | undefined
  }

  /** Counts a request sent to `backend` until the returned release is called. */
  acquire(backend: Backend): Release {
    backend.requests++
    backend.active++
    this.#policy.onRequestStart?.(backend)
    let released = false
    return () => {
      if (released) return
      released = true
      backend.active--
      this.#policy.onRequestEnd?.(backend)
      backend.settle()
    }
  }

  /** A response arrived: 5xx counts as a failure for passive detection, anything else clears the count. */
  recordResponse(backend: Backend, status: number): void {
    if (status >= 500) this.recordFailure(backend, `answered ${status}`)
    else backend.failures = 0
  }

  /** A request failed (connection error, timeout or 5xx); enough in a row take the backend out. */
  recordFailure(backend: Backend, reason: string): void {
    backend.lastError = reason
    backend.failures++
    const passive = this.#passive
    if (!passive || backend.failures < passive.failures) return
    const now = this.#clock.now()
    const wasUp = backend.down(now) === null
    backend.failures = 0
    backend.passiveUntil = now + passive.cooldownMs
    backend.awaitingCheck = this.#activeChecks
    if (wasUp)
      this.#log.warn(
        { pool: this.name, backend: backend.url, reason, cooldownMs: passive.cooldownMs },
        `backend down after ${passive.failures} consecutive failures`,
      )
  }

  /** The result of an active check that started at `startedAt`. */
  recordCheck(backend: Backend, ok: boolean, startedAt: number, reason: string): void {
    const now = this.#clock.now()
    const before = backend.down(now)
    backend.checkOk = ok
    if (!ok) backend.lastError = reason
    // Only a check that began after the cooldown counts, so the quarantine always lasts cooldownMs.
    if (ok && backend.awaitingCheck && startedAt >= backend.passiveUntil) backend.awaitingCheck = false
    const after = backend.down(now)
    if (before === null && after !== null)
      this.#log.warn({ pool: this.name, backend: backend.url, reason }, 'backend failed its health check')
    else if (before !== null && after === null)
      this.#log.info({ pool: this.name, backend: backend.url }, 'backend healthy again')
  }

  stats(): BackendStats[] {
    const now = this.#clock.now()
    return this.#backends.map((b) => {
      const down = b.down(now)
      return {
        url: b.url,
        id: b.id,
        requests: b.requests,
        active: b.active,
        healthy: down === null,
        draining: b.draining,
        down,
        failures: b.failures,
        lastError: b.lastError,
      }
    })
  }
}
