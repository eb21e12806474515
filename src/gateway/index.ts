export { backendId } from './backend-url.ts'
export type { Gateway, GatewayOptions, PoolConfig } from './gateway.ts'
export { DEFAULT_HEALTH_CHECK, DEFAULT_PASSIVE, startGateway } from './gateway.ts'
export type { GatewayLog } from './gateway-log.ts'
export type { HealthCheckOptions } from './health-checker.ts'
export type {
  BalancingPolicy,
  PolicyBackend,
  /** The same as `PolicyName`; the lab's code names it so. */
  PolicyName as Policy,
  PolicyName,
  RequestInfo,
  StickyCookieOptions,
} from './policies/index.ts'
export {
  createPolicy,
  IpHashPolicy,
  isPolicyName,
  LeastConnectionsPolicy,
  POLICY_NAMES,
  RoundRobinPolicy,
  StickyCookiePolicy,
} from './policies/index.ts'
export type { BackendStats, PassiveOptions } from './pool.ts'
export type { TlsCredentials } from './tls.ts'
export { ensureSelfSignedCertificate, loadGatewayTls, resolveHttpsPort } from './tls.ts'
