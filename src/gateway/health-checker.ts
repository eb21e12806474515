import type { Clock } from '../core/clock.ts'
import type { Backend, Pool } from './pool.ts'

export interface HealthCheckOptions {
  /** Time between two checks of the same backend. */
  readonly intervalMs: number
  /** A check that has not answered by then fails. */
  readonly timeoutMs: number
  /** Requested with GET; a 2xx or 3xx answer is healthy. Default `/health`. */
  readonly path?: string
}

/**
 * Active health checks: every backend of every pool gets `GET path` each interval. One failed check
 * takes a backend out, one success brings it back. A check still running is not started twice.
 */
export class HealthChecker {
  readonly #pools: readonly Pool[]
  readonly #options: Required<HealthCheckOptions>
  readonly #clock: Clock
  readonly #running = new WeakSet<Backend>()
  readonly #stop = new AbortController()
  #timer: NodeJS.Timeout | undefined

  constructor(pools: readonly Pool[], options: HealthCheckOptions, clock: Clock) {
    this.#pools = pools
    this.#options = { path: '/health', ...options }
    this.#clock = clock
  }

  start(): void {
    this.checkAll()
    this.#timer = setInterval(() => this.checkAll(), this.#options.intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#stop.abort()
  }

  checkAll(): void {
    for (const pool of this.#pools) for (const backend of pool.backends()) void this.check(pool, backend)
  }

  /** Checks one backend now; resolves when its result is recorded. */
  async check(pool: Pool, backend: Backend): Promise<void> {
    if (this.#running.has(backend) || this.#stop.signal.aborted) return
    this.#running.add(backend)
    const startedAt = this.#clock.now()
    const { path, timeoutMs } = this.#options
    let ok: boolean
    let reason: string
    try {
      const res = await fetch(backend.url + path, {
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#stop.signal]),
        redirect: 'manual',
        headers: { 'user-agent': 'statelab-gateway-health-check' },
      })
      await res.arrayBuffer()
      ok = res.status >= 200 && res.status < 400
      reason = `health check GET ${path} answered ${res.status}`
    } catch (err) {
      ok = false
      reason = `health check GET ${path} failed: ${describeFetchError(err, timeoutMs)}`
    } finally {
      this.#running.delete(backend)
    }
    if (!this.#stop.signal.aborted) pool.recordCheck(backend, ok, startedAt, reason)
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`
  return e.cause?.code ?? e.cause?.message ?? e.message
}
