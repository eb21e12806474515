import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../core/errors.ts'
import type { HealthChecker } from './health-checker.ts'
import type { BackendStats, Pool } from './pool.ts'

/** One pool as the admin API shows it. */
export interface PoolView {
  readonly prefix: string
  readonly policy: string
  readonly backends: BackendStats[]
}

export interface AdminOptions {
  readonly pools: ReadonlyMap<string, Pool>
  readonly checker: HealthChecker | undefined
  /** When set, every admin request needs `Authorization: Bearer <token>`. */
  readonly token: string | undefined
}

/** A pool's prefix, policy and per-backend stats. */
export function viewPool(pool: Pool): PoolView {
  return { prefix: pool.prefix, policy: pool.policyName, backends: pool.stats() }
}

const poolParams = {
  type: 'object',
  required: ['pool'],
  properties: { pool: { type: 'string', minLength: 1, maxLength: 64 } },
} as const

/**
 * The admin API under `/_gateway/` (registered with that prefix):
 * - `GET /pools`: every pool with its backends, their health and counters;
 * - `GET /pools/:pool`: one pool;
 * - `PUT /pools/:pool` `{"backends": ["http://127.0.0.1:3001", ...]}`: replace a pool's backends;
 * - `POST /pools/:pool/drain` `{"backend": "http://127.0.0.1:3001"}`: stop sending it new requests and
 *   answer once its in-flight requests are done.
 */
export async function registerAdminRoutes(app: FastifyInstance, options: AdminOptions): Promise<void> {
  const { pools, token } = options
  if (token !== undefined) {
    const expected = Buffer.from(`Bearer ${token}`)
    app.addHook('onRequest', async (request) => {
      const given = Buffer.from(request.headers.authorization ?? '')
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        throw new AppError(
          'ERR_UNAUTHENTICATED',
          'The gateway admin API needs "Authorization: Bearer <token>"',
        )
    })
  }

  const poolOf = (request: FastifyRequest<{ Params: { pool: string } }>): Pool => {
    const pool = pools.get(request.params.pool)
    if (!pool) {
      throw new AppError(
        'ERR_NOT_FOUND',
        `No pool "${request.params.pool}"; pools: ${[...pools.keys()].join(', ')}`,
      )
    }
    return pool
  }

  app.get('/pools', async () => ({
    pools: Object.fromEntries([...pools].map(([name, pool]) => [name, viewPool(pool)])),
  }))

  app.get<{ Params: { pool: string } }>('/pools/:pool', { schema: { params: poolParams } }, async (request) =>
    viewPool(poolOf(request)),
  )

  app.put<{ Params: { pool: string }; Body: { backends: string[] } }>(
    '/pools/:pool',
    {
      schema: {
        params: poolParams,
        body: {
          type: 'object',
          required: ['backends'],
          additionalProperties: false,
          properties: {
            backends: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 2048 } },
          },
        },
      },
    },
    async (request) => {
      const pool = poolOf(request)
      const added = pool.setBackends(request.body.backends)
      request.log.info({ pool: pool.name, backends: request.body.backends }, 'pool backends replaced')
      await Promise.all(added.map((backend) => options.checker?.check(pool, backend)))
      return viewPool(pool)
    },
  )

  app.post<{ Params: { pool: string }; Body: { backend: string } }>(
    '/pools/:pool/drain',
    {
      schema: {
        params: poolParams,
        body: {
          type: 'object',
          required: ['backend'],
          additionalProperties: false,
          properties: { backend: { type: 'string', maxLength: 2048 } },
        },
      },
    },
    async (request) => {
      const pool = poolOf(request)
      const backend = pool.find(request.body.backend)
      await pool.drain(backend.url)
      return { pool: pool.name, drained: backend.url, backends: pool.stats() }
    },
  )
}
