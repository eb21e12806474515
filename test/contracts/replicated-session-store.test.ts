import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createClient, type RedisClientType } from 'redis'
import { type Clock, FakeClock } from '../../src/core/clock.ts'
import { isAppError } from '../../src/core/errors.ts'
import { createSession, newSessionToken, type Session } from '../../src/core/sessions/session.ts'
import { ReplicatedSessionStore } from '../../src/stores/replicated/index.ts'
import { service, uniqueName } from '../support/services.ts'
import { runSessionStoreContract } from './session-store.contract.ts'

const redis = service('REDIS_URL')
let client: RedisClientType

function openReplica(clock: Clock, channel: string, syncTimeoutMs = 2000): Promise<ReplicatedSessionStore> {
  return ReplicatedSessionStore.open({ client, channel, clock, sweepIntervalMs: 0, syncTimeoutMs })
}

describe('ReplicatedSessionStore', { skip: redis.skip }, () => {
  before(async () => {
    // RESP3, as statelab connects: a subscribed connection then still answers PING.
    client = createClient({ url: redis.url, RESP: 3 }) as RedisClientType
    client.on('error', () => {})
    await client.connect()
  })
  after(() => client?.close())

  runSessionStoreContract('replicated', {
    open: (clock) => openReplica(clock, uniqueName('statelab_test')),
  })

  const policy = { idleTimeoutMs: 60_000, absoluteTimeoutMs: 3_600_000 }
  const alice = { id: 'user-alice', username: 'alice' }

  /** `count` replicas on one fresh channel, opened one after the other, closed after `test`. */
  async function withReplicas(
    count: number,
    test: (replicas: ReplicatedSessionStore[], clock: FakeClock, channel: string) => Promise<void>,
  ): Promise<void> {
    const clock = new FakeClock(Date.now())
    const channel = uniqueName('statelab_test')
    const replicas: ReplicatedSessionStore[] = []
    try {
      for (let i = 0; i < count; i++) replicas.push(await openReplica(clock, channel))
      await test(replicas, clock, channel)
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()))
    }
  }

  function newSession(clock: Clock, user = alice): Session {
    return createSession(newSessionToken().id, user, clock.now(), policy)
  }

  it('applies every change of one replica on the other, and reads locally', () =>
    withReplicas(2, async ([a, b], clock) => {
      const session = newSession(clock)
      await a!.create(session)
      await b!.caughtUp()
      assert.deepEqual(await b!.get(session.id), session)

      const next = { ...session, version: 2, data: { ...session.data, messageCount: 1 } }
      assert.equal(await a!.compareAndSwap(next, 1), true)
      clock.advance(5000)
      assert.equal(await b!.touch(session.id, clock.now(), clock.now() + 60_000), true)
      await a!.caughtUp()
      await b!.caughtUp()
      const expected = { ...next, lastActivityAt: clock.now(), expiresAt: clock.now() + 60_000 }
      assert.deepEqual(await a!.get(session.id), expected)
      assert.deepEqual(await b!.get(session.id), expected)
      assert.ok(b!.broadcastLag().received >= 2, 'b measured no broadcast')

      assert.equal(await b!.destroy(session.id), true)
      await a!.caughtUp()
      assert.equal(await a!.get(session.id), undefined)
    }))

  it("ends a user's sessions on every replica but the one kept", () =>
    withReplicas(2, async ([a, b], clock) => {
      const keep = newSession(clock)
      const other = newSession(clock)
      await a!.create(keep)
      await b!.create(other)
      await a!.caughtUp()
      assert.equal(await a!.destroyByUser(alice.id, keep.id), 1)
      await b!.caughtUp()
      assert.deepEqual(
        (await b!.listByUser(alice.id)).map((s) => s.id),
        [keep.id],
      )
    }))

  it('converges on one winner when two replicas change the same version at once', () =>
    withReplicas(2, async ([a, b], clock) => {
      const session = newSession(clock)
      await a!.create(session)
      await b!.caughtUp()
      const change = (n: number) => ({ ...session, version: 2, data: { ...session.data, messageCount: n } })
      // Both win locally: neither has heard of the other's change yet.
      assert.deepEqual(
        await Promise.all([a!.compareAndSwap(change(1), 1), b!.compareAndSwap(change(2), 1)]),
        [true, true],
      )
      await a!.caughtUp()
      await b!.caughtUp()
      assert.deepEqual(await a!.get(session.id), await b!.get(session.id))
    }))

  it('never revives an ended session from a late copy', () =>
    withReplicas(2, async ([a, b], clock, channel) => {
      const session = newSession(clock)
      await a!.create(session)
      await b!.caughtUp()
      await a!.destroy(session.id)
      // A replica that had not heard of the end yet broadcasts its (newer) copy.
      const late = { ...session, version: 5 }
      await client.publish(channel, JSON.stringify({ k: 'put', from: 'elsewhere', at: clock.now(), s: late }))
      await a!.caughtUp()
      await b!.caughtUp()
      assert.equal(await a!.get(session.id), undefined)
      assert.equal(await b!.get(session.id), undefined)
    }))

  it('gives a replica that joins late every session before open resolves', () =>
    withReplicas(2, async ([a, b], clock, channel) => {
      const sessions = Array.from({ length: 1200 }, (_, i) =>
        newSession(clock, { id: `u${i % 7}`, username: 'u' }),
      )
      for (const [i, session] of sessions.entries()) await (i % 2 ? a! : b!).create(session)
      const ended = sessions.pop()!
      await a!.destroy(ended.id)
      await a!.caughtUp()
      await b!.caughtUp()
      const late = await openReplica(clock, channel, 10_000)
      try {
        assert.equal(late.size, sessions.length)
        // Read straight from memory: no barrier on a hit, so this is what the sync brought.
        assert.deepEqual(await late.get(sessions[0]!.id), sessions[0])
        assert.equal(await late.get(ended.id), undefined)
      } finally {
        await late.close()
      }
    }))

  it('starts replicas opened at once without waiting for the sync timeout', async () => {
    const clock = new FakeClock(Date.now())
    const channel = uniqueName('statelab_test')
    const started = performance.now()
    const replicas = await Promise.all([1, 2, 3].map(() => openReplica(clock, channel, 30_000)))
    try {
      // They tell each other they are new themselves: nobody waits the 30 s for sessions that do not exist.
      assert.ok(performance.now() - started < 10_000)
      const session = newSession(clock)
      await replicas[0]!.create(session)
      for (const replica of replicas) assert.deepEqual(await replica.get(session.id), session)
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()))
    }
  })

  it('refuses to open with ERR_STORE_UNAVAILABLE when Redis does not answer', async () => {
    // As statelab connects: reconnecting forever, so only the store's own bound ends the wait.
    const down = createClient({
      url: 'redis://127.0.0.1:1',
      RESP: 3,
      disableOfflineQueue: true,
      socket: { connectTimeout: 200, reconnectStrategy: () => 100 },
    })
    down.on('error', () => {})
    await assert.rejects(
      ReplicatedSessionStore.open({ client: down as never, channel: 'x', clock: new FakeClock() }),
      (err) => isAppError(err, 'ERR_STORE_UNAVAILABLE'),
    )
  })

  it('refuses bad options by name', async () => {
    const clock = new FakeClock()
    const open = (options: object) =>
      ReplicatedSessionStore.open(options as Parameters<typeof ReplicatedSessionStore.open>[0])
    await assert.rejects(open({ clock, channel: 'x' }), /options\.client/)
    await assert.rejects(open({ client, clock, channel: '' }), /options\.channel/)
    await assert.rejects(open({ client, clock, channel: 'x', syncTimeoutMs: -1 }), /options\.syncTimeoutMs/)
  })
})
