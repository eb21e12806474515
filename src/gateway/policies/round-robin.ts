import type { BalancingPolicy, PolicyBackend, RequestInfo } from './balancing-policy.ts'

/** Each backend in turn. The list may change between calls; the turn simply continues over the new one. */
export class RoundRobinPolicy implements BalancingPolicy {
  readonly name = 'round-robin'
  #next = 0

  pick(backends: readonly PolicyBackend[], _request?: RequestInfo): PolicyBackend | undefined {
    if (backends.length === 0) return undefined
    const backend = backends[this.#next % backends.length]
    // Wrap well before 2^53 so the modulo stays exact.
    this.#next = (this.#next + 1) % 1_000_000_007
    return backend
  }
}
