import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient, type RedisClientType } from 'redis'
import { type Clock, FakeClock } from '../../src/core/clock.ts'
import { isAppError } from '../../src/core/errors.ts'
import {
  createSession,
  newSessionToken,
  recordUpload,
  type Session,
} from '../../src/core/sessions/session.ts'
import { encodeSession } from '../../src/core/sessions/session-codec.ts'
import { RedisSessionStore } from '../../src/stores/redis/index.ts'
import { service, uniqueName } from '../support/services.ts'
import { runSessionStoreContract } from './session-store.contract.ts'

const redis = service('REDIS_URL')
let client: RedisClientType

/** A store under a prefix no one else uses, that deletes its keys (and only those) when closed. */
class ScratchRedisSessionStore extends RedisSessionStore {
  readonly prefix: string

  constructor(clock: Clock, prefix = uniqueName('statelab_test')) {
    super({ client, clock, prefix })
    this.prefix = prefix
  }

  override async close(): Promise<void> {
    for await (const keys of client.scanIterator({ MATCH: `${this.prefix}:*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.unlink(keys)
    }
  }
}

describe('RedisSessionStore', { skip: redis.skip }, () => {
  before(async () => {
    client = createClient({ url: redis.url })
    client.on('error', () => {})
    await client.connect()
  })
  after(() => client?.close())

  runSessionStoreContract('redis', { open: async (clock) => new ScratchRedisSessionStore(clock) })

  describe('with the local read cache', () => {
    let cached: RedisClientType
    before(async () => {
      cached = createClient({
        url: redis.url,
        RESP: 3,
        clientSideCache: { ttl: 0, maxEntries: 1000 },
      }) as never
      cached.on('error', () => {})
      await cached.connect()
    })
    after(() => cached?.close())

    runSessionStoreContract('redis with the local cache', {
      open: async (clock) => {
        const prefix = uniqueName('statelab_test')
        const store = new RedisSessionStore({ client: cached, clock, prefix })
        return Object.assign(store, { close: () => new ScratchRedisSessionStore(clock, prefix).close() })
      },
    })

    it("serves repeated reads locally, and sees another client's change once Redis says so", async () => {
      const clock = new FakeClock(Date.now())
      const prefix = uniqueName('statelab_test')
      const reader = new RedisSessionStore({ client: cached, clock, prefix })
      const writer = new ScratchRedisSessionStore(clock, prefix)
      try {
        const session = newSession(clock)
        await writer.create(session)
        await reader.get(session.id)
        assert.equal((await reader.get(session.id))?.version, 1)
        assert.equal(reader.cacheStats()?.hits, 1)
        assert.equal(await writer.compareAndSwap({ ...session, version: 2 }, 1), true)
        // The invalidation travels on the reader's own connection; it is there once Redis answers it again.
        await cached.ping()
        assert.equal((await reader.get(session.id))?.version, 2)
        assert.equal(await writer.destroy(session.id), true)
        await cached.ping()
        assert.equal(await reader.get(session.id), undefined)
      } finally {
        await writer.close()
      }
    })
  })

  const policy = { idleTimeoutMs: 60_000, absoluteTimeoutMs: 3_600_000 }
  const user = { id: 'user-redis', username: 'redis' }

  async function withStore(test: (store: ScratchRedisSessionStore, clock: FakeClock) => Promise<void>) {
    const clock = new FakeClock(Date.now())
    const store = new ScratchRedisSessionStore(clock)
    try {
      await test(store, clock)
    } finally {
      await store.close()
    }
  }

  function newSession(clock: Clock, overrides: Partial<Session> = {}): Session {
    return { ...createSession(newSessionToken().id, user, clock.now(), policy), ...overrides }
  }

  /** The key's remaining TTL, checked against the one the store should have set (Redis's clock runs on). */
  async function assertTtl(key: string, expectedMs: number): Promise<void> {
    const ttl = await client.pTTL(key)
    assert.ok(ttl <= expectedMs && ttl > expectedMs - 250, `PTTL ${ttl} ms, expected about ${expectedMs} ms`)
  }

  it('sets the key TTL to expiresAt - now on create, compare-and-swap and touch', () =>
    withStore(async (store, clock) => {
      const session = newSession(clock)
      await store.create(session)
      await assertTtl(store.sessionKey(session.id), policy.idleTimeoutMs)

      clock.advance(20_000)
      const next = { ...session, version: 2, lastActivityAt: clock.now(), expiresAt: clock.now() + 45_000 }
      assert.equal(await store.compareAndSwap(next, 1), true)
      await assertTtl(store.sessionKey(session.id), 45_000)

      clock.advance(5000)
      assert.equal(await store.touch(session.id, clock.now(), clock.now() + 30_000), true)
      await assertTtl(store.sessionKey(session.id), 30_000)
      assert.equal((await store.get(session.id))?.version, 2)
    }))

  it('shortens the TTL to the absolute remainder when that comes first', () =>
    withStore(async (store, clock) => {
      const session = newSession(clock, { absoluteExpiresAt: clock.now() + 90_000 })
      await store.create(session)
      clock.advance(50_000)
      // What the core computes: min(now + idle, absoluteExpiresAt) = the absolute cap, 40 s away.
      const expiresAt = Math.min(clock.now() + policy.idleTimeoutMs, session.absoluteExpiresAt)
      assert.equal(await store.touch(session.id, clock.now(), expiresAt), true)
      await assertTtl(store.sessionKey(session.id), 40_000)
    }))

  it('refuses to move expiresAt past the absolute cap (the index is scored by it)', () =>
    withStore(async (store, clock) => {
      const session = newSession(clock, { absoluteExpiresAt: clock.now() + 90_000 })
      await assert.rejects(store.create({ ...session, expiresAt: clock.now() + 100_000 }), RangeError)
      await store.create(session)
      await assert.rejects(store.touch(session.id, clock.now(), clock.now() + 100_000), RangeError)
      await assert.rejects(
        store.compareAndSwap({ ...session, version: 2, expiresAt: clock.now() + 100_000 }, 1),
        RangeError,
      )
      assert.deepEqual(await store.get(session.id), session)
    }))

  it('stores nothing for a session that is already expired', () =>
    withStore(async (store, clock) => {
      const session = newSession(clock, { expiresAt: clock.now() })
      await store.create(session)
      assert.equal(await store.get(session.id), undefined)
      assert.equal(await client.exists(store.userIndexKey(user.id)), 0)
    }))

  it('gives the user index a TTL that outlives its sessions, and prunes dead ids on list', () =>
    withStore(async (store, clock) => {
      const index = store.userIndexKey(user.id)
      const first = newSession(clock)
      const second = newSession(clock, { absoluteExpiresAt: clock.now() + 120_000 })
      const third = newSession(clock)
      await Promise.all([first, second, third].map((s) => store.create(s)))
      await assertTtl(index, policy.absoluteTimeoutMs)
      assert.equal(await client.zCard(index), 3)

      // A session Redis forgot behind the store's back (as its TTL would) leaves a dead id in the index.
      await client.del(store.sessionKey(first.id))
      assert.deepEqual(
        (await store.listByUser(user.id)).map((s) => s.id).toSorted(),
        [second.id, third.id].toSorted(),
      )
      assert.deepEqual((await client.zRange(index, 0, -1)).toSorted(), [second.id, third.id].toSorted())

      // Past `second`'s absolute cap its id is pruned by score, even while Redis still holds the key.
      clock.advance(120_000)
      await store.listByUser(user.id)
      assert.deepEqual(await client.zRange(index, 0, -1), [third.id])

      await store.destroy(third.id)
      assert.equal(await client.exists(index), 0)
    }))

  it('keeps a session as one short string, and a small index as a listpack', () =>
    withStore(async (store, clock) => {
      const session = newSession(clock)
      await store.create(session)
      const key = store.sessionKey(session.id)
      assert.equal(await client.type(key), 'string')
      const stored = await client.get(key)
      assert.equal(stored, encodeSession(session))
      assert.ok(stored!.length < JSON.stringify(session).length / 2, `${stored!.length} bytes stored`)
      assert.equal(await client.objectEncoding(store.userIndexKey(user.id)), 'listpack')
    }))

  it('keeps odd user ids, names and data intact through touch, compare-and-swap and destroy', () =>
    withStore(async (store, clock) => {
      const odd = { id: 'u,"[1]",\u2028é}', username: '[a,b]"\\' }
      const session = createSession(newSessionToken().id, odd, clock.now(), policy)
      await store.create(session)
      clock.advance(1000)
      assert.equal(await store.touch(session.id, clock.now(), clock.now() + 60_000), true)
      const touched = { ...session, lastActivityAt: clock.now(), expiresAt: clock.now() + 60_000 }
      assert.deepEqual(await store.get(session.id), touched)
      const next = { ...touched, version: 2, data: recordUpload('f,"1"', 7)(touched.data) }
      assert.equal(await store.compareAndSwap(next, 1), true)
      assert.deepEqual(await store.get(session.id), next)
      assert.deepEqual(
        (await store.listByUser(odd.id)).map((s) => s.id),
        [session.id],
      )
      assert.equal(await store.destroy(session.id), true)
      assert.equal(await client.exists(store.userIndexKey(odd.id)), 0)
    }))

  it('reads a session stored as a hash by earlier versions, and rewrites it as a string with its TTL', () =>
    withStore(async (store, clock) => {
      const session = newSession(clock)
      const key = store.sessionKey(session.id)
      const index = store.userIndexKey(user.id)
      await client.hSet(key, {
        v: String(session.version),
        e: String(session.expiresAt),
        l: String(session.lastActivityAt),
        a: String(session.absoluteExpiresAt),
        u: session.userId,
        d: JSON.stringify(session),
      })
      await client.pExpire(key, 40_000)
      await client.zAdd(index, { score: session.absoluteExpiresAt, value: session.id })
      await client.pExpire(index, policy.absoluteTimeoutMs)

      assert.deepEqual(await store.get(session.id), session)
      assert.equal(await client.type(key), 'string')
      await assertTtl(key, 40_000)
      assert.equal(await store.compareAndSwap({ ...session, version: 2 }, 1), true)
      assert.equal((await store.get(session.id))?.version, 2)

      // Destroy and list see the old form too.
      const other = newSession(clock)
      await client.hSet(store.sessionKey(other.id), { v: '1', u: user.id, d: JSON.stringify(other) })
      await client.hSet(store.sessionKey(other.id), {
        l: String(other.lastActivityAt),
        e: String(other.expiresAt),
      })
      await client.zAdd(index, { score: other.absoluteExpiresAt, value: other.id })
      assert.equal((await store.listByUser(user.id)).length, 2)
      assert.equal(await store.destroyByUser(user.id, session.id), 1)
      const legacy = newSession(clock)
      await client.hSet(store.sessionKey(legacy.id), { v: '1', u: user.id, d: JSON.stringify(legacy) })
      assert.equal(await store.destroy(legacy.id), true)
      assert.equal(await client.exists(store.sessionKey(legacy.id)), 0)
    }))

  it('lets Redis forget a session when its real TTL runs out', () =>
    withStore(async (store, clock) => {
      const session = newSession(clock, { expiresAt: clock.now() + 50 })
      await store.create(session)
      assert.ok(await store.get(session.id))
      const deadline = Date.now() + 2000
      while ((await client.exists(store.sessionKey(session.id))) === 1) {
        assert.ok(Date.now() < deadline, 'the key outlived its TTL by more than 2 s')
        await sleep(20)
      }
      assert.equal(await store.get(session.id), undefined)
    }))

  it('fails with ERR_STORE_UNAVAILABLE when the client is closed', async () => {
    const closed = createClient({ url: redis.url })
    closed.on('error', () => {})
    await closed.connect()
    closed.destroy()
    const store = new RedisSessionStore({ client: closed, clock: new FakeClock() })
    const session = createSession(newSessionToken().id, user, Date.now(), policy)
    const started = Date.now()
    for (const operation of [
      () => store.get(session.id),
      () => store.create(session),
      () => store.compareAndSwap({ ...session, version: 2 }, 1),
      () => store.touch(session.id, session.createdAt, session.expiresAt),
      () => store.destroy(session.id),
      () => store.listByUser(user.id),
      () => store.destroyByUser(user.id),
      () => store.ping(),
    ]) {
      await assert.rejects(operation(), (err) => isAppError(err, 'ERR_STORE_UNAVAILABLE'))
    }
    assert.ok(Date.now() - started < 1000)
  })

  it('leaves the client open on close', () =>
    withStore(async (store) => {
      await RedisSessionStore.prototype.close.call(store)
      assert.equal(client.isOpen, true)
      await store.ping()
    }))

  it('refuses bad options by name', () => {
    const clock = new FakeClock()
    const bad = (options: object) => () =>
      new RedisSessionStore(options as ConstructorParameters<typeof RedisSessionStore>[0])
    assert.throws(bad({ clock }), /options\.client/)
    assert.throws(bad({ client: {}, clock }), /options\.client/)
    assert.throws(bad({ client }), /options\.clock/)
    assert.throws(bad({ client, clock, prefix: '' }), /options\.prefix/)
    assert.throws(bad({ client, clock, prefix: 'a{b}' }), /options\.prefix/)
  })
})
