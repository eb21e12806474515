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

  it('refuses bad options by name', () => {
    const clock = new FakeClock()
    assert.throws(() => new MemorySessionStore({ clock, maxSessions: 0 }), /options\.maxSessions/)
    assert.throws(() => new MemorySessionStore({ clock, sweepIntervalMs: -1 }), /options\.sweepIntervalMs/)
  })
})
