// Peer of `statelab bench`: Express 5 with express-session, as its documentation sets it up.
//   node --expose-gc bench/peers/express-session.mjs '{"store":"memory|redis", "redisUrl":..., "prefix":...}'
// POST /login puts the user "bench" in a new session (cookie connect.sid); GET /me answers from the session,
// 401 without one. `memory` is express-session's own MemoryStore, `redis` is connect-redis.

import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import express from 'express'
import session from 'express-session'
import { serveParent } from '../lib/bench-child.ts'

const { store, redisUrl, prefix } = JSON.parse(process.argv[2] ?? '{}')
let client
let sessionStore
if (store === 'redis') {
  const { createClient } = await import('redis')
  const { RedisStore } = await import('connect-redis')
  client = createClient({ url: redisUrl })
  client.on('error', (err) => process.stderr.write(`express peer: ${err.message}\n`))
  await client.connect()
  sessionStore = new RedisStore({ client, prefix: `${prefix}:` })
} else if (store !== 'memory') throw new TypeError(`express peer: unknown store ${store}`)

const app = express()
app.use(
  session({
    secret: randomBytes(32).toString('base64url'),
    resave: false,
    saveUninitialized: false,
    store: sessionStore,
    cookie: { httpOnly: true, sameSite: 'lax', maxAge: 30 * 60_000 },
  }),
)
app.post('/login', (req, res) => {
  req.session.user = { id: 'u1', username: 'bench' }
  res.json({ token: null })
})
app.get('/me', (req, res) => {
  const { user } = req.session
  if (!user) return res.status(401).json({ error: { code: 'ERR_UNAUTHENTICATED', message: 'no session' } })
  res.json({ id: user.id, username: user.username })
})

let server
await serveParent({
  async start() {
    server = app.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return { port: server.address().port }
  },
  async stop() {
    server?.closeAllConnections()
    server?.close()
    await client?.close()
  },
})
