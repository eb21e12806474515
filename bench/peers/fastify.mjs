// Peers of `statelab bench` on Fastify 5, as its documentation sets them up:
//   node --expose-gc bench/peers/fastify.mjs '{"variant":"none|jwt"}'
// `none` checks nothing (what the framework alone costs: statelab's APIs are Fastify apps); `jwt` is
// @fastify/jwt HS256: POST /login signs a token for the user "bench", GET /me verifies it (401 without one).
// `none` needs nothing from bench/peers/node_modules (Fastify is statelab's own dependency too); `jwt` does.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { serveParent } from '../lib/bench-child.ts'

const { variant } = JSON.parse(process.argv[2] ?? '{}')
const app = Fastify()
const USER = { sub: 'u1', username: 'bench' }

if (variant === 'jwt') {
  const { default: fastifyJwt } = await import('@fastify/jwt')
  await app.register(fastifyJwt, {
    secret: randomBytes(32).toString('base64url'),
    sign: { algorithm: 'HS256', expiresIn: '30m' },
    verify: { algorithms: ['HS256'] },
  })
  app.post('/login', async () => ({ token: app.jwt.sign(USER) }))
  app.get(
    '/me',
    {
      onRequest: async (request, reply) => {
        try {
          await request.jwtVerify()
        } catch {
          return reply.code(401).send({ error: { code: 'ERR_UNAUTHENTICATED', message: 'no valid token' } })
        }
      },
    },
    async (request) => ({ id: request.user.sub, username: request.user.username }),
  )
} else if (variant === 'none') {
  app.post('/login', async () => ({ token: 'none' }))
  app.get('/me', async () => ({ id: USER.sub, username: USER.username }))
} else throw new TypeError(`fastify peer: unknown variant ${variant}`)

await serveParent({
  async start() {
    await app.listen({ host: '127.0.0.1', port: 0 })
    return { port: app.server.address().port }
  },
  stop: () => app.close(),
})
