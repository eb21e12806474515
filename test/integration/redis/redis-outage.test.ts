import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from 'redis'
import { FakeClock } from '../../../src/core/clock.ts'
import { isAppError } from '../../../src/core/errors.ts'
import { createSession, newSessionToken } from '../../../src/core/sessions/session.ts'
import { RedisSessionStore } from '../../../src/stores/redis/index.ts'
import { redisBinariesSkip, startRedisServer } from '../../support/redis-server.ts'

// node-redis queues commands while it reconnects, so with default options a request would wait for Redis
// forever. The client configuration below (statelab's) turns an outage into an immediate 503; the store's
// timeoutMs bounds a Redis that holds the connection open but does not answer.

/** A store over a client configured as statelab configures it, holding one session. */
async function storeWithSession(t: TestContext, url: string, timeoutMs: number) {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    // No command timeout of node-redis's own: the store's is the only bound.
    commandOptions: { timeout: 0 },
    socket: { reconnectStrategy: (retries: number) => Math.min(retries * 20, 200) },
  })
  client.on('error', () => {})
  await client.connect()
  t.after(() => client.destroy())
  const clock = new FakeClock(Date.now())
  const store = new RedisSessionStore({ client, clock, timeoutMs })
  const policy = { idleTimeoutMs: 60_000, absoluteTimeoutMs: 3_600_000 }
  const session = createSession(newSessionToken().id, { id: 'u', username: 'u' }, clock.now(), policy)
  await store.create(session)
  return { client, store, session }
}
describe('RedisSessionStore while Redis is down', { skip: redisBinariesSkip() }, () => {
  it('fails fast with ERR_STORE_UNAVAILABLE, then works again once Redis is back', async (t) => {
    let server = await startRedisServer()
    t.after(() => server.stop())
    const { client, store, session } = await storeWithSession(t, server.url, 1000)

    await server.kill()
    const started = Date.now()
    await assert.rejects(store.get(session.id), (err) => isAppError(err, 'ERR_STORE_UNAVAILABLE'))
    await assert.rejects(store.ping(), (err) => isAppError(err, 'ERR_STORE_UNAVAILABLE'))
    assert.ok(Date.now() - started < 500, `took ${Date.now() - started} ms to fail`)

    // Nothing was persisted (no AOF, no RDB), so the restarted server is empty but the store serves again.
    server = await startRedisServer({ port: server.port })
    const deadline = Date.now() + 3000
    while (!client.isReady) {
      assert.ok(Date.now() < deadline, 'the client did not reconnect within 3 s')
      await sleep(20)
    }
    await store.ping()
    assert.equal(await store.get(session.id), undefined)
    await store.create(session)
    assert.deepEqual(await store.get(session.id), session)
  })

  // The test's own timeout: without the store's bound the read would wait for as long as Redis is stopped.
  it('gives up on a Redis that stops answering after timeoutMs, and serves again when it answers', {
    timeout: 10_000,
  }, async (t) => {
    const server = await startRedisServer()
    t.after(() => server.stop())
    const { store, session } = await storeWithSession(t, server.url, 200)

    // Stopped, not killed: the connection stays open and nothing answers on it.
    process.kill(server.pid, 'SIGSTOP')
    const started = performance.now()
    try {
      await assert.rejects(
        store.get(session.id),
        (err) => isAppError(err, 'ERR_STORE_UNAVAILABLE') && /no answer within 200 ms/.test(err.message),
      )
    } finally {
      process.kill(server.pid, 'SIGCONT')
    }
    const waited = performance.now() - started
    assert.ok(waited >= 190, `gave up after ${waited} ms, before the bound`)
    assert.ok(waited < 2000, `took ${waited} ms to give up`)
    assert.deepEqual(await store.get(session.id), session)
  })
})
