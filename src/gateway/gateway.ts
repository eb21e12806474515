import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { type Clock, systemClock } from '../core/clock.ts'
import { handleClientError, handleError, handleNotFound } from '../http/errors.ts'
import { registerAdminRoutes } from './admin-routes.ts'
import { type GatewayLog, silentLog } from './gateway-log.ts'
import { HealthChecker, type HealthCheckOptions } from './health-checker.ts'
import { createPolicy, isPolicyName, POLICY_NAMES, type PolicyName } from './policies/index.ts'
import { type BackendStats, type PassiveOptions, Pool } from './pool.ts'
import { registerProxy } from './proxy.ts'
import { Router } from './router.ts'

/** One pool: requests under `prefix` go, prefix stripped, to one of `backends` chosen by `policy`. */
export interface PoolConfig {
  /** A path prefix such as `/api/stateful`; whole segments match, and it is stripped before forwarding. */
  readonly prefix: string
  /** Backend origins (`http://127.0.0.1:3001`); may be empty and filled later with `setBackends`. */
  readonly backends: readonly string[]
  readonly policy: PolicyName
}

export interface GatewayOptions {
  /** Default `127.0.0.1`: the admin API has no authentication unless `adminToken` is set. */
  readonly host?: string
  /** 0 picks a free port (tests). */
  readonly port: number
  /** HTTPS too, on `port` (0: a free one), with a PEM key and certificate (see `ensureSelfSignedCertificate`). */
  readonly https?: { readonly port: number; readonly key: string | Buffer; readonly cert: string | Buffer }
  /** Pool names are used in admin URLs: lower-case letters, digits and dashes. */
  readonly pools: Readonly<Record<string, PoolConfig>>
  /**
   * Active checks, default `GET /health` every 2 s with a 1 s timeout; `false` turns them off (then only
   * passive detection takes backends out, and its cooldown alone brings them back).
   */
  readonly healthCheck?: HealthCheckOptions | false
  /**
   * Passive detection: `failures` consecutive failed requests (connection errors, timeouts, 5xx) take a
   * backend out for at least `cooldownMs`. Default 3 failures, 10 s; `false` turns it off.
   */
  readonly passive?: PassiveOptions | false
  /** Other backends tried after a connection error, for idempotent methods only. Default 2. */
  readonly retries?: number
  /** Timeout for a backend's response headers and body inactivity; past it the client gets 504. Default 30 s. */
  readonly upstreamTimeoutMs?: number
  /** Require `Authorization: Bearer <adminToken>` on `/_gateway/`; `false` removes the admin API. */
  readonly admin?: boolean | { readonly token: string }
  /** pino (or anything with its `info`/`warn`); silent when absent. */
  readonly log?: GatewayLog
  readonly clock?: Clock
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port`, ready for `fetch`. */
  readonly url: string
  readonly port: number
  /** `https://host:port` when HTTPS is on: the same routes and admin API. */
  readonly httpsUrl: string | undefined
  readonly httpsPort: number | undefined
  /** Replaces a pool's backends; those that stay keep their counters and health and stop draining. */
  setBackends(pool: string, urls: readonly string[]): void
  /** Stops sending `url` new requests; resolves when its in-flight requests are done. */
  drain(pool: string, url: string): Promise<void>
  /** Per pool, per backend: requests, in flight, health, draining. */
  stats(): Record<string, BackendStats[]>
  /** Stops health checks, finishes in-flight requests and closes the listener. */
  close(): Promise<void>
}

/** Defaults for `healthCheck` and `passive`: every statelab API answers `GET /health`. */
export const DEFAULT_HEALTH_CHECK: Readonly<Required<HealthCheckOptions>> = Object.freeze({
  intervalMs: 2000,
  timeoutMs: 1000,
  path: '/health',
})
export const DEFAULT_PASSIVE: Readonly<PassiveOptions> = Object.freeze({ failures: 3, cooldownMs: 10_000 })

const POOL_NAME = /^[a-z][a-z0-9-]{0,63}$/
const PREFIX = /^\/[\w\-.~/]*$/

/**
 * Starts the reverse proxy with its balancing, health checks, failover and admin API.
 *
 * @example
 * const gateway = await startGateway({
 *   port: 8080,
 *   pools: {
 *     stateless: { prefix: '/api/stateless', backends: ['http://127.0.0.1:3000'], policy: 'round-robin' },
 *     stateful: { prefix: '/api/stateful', backends: ['http://127.0.0.1:3001'], policy: 'sticky' },
 *   },
 *   healthCheck: { intervalMs: 2000, timeoutMs: 1000, path: '/health' },
 *   passive: { failures: 3, cooldownMs: 10_000 },
 * })
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  validate(options)
  const healthCheck =
    options.healthCheck === false ? undefined : (options.healthCheck ?? DEFAULT_HEALTH_CHECK)
  const passive = options.passive === false ? undefined : (options.passive ?? DEFAULT_PASSIVE)
  const clock = options.clock ?? systemClock
  const log = options.log ?? silentLog
  const pools = new Map<string, Pool>()
  for (const [name, config] of Object.entries(options.pools)) {
    const prefix = config.prefix === '/' ? '' : config.prefix.replace(/\/+$/, '')
    pools.set(
      name,
      new Pool({
        name,
        prefix,
        policy: createPolicy(config.policy, { path: prefix || '/' }),
        backends: config.backends,
        passive,
        activeChecks: healthCheck !== undefined,
        clock,
        log,
      }),
    )
  }
  const poolOf = (name: string): Pool => {
    const pool = pools.get(name)
    if (!pool) throw new TypeError(`unknown pool "${name}"; pools: ${[...pools.keys()].join(', ')}`)
    return pool
  }
  const checker = healthCheck && new HealthChecker([...pools.values()], healthCheck, clock)

  const app = Fastify({
    ...(options.log ? { loggerInstance: options.log as FastifyBaseLogger } : { logger: false }),
    clientErrorHandler: handleClientError,
    // The backend limits what it accepts; the gateway only buffers small idempotent bodies (proxy.ts).
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 8192 },
  })
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(handleNotFound)
  if (options.admin !== false) {
    const token = typeof options.admin === 'object' ? options.admin.token : undefined
    await app.register(registerAdminRoutes, { prefix: '/_gateway', pools, checker, token })
  }
  await app.register(registerProxy, {
    router: new Router([...pools.values()]),
    retries: options.retries ?? 2,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 30_000,
  })

  const host = options.host ?? '127.0.0.1'
  await app.listen({ host, port: options.port })
  let tls: HttpsServer | undefined
  try {
    tls = options.https && (await listenHttps(app, host, options.https))
  } catch (err) {
    await app.close()
    throw err
  }
  checker?.start()
  const address = app.server.address() as AddressInfo
  const tlsAddress = tls?.address() as AddressInfo | undefined

  return {
    url: origin('http', address),
    port: address.port,
    httpsUrl: tlsAddress && origin('https', tlsAddress),
    httpsPort: tlsAddress?.port,
    setBackends(pool, urls) {
      const target = poolOf(pool)
      const added = target.setBackends(urls)
      log.info({ pool, backends: urls }, 'pool backends replaced')
      for (const backend of added) void checker?.check(target, backend)
    },
    drain: (pool, url) => poolOf(pool).drain(url),
    stats: () => Object.fromEntries([...pools].map(([name, pool]) => [name, pool.stats()])),
    async close() {
      checker?.stop()
      await Promise.all([tls && new Promise((resolve) => tls.close(resolve)), app.close()])
    },
  }
}

/** `scheme://host:port` for a listening address, a wildcard one shown as loopback (ready for `fetch`). */
function origin(scheme: string, address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host
  return `${scheme}://${shown}:${address.port}`
}

/** A TLS listener in front of the same Fastify routing (one app, two ports). */
async function listenHttps(
  app: FastifyInstance,
  host: string,
  https: NonNullable<GatewayOptions['https']>,
): Promise<HttpsServer> {
  const server = createHttpsServer({ key: https.key, cert: https.cert }, (req, res) => app.routing(req, res))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(https.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}

/** Bad options fail at once, naming the option. */
function validate(options: GatewayOptions): void {
  const { port, pools, healthCheck, passive, retries, upstreamTimeoutMs } = options
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new TypeError(`startGateway options.port must be an integer from 0 to 65535; got ${port}`)
  const entries = Object.entries(pools ?? {})
  if (entries.length === 0) throw new TypeError('startGateway options.pools must name at least one pool')
  const prefixes = new Set<string>()
  for (const [name, pool] of entries) {
    const at = `startGateway options.pools.${name}`
    if (!POOL_NAME.test(name))
      throw new TypeError(
        `startGateway options.pools: "${name}" must be lower-case letters, digits and dashes`,
      )
    if (typeof pool.prefix !== 'string' || !PREFIX.test(pool.prefix) || pool.prefix.startsWith('/_gateway'))
      throw new TypeError(
        `${at}.prefix must be a path such as /api/stateful (not under /_gateway); got "${pool.prefix}"`,
      )
    const prefix = pool.prefix.replace(/\/+$/, '')
    if (prefixes.has(prefix)) throw new TypeError(`${at}.prefix "${pool.prefix}" is used by another pool`)
    prefixes.add(prefix)
    if (!isPolicyName(pool.policy))
      throw new TypeError(
        `${at}.policy must be one of ${POLICY_NAMES.join(', ')}; got "${String(pool.policy)}"`,
      )
    if (!Array.isArray(pool.backends)) throw new TypeError(`${at}.backends must be an array of URLs`)
  }
  if (healthCheck !== undefined && healthCheck !== false) {
    positive(healthCheck.intervalMs, 'healthCheck.intervalMs')
    positive(healthCheck.timeoutMs, 'healthCheck.timeoutMs')
    if (healthCheck.path !== undefined && !healthCheck.path.startsWith('/'))
      throw new TypeError(
        `startGateway options.healthCheck.path must start with "/"; got "${healthCheck.path}"`,
      )
  }
  if (passive !== undefined && passive !== false) {
    if (!Number.isInteger(passive.failures) || passive.failures < 1)
      throw new TypeError(
        `startGateway options.passive.failures must be a positive integer; got ${passive.failures}`,
      )
    if (!Number.isFinite(passive.cooldownMs) || passive.cooldownMs < 0)
      throw new TypeError(
        `startGateway options.passive.cooldownMs must be a non-negative number; got ${passive.cooldownMs}`,
      )
  }
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0))
    throw new TypeError(`startGateway options.retries must be a non-negative integer; got ${retries}`)
  if (upstreamTimeoutMs !== undefined) positive(upstreamTimeoutMs, 'upstreamTimeoutMs')
  const https = options.https
  if (
    https &&
    (!Number.isInteger(https.port) || https.port < 0 || https.port > 65_535 || !https.key || !https.cert)
  )
    throw new TypeError(
      `startGateway options.https needs a port from 0 to 65535, a key and a cert; got port ${https.port}`,
    )
}

function positive(value: number, name: string): void {
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(
      `startGateway options.${name} must be a positive number of milliseconds; got ${value}`,
    )
}
