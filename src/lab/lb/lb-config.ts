// What a configuration of HAProxy or nginx in front of statelab says, independent of the load balancer:
// seed 001's layout (one pool per API under its prefix), the balancing policy of each pool, health checks
// and failover. `deploy/` holds the rendering of the defaults; the lab renders the same with free ports.
import { AppError } from '../../core/errors.ts'
import type { PolicyName } from '../../gateway/index.ts'

export const LB_NAMES = ['haproxy', 'nginx'] as const
/** A real load balancer the lab can put in front of the replicas instead of the built-in gateway. */
export type LbName = (typeof LB_NAMES)[number]

/** A pool: requests under `prefix` go, prefix stripped, to one of `backends`. */
export interface LbPool {
  /** Lower-case letters, digits and dashes: it names the HAProxy backend and the nginx upstream. */
  readonly name: string
  readonly prefix: string
  /** `host:port` of each server. */
  readonly backends: readonly string[]
  readonly policy: PolicyName
}

export interface LbConfig {
  /** Where clients connect (plain HTTP). */
  readonly listen: { readonly host: string; readonly port: number }
  /** HTTPS termination (nginx): the port and the PEM files. */
  readonly https?: { readonly port: number; readonly certificate: string; readonly key: string }
  readonly pools: readonly LbPool[]
  /** `GET <path>` must answer 2xx; every `intervalMs` (HAProxy's active checks). */
  readonly health: { readonly path: string; readonly intervalMs: number }
  /** Other servers an idempotent request is sent to when its server cannot be reached. */
  readonly retries: number
  /**
   * Set by the lab: pid file, sockets, logs and temporary files in `dir` (never a root-owned path), and
   * `slots` servers declared per HAProxy backend so that replicas can be added at run time.
   */
  readonly runtime?: { readonly dir: string; readonly slots: number }
}

/** The name of the affinity cookie both load balancers set for `sticky`, as the built-in gateway does. */
export const AFFINITY_COOKIE = 'statelab_lb'

/** Methods a load balancer may send again to another server; POST and PATCH never are. */
export const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'] as const

/** The gateway's defaults: what `deploy/` is rendered from. */
export function defaultLbConfig(): LbConfig {
  return {
    listen: { host: '0.0.0.0', port: 8080 },
    https: { port: 8443, certificate: '/etc/statelab/tls/cert.pem', key: '/etc/statelab/tls/key.pem' },
    pools: [
      { name: 'stateless', prefix: '/api/stateless', backends: ['127.0.0.1:3000'], policy: 'round-robin' },
      { name: 'stateful', prefix: '/api/stateful', backends: ['127.0.0.1:3001'], policy: 'sticky' },
    ],
    health: { path: '/health', intervalMs: 2000 },
    retries: 2,
  }
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/
const POOL_NAME = /^[a-z][a-z0-9-]{0,63}$/

/** `host:port,host:port` as a list; `ERR_CONFIG` naming `flag` when one is not `host:port`. */
export function parseHostPorts(list: string, flag: string): string[] {
  const items = list
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
  for (const item of items) {
    const port = Number(item.slice(item.lastIndexOf(':') + 1))
    if (!HOST_PORT.test(item) || port < 1 || port > 65_535)
      throw new AppError('ERR_CONFIG', `--${flag}: "${item}" is not host:port (e.g. 127.0.0.1:3001)`)
  }
  return items
}

/** Fails at once on what would make a broken configuration file. */
export function validateLbConfig(config: LbConfig): void {
  if (config.pools.length === 0) throw new TypeError('a load balancer configuration needs at least one pool')
  for (const pool of config.pools) {
    if (!POOL_NAME.test(pool.name))
      throw new TypeError(`pool name "${pool.name}" must be lower-case letters, digits and dashes`)
    if (!/^\/[\w\-.~/]*[\w\-.~]$/.test(pool.prefix))
      throw new TypeError(`pool ${pool.name}: prefix "${pool.prefix}" must be a path such as /api/stateful`)
    for (const backend of pool.backends)
      if (!HOST_PORT.test(backend)) throw new TypeError(`pool ${pool.name}: "${backend}" is not host:port`)
  }
}

/** A regular expression matching `text` literally. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
