// Peers of `statelab bench` on bare node:http, one per way of knowing the caller:
//   node --expose-gc bench/peers/raw.mjs '{"variant":"none|map|redis|fast-jwt|jose", "redisUrl":..., "prefix":...}'
// Every variant serves POST /login (a credential for the user "bench") and GET /me (who the credential names,
// 401 without one). `none` is the ceiling: it checks nothing. `none`, `map` and `fast-jwt` need nothing from
// bench/peers/node_modules (fast-jwt and redis are statelab's own dependencies too); `jose` does.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { serveParent } from '../lib/bench-child.ts'

const { variant, redisUrl, prefix } = JSON.parse(process.argv[2] ?? '{}')
const USER = { id: 'u1', username: 'bench' }
const SESSION_TTL_MS = 30 * 60_000
const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' }
const UNAUTHORIZED = JSON.stringify({ error: { code: 'ERR_UNAUTHENTICATED', message: 'no credential' } })

/** `login()` issues a token; `identify(token)` returns the user it names, or undefined. */
async function openVariant() {
  switch (variant) {
    case 'none':
      return { login: () => 'none', identify: () => USER }
    case 'map': {
      const sessions = new Map()
      return {
        login() {
          const id = randomBytes(32).toString('base64url')
          sessions.set(id, { ...USER })
          return id
        },
        identify: (token) => sessions.get(token),
      }
    }
    case 'redis': {
      const { createClient } = await import('redis')
      const client = createClient({ url: redisUrl })
      client.on('error', (err) => process.stderr.write(`raw redis peer: ${err.message}\n`))
      await client.connect()
      return {
        async login() {
          const id = randomBytes(32).toString('base64url')
          await client.set(`${prefix}:${id}`, JSON.stringify(USER), {
            expiration: { type: 'PX', value: SESSION_TTL_MS },
          })
          return id
        },
        async identify(token) {
          const value = await client.get(`${prefix}:${token}`)
          return value === null ? undefined : JSON.parse(value)
        },
        close: () => client.close(),
      }
    }
    case 'fast-jwt': {
      const { createSigner, createVerifier } = await import('fast-jwt')
      const key = randomBytes(32)
      const sign = createSigner({ key, algorithm: 'HS256', expiresIn: SESSION_TTL_MS })
      // The verified-token cache: a token seen before costs a lookup instead of an HMAC.
      const verify = createVerifier({ key, algorithms: ['HS256'], cache: true })
      return {
        login: () => sign({ sub: USER.id, username: USER.username }),
        identify(token) {
          try {
            const claims = verify(token)
            return { id: claims.sub, username: claims.username }
          } catch {
            return undefined
          }
        },
      }
    }
    case 'jose': {
      const { jwtVerify, SignJWT } = await import('jose')
      const key = randomBytes(32)
      return {
        login: () =>
          new SignJWT({ username: USER.username })
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject(USER.id)
            .setExpirationTime('30m')
            .sign(key),
        async identify(token) {
          try {
            const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] })
            return { id: payload.sub, username: payload.username }
          } catch {
            return undefined
          }
        },
      }
    }
    default:
      throw new TypeError(`raw peer: unknown variant ${variant}`)
  }
}

const impl = await openVariant()
const BEARER = 'bearer '

/** The credential of a request: a bearer token or an `x-session-id`. */
function tokenOf(req) {
  const auth = req.headers.authorization
  if (auth?.toLowerCase().startsWith(BEARER)) return auth.slice(BEARER.length)
  return req.headers['x-session-id']
}

function send(res, status, body) {
  res.writeHead(status, { ...JSON_TYPE, 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

async function handle(req, res) {
  if (req.method === 'POST' && req.url === '/login') {
    req.resume()
    return send(res, 200, JSON.stringify({ token: await impl.login() }))
  }
  if (req.method === 'GET' && req.url === '/me') {
    const token = variant === 'none' ? 'none' : tokenOf(req)
    const user = token ? await impl.identify(token) : undefined
    if (!user) return send(res, 401, UNAUTHORIZED)
    return send(res, 200, JSON.stringify({ id: user.id, username: user.username }))
  }
  send(res, 404, JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: 'not found' } }))
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`raw peer: ${err.stack}\n`)
    if (!res.headersSent)
      send(res, 500, JSON.stringify({ error: { code: 'ERR_INTERNAL', message: err.message } }))
  })
})

await serveParent({
  async start() {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return { port: server.address().port }
  },
  async stop() {
    server.closeAllConnections()
    server.close()
    await impl.close?.()
  },
})
