import type { BalancingPolicy, PolicyBackend, RequestInfo } from './balancing-policy.ts'

/**
 * The backend with the fewest requests in flight. Ties rotate, so that sequential traffic (where every
 * backend has zero in flight) still spreads instead of piling onto the first backend.
 */
export class LeastConnectionsPolicy implements BalancingPolicy {
  readonly name = 'least-connections'
  readonly #active = new Map<string, number>()
  #turn = 0

  pick(backends: readonly PolicyBackend[], _request?: RequestInfo): PolicyBackend | undefined {
    const n = backends.length
    if (n === 0) return undefined
    const start = this.#turn % n
    this.#turn = (this.#turn + 1) % 1_000_000_007
    let best: PolicyBackend | undefined
    let fewest = Number.POSITIVE_INFINITY
    for (let i = 0; i < n; i++) {
      const backend = backends[(start + i) % n]!
      const active = this.#active.get(backend.id) ?? 0
      if (active < fewest) {
        best = backend
        fewest = active
      }
    }
    return best
  }

  onRequestStart(backend: PolicyBackend): void {
    this.#active.set(backend.id, (this.#active.get(backend.id) ?? 0) + 1)
  }

  onRequestEnd(backend: PolicyBackend): void {
    const active = (this.#active.get(backend.id) ?? 0) - 1
    // Delete at zero so backends removed from the pool leave nothing behind.
    if (active > 0) this.#active.set(backend.id, active)
    else this.#active.delete(backend.id)
  }

  /** Requests in flight per backend id, for tests and stats. */
  active(id: string): number {
    return this.#active.get(id) ?? 0
  }
}
