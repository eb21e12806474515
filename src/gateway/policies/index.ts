import type { BalancingPolicy, PolicyName } from './balancing-policy.ts'
import { IpHashPolicy } from './ip-hash.ts'
import { LeastConnectionsPolicy } from './least-connections.ts'
import { RoundRobinPolicy } from './round-robin.ts'
import { type StickyCookieOptions, StickyCookiePolicy } from './sticky-cookie.ts'

/** Every policy name, in the order help texts list them. */
export const POLICY_NAMES: readonly PolicyName[] = Object.freeze([
  'round-robin',
  'least-connections',
  'sticky',
  'ip-hash',
])

/** True when `name` is a {@link PolicyName}. */
export function isPolicyName(name: unknown): name is PolicyName {
  return typeof name === 'string' && (POLICY_NAMES as readonly string[]).includes(name)
}

/**
 * A fresh policy by name; `sticky` options apply only to the sticky policy.
 *
 * @example
 * const policy = createPolicy('sticky', { path: '/api/stateful' })
 */
export function createPolicy(name: PolicyName, sticky: StickyCookieOptions = {}): BalancingPolicy {
  switch (name) {
    case 'round-robin':
      return new RoundRobinPolicy()
    case 'least-connections':
      return new LeastConnectionsPolicy()
    case 'sticky':
      return new StickyCookiePolicy(sticky)
    case 'ip-hash':
      return new IpHashPolicy()
    default:
      throw new TypeError(
        `unknown balancing policy "${name as string}"; use one of ${POLICY_NAMES.join(', ')}`,
      )
  }
}

export type { BalancingPolicy, PolicyBackend, PolicyName, RequestInfo } from './balancing-policy.ts'
export { IpHashPolicy } from './ip-hash.ts'
export { LeastConnectionsPolicy } from './least-connections.ts'
export { RoundRobinPolicy } from './round-robin.ts'
export { type StickyCookieOptions, StickyCookiePolicy } from './sticky-cookie.ts'
