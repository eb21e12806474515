import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { createClient } from 'redis'
import type { Config } from '../../../src/config.ts'
import { FakeClock } from '../../../src/core/clock.ts'
import { type Harness, startHarness } from '../../support/harness.ts'
import { assertError } from '../../support/http.ts'
import { startRedisServer } from '../../support/redis-server.ts'
import { service, uniqueName } from '../../support/services.ts'
import { startSession, uploadJson, withSession } from '../../support/stateful.ts'

const redis = service('REDIS_URL')
const postgres = service('DATABASE_URL')

interface Variant {
  readonly name: string
  readonly skip: string | false
  /** Fresh settings for one test: a key prefix or schema no other run uses. */
  overrides(): Partial<Config>
  /** Whether a restart of the API process keeps sessions. */
  readonly durable: boolean
  /** Whether two processes see each other's sessions. */
  readonly shared: boolean
}

const VARIANTS: Variant[] = [
  { name: 'memory', skip: false, overrides: () => ({}), durable: false, shared: false },
  { name: 'sqlite', skip: false, overrides: () => ({ sessionStore: 'sqlite' }), durable: true, shared: true },
  {
    name: 'redis',
    skip: redis.skip,
    overrides: () => ({
      sessionStore: 'redis',
      redisUrl: redis.url,
      redisPrefix: uniqueName('statelab_test'),
    }),
    durable: true,
    shared: true,
  },
  {
    name: 'redis with the local cache',
    skip: redis.skip,
    overrides: () => ({
      sessionStore: 'redis',
      sessionCache: 'on',
      redisUrl: redis.url,
      redisPrefix: uniqueName('statelab_test'),
    }),
    durable: true,
    shared: true,
  },
  {
    name: 'postgres (sessions, users and files)',
    skip: postgres.skip,
    overrides: () => ({
      sessionStore: 'postgres',
      dataStore: 'postgres',
      jwtDenylist: 'postgres',
      databaseUrl: postgres.url,
      databaseSchema: uniqueName('statelab_test'),
    }),
    durable: true,
    shared: true,
  },
]

/** Removes what a test left in the shared Redis and PostgreSQL: its own prefix or schema only. */
async function cleanUp(overrides: Partial<Config>): Promise<void> {
  if (overrides.redisPrefix && redis.url) {
    const client = createClient({ url: redis.url })
    await client.connect()
    for await (const keys of client.scanIterator({ MATCH: `${overrides.redisPrefix}:*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.unlink(keys)
    }
    await client.close()
  }
  if (overrides.databaseSchema && postgres.url) {
    const pool = new pg.Pool({ connectionString: postgres.url })
    await pool.query(`DROP SCHEMA IF EXISTS "${overrides.databaseSchema}" CASCADE`)
    await pool.end()
  }
}

for (const variant of VARIANTS) {
  describe(`stateful API on the ${variant.name} store`, { skip: variant.skip }, () => {
    const harnesses: Harness[] = []
    const settings: Partial<Config>[] = []
    after(async () => {
      await Promise.all(harnesses.map((h) => h.dispose()))
      await Promise.all(settings.map(cleanUp))
    })

    async function open(overrides: Partial<Config>, extra: { dataDir?: string; clock?: FakeClock } = {}) {
      const harness = await startHarness({ ...extra, overrides })
      harnesses.push(harness)
      return harness
    }

    function fresh(): Partial<Config> {
      const overrides = variant.overrides()
      settings.push(overrides)
      return overrides
    }

    it('reports its store, and loses none of 100 concurrent changes to one session', async () => {
      const h = await open(fresh())
      assert.equal(
        (await h.stateful.inject({ url: '/health' })).json().session_store,
        variant.name.split(' ')[0],
      )
      assert.equal((await h.stateful.inject({ url: '/ready' })).statusCode, 200)
      const session = withSession(await startSession(h.stateful, await h.register()))
      const replies = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          uploadJson(h.stateful, session, { filename: `${i}.txt`, content: 'x' }),
        ),
      )
      assert.deepEqual(new Set(replies.map((r) => r.statusCode)), new Set([201]))
      const state = (await h.stateful.inject({ url: '/api/session', headers: session })).json()
      assert.equal(state.message_count, 100)
      assert.equal(state.files_uploaded.length, 100)
      assert.equal(state.total_bytes, 100)
    })

    it(`${variant.durable ? 'keeps' : 'loses'} sessions across a restart of the API process`, async () => {
      const overrides = fresh()
      const clock = new FakeClock(Date.now())
      const first = await open(overrides, { clock })
      const token = await startSession(first.stateful, await first.register())
      await first.close()
      const second = await open(overrides, { dataDir: first.dataDir, clock })
      const res = await second.stateful.inject({ url: '/api/session', headers: withSession(token) })
      if (variant.durable) assert.equal(res.statusCode, 200, res.body)
      else assertError(res, 401, 'ERR_SESSION_UNKNOWN')
    })

    it(`${variant.shared ? 'ends' : 'cannot end'} a session on every replica at once`, async () => {
      const overrides = fresh()
      const clock = new FakeClock(Date.now())
      const a = await open(overrides, { clock })
      const b = await open(overrides, { clock, dataDir: a.dataDir })
      const token = await startSession(a.stateful, await a.register())
      const onB = () => b.stateful.inject({ url: '/api/session', headers: withSession(token) })
      if (!variant.shared) {
        assertError(await onB(), 401, 'ERR_SESSION_UNKNOWN')
        return
      }
      // Twice: with the cache on, the second read is served locally and must still be right afterwards.
      assert.equal((await onB()).statusCode, 200)
      assert.equal((await onB()).statusCode, 200)
      if (b.runtime.cacheStats)
        assert.ok(b.runtime.cacheStats().hits > 0, 'the second read came from the cache')
      const end = await a.stateful.inject({
        method: 'POST',
        url: '/api/session/end',
        headers: withSession(token),
      })
      assert.equal(end.statusCode, 200)
      assertError(await onB(), 401, 'ERR_SESSION_UNKNOWN')
    })
  })
}

describe('stateful API while Redis goes down and comes back', { skip: redis.skip }, () => {
  it('answers 503 within the bound, never an anonymous session, and recovers by itself', async (t) => {
    const server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    t.after(() => server.stop())
    const h = await startHarness({
      overrides: { sessionStore: 'redis', redisUrl: server.url, storeTimeoutMs: 300 },
    })
    t.after(() => h.dispose())
    const user = await h.register()
    const token = await startSession(h.stateful, user)

    await server.kill()
    const started = performance.now()
    assertError(
      await h.stateful.inject({ url: '/api/files', headers: withSession(token) }),
      503,
      'ERR_STORE_UNAVAILABLE',
    )
    // Fail fast is the point: a request must not wait for Redis beyond the configured bound (plus scheduling).
    assert.ok(performance.now() - started < 2000, 'the request waited on a dead Redis')
    const login = await h.stateful.inject({ method: 'POST', url: '/api/session/start', payload: user })
    assertError(login, 503, 'ERR_STORE_UNAVAILABLE')
    const ready = await h.stateful.inject({ url: '/ready' })
    assert.equal(ready.statusCode, 503)
    assert.equal(ready.json().checks.sessions.status, 'unavailable')

    const restarted = await startRedisServer({
      port: server.port,
      dir: server.dir,
      args: ['--appendonly', 'yes'],
    })
    t.after(() => restarted.stop())
    let status = 0
    for (let attempt = 0; attempt < 100 && status !== 200; attempt++) {
      status = (await h.stateful.inject({ url: '/ready' })).statusCode
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.equal(status, 200, 'the API did not reconnect to Redis within 5 s')
    const res = await h.stateful.inject({ url: '/api/session', headers: withSession(token) })
    assert.equal(
      res.statusCode,
      200,
      'the session written before the crash survived (AOF, appendfsync always)',
    )
  })
})
