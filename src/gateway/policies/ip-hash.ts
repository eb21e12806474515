import type { BalancingPolicy, PolicyBackend, RequestInfo } from './balancing-policy.ts'

/**
 * Rendezvous (highest-random-weight) hashing of the client address: every backend gets a score for the
 * address and the highest wins. The same address always lands on the same backend, and removing a
 * backend moves only the clients that were on it (everyone else's winner is still there); adding one
 * takes about 1/n of the clients and moves nobody else.
 */
export class IpHashPolicy implements BalancingPolicy {
  readonly name = 'ip-hash'

  pick(backends: readonly PolicyBackend[], request: RequestInfo): PolicyBackend | undefined {
    let best: PolicyBackend | undefined
    let bestScore = -1
    const ip = hashString(request.ip, 0x811c9dc5)
    for (const backend of backends) {
      const score = rendezvousScore(ip, backend.id)
      // Ties (vanishingly rare) go to the smaller id, so the answer never depends on list order.
      if (score > bestScore || (score === bestScore && best !== undefined && backend.id < best.id)) {
        best = backend
        bestScore = score
      }
    }
    return best
  }
}

/** The weight of `id` for a client whose address hashed to `ip`: a 32-bit unsigned integer. */
export function rendezvousScore(ip: number, id: string): number {
  return fmix32(hashString(id, ip))
}

/** FNV-1a over UTF-16 code units, seeded. */
function hashString(text: string, seed: number): number {
  let h = seed >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** MurmurHash3's finalizer: FNV alone leaves the high bits poorly mixed for short, similar inputs. */
function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
