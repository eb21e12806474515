import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import { isAppError } from '../../src/core/errors.ts'
import { createSession, newSessionToken } from '../../src/core/sessions/session.ts'
import { MemorySessionStore } from '../../src/stores/memory/index.ts'
import { runSessionStoreContract } from './session-store.contract.ts'

runSessionStoreContract('memory', {
  open: async (clock) => new MemorySessionStore({ clock, sweepIntervalMs: 0 }),
})

describe('MemorySessionStore', () => {
  const policy = { idleTimeoutMs: 1000, absoluteTimeoutMs: 10_000 }
  const user = { id: 'u1', username: 'u1' }

  it('refuses sessions beyond maxSessions with ERR_SESSION_LIMIT, and frees slots as sessions expire', async () => {
    const clock = new FakeClock()
    const store = new MemorySessionStore({ clock, maxSessions: 2, sweepIntervalMs: 0 })
    await store.create(createSession(newSessionToken().id, user, clock.now(), policy))
    await store.create(createSession(newSessionToken().id, user, clock.now(), policy))
    await assert.rejects(
      store.create(createSession(newSessionToken().id, user, clock.now(), policy)),
      (err) => isAppError(err, 'ERR_SESSION_LIMIT'),
    )
    clock.advance(1000)
    await store.create(createSession(newSessionToken().id, user, clock.now(), policy))
    assert.equal(store.size, 1)
  })

  it('keeps a read session decoded and frozen, and never returns it once the session is written', async () => {
    const clock = new FakeClock()
    const store = new MemorySessionStore({ clock, sweepIntervalMs: 0 })
    const session = createSession(newSessionToken().id, user, clock.now(), policy)
    await store.create(session)
    const read = await store.get(session.id)
    assert.ok(read && Object.isFrozen(read))
    assert.equal(await store.get(session.id), read)
    assert.ok(await store.compareAndSwap({ ...read, version: read.version + 1 }, read.version))
    assert.equal((await store.get(session.id))?.version, read.version + 1)
    assert.ok(await store.touch(session.id, clock.now() + 10, clock.now() + 500))
    assert.equal((await store.get(session.id))?.expiresAt, clock.now() + 500)
    await store.destroy(session.id)
    assert.equal(await store.get(session.id), undefined)
  })

  it("keeps the caller's object apart from the stored one, and every session intact as the hot ones leave", async () => {
    const clock = new FakeClock()
    const store = new MemorySessionStore({ clock, sweepIntervalMs: 0 })
    const written = createSession(newSessionToken().id, user, clock.now(), policy)
    await store.create(written)
    assert.ok(!Object.isFrozen(written), "the caller's object is left as it was")
    const stored = await store.get(written.id)
    assert.notEqual(stored, written)
    assert.deepEqual(stored, written)

    // More sessions than the store keeps decoded, each read, then changed: the ones that left the hot set were
    // encoded as they left, are read back from that encoding, and can still be changed, listed and ended.
    const sessions = Array.from({ length: 2500 }, (_, i) =>
      createSession(
        newSessionToken().id,
        { id: `user-${i % 7}`, username: `user-${i % 7}` },
        clock.now(),
        policy,
      ),
    )
    for (const session of sessions) await store.create(session)
    const changed = sessions.map((session, i) => ({
      ...session,
      version: session.version + 1,
      data: { ...session.data, messageCount: i, filesUploaded: [`file-${i}`] },
    }))
    // Each read first, as a request does: a session read and then changed stays in the hot set unencoded.
    for (const [i, next] of changed.entries()) {
      assert.ok(await store.get(next.id))
      assert.ok(await store.compareAndSwap(next, sessions[i]!.version))
    }
    for (const next of changed) assert.deepEqual(await store.get(next.id), next)
    assert.equal(
      (await store.listByUser('user-3')).length,
      changed.filter((s) => s.userId === 'user-3').length,
    )
    const first = changed[0]!
    assert.ok(!(await store.compareAndSwap(first, first.version - 1)), 'a stale version is refused')
    assert.ok(await store.touch(first.id, clock.now() + 5, clock.now() + 900))
    assert.deepEqual(await store.get(first.id), {
      ...first,
      lastActivityAt: clock.now() + 5,
      expiresAt: clock.now() + 900,
    })
    assert.equal(await store.destroyByUser('user-0'), changed.filter((s) => s.userId === 'user-0').length)
    assert.equal(await store.get(first.id), undefined)
    const left = store.size
    clock.advance(policy.idleTimeoutMs)
    assert.equal(await store.sweepExpired(clock.now()), left)
    assert.equal(store.size, 0)
  })

  it('refuses bad options by name', () => {
    const clock = new FakeClock()
    assert.throws(() => new MemorySessionStore({ clock, maxSessions: 0 }), /options\.maxSessions/)
    assert.throws(() => new MemorySessionStore({ clock, sweepIntervalMs: -1 }), /options\.sweepIntervalMs/)
  })
})
