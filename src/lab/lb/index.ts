import type { LabGateway } from '../experiments/lab-environment.ts'
import type { Replica } from '../supervisor.ts'
import { renderHaproxyConfig } from './haproxy-config.ts'
import { HaproxyGateway } from './haproxy-gateway.ts'
import { defaultLbConfig, type LbConfig, type LbName, type LbPool } from './lb-config.ts'
import { renderNginxConfig } from './nginx-config.ts'
import { NginxGateway } from './nginx-gateway.ts'

export type { LbConfig, LbName, LbPool } from './lb-config.ts'
export { AFFINITY_COOKIE, defaultLbConfig, LB_NAMES, parseHostPorts } from './lb-config.ts'
export { findLbBinary } from './lb-process.ts'
export { HaproxyGateway, NginxGateway }

/** What the lab asks of a real load balancer: one pool, its replicas, and the rest of the configuration. */
export interface LbGatewayOptions {
  readonly pool: Omit<LbPool, 'backends'>
  readonly replicas: readonly Replica[]
  /** Health checks and retries; listen address, TLS and runtime paths are the gateway's own. */
  readonly config: LbConfig
  /** Every line the load balancer prints. */
  readonly log: (line: string) => void
}

/** The configuration file of `lb` for `config`. */
export function renderLbConfig(lb: LbName, config: LbConfig): string {
  return lb === 'haproxy' ? renderHaproxyConfig(config) : renderNginxConfig(config)
}

/**
 * `lb` as a child process in front of `replicas`, with the health checks and failover of `deploy/`.
 *
 * @example
 * const gateway = await openLbGateway('haproxy', { pool, replicas, log: console.error })
 */
export function openLbGateway(
  lb: LbName,
  options: Omit<LbGatewayOptions, 'config'> & { readonly config?: LbConfig },
): Promise<LabGateway> {
  // Checks every second: a replica restarted by the lab is seen again sooner than with deploy's 2 s.
  const defaults = defaultLbConfig()
  const config = options.config ?? { ...defaults, health: { ...defaults.health, intervalMs: 1000 } }
  const full = { ...options, config }
  return lb === 'haproxy' ? HaproxyGateway.open(full) : NginxGateway.open(full)
}
