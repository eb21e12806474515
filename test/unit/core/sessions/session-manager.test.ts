import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeClock } from '../../../../src/core/clock.ts'
import { type ErrorCode, isAppError } from '../../../../src/core/errors.ts'
import { recordUpload, sessionIdOf } from '../../../../src/core/sessions/session.ts'
import { MemorySessionStore } from '../../../../src/stores/memory/index.ts'
import { SessionManager } from '../../../../src/stores/session-manager.ts'

const MINUTE = 60_000
const POLICY = { idleTimeoutMs: 30 * MINUTE, absoluteTimeoutMs: 120 * MINUTE }
const USER = { id: 'user-1', username: 'alice' }

/** A memory store that logs what it destroys. */
class SpyStore extends MemorySessionStore {
  readonly destroyed: string[] = []

  override destroy(id: string): Promise<boolean> {
    this.destroyed.push(id)
    return super.destroy(id)
  }
}

/** A memory store where every compare-and-swap loses, as under endless contention. */
class AlwaysConflictingStore extends MemorySessionStore {
  attempts = 0

  override async compareAndSwap(): Promise<boolean> {
    this.attempts++
    return false
  }
}

function setup<S extends MemorySessionStore>(
  Store: new (options: { clock: FakeClock; sweepIntervalMs: number }) => S,
  maxAttempts?: number,
) {
  const clock = new FakeClock()
  const store = new Store({ clock, sweepIntervalMs: 0 })
  const manager = new SessionManager({ store, clock, policy: POLICY, maxAttempts })
  return { clock, store, manager }
}

function isCode(code: ErrorCode) {
  return (err: unknown) => isAppError(err, code)
}

describe('SessionManager', () => {
  it('starts a session stored under the hash of its token, never the token', async () => {
    const { clock, store, manager } = setup(SpyStore)
    const { token, session } = await manager.start(USER)
    assert.equal(session.id, sessionIdOf(token))
    assert.equal(session.userId, 'user-1')
    assert.equal(session.expiresAt, clock.now() + 30 * MINUTE)
    assert.deepEqual(await store.get(session.id), session)
    assert.equal(await store.get(token), undefined)
    assert.deepEqual(await manager.resolve(token), session)
  })

  it('advances: slides the expiry, counts a message, applies a change', async () => {
    const { clock, manager } = setup(SpyStore)
    const { token, session } = await manager.start(USER)
    clock.advance(10 * MINUTE)
    const advanced = await manager.advance(session.id)
    assert.equal(advanced.version, 2)
    assert.equal(advanced.data.messageCount, 1)
    assert.equal(advanced.expiresAt, clock.now() + 30 * MINUTE)
    const uploaded = await manager.advance(session.id, recordUpload('file-1', 5))
    assert.deepEqual(uploaded.data, { filesUploaded: ['file-1'], messageCount: 1, totalBytes: 5 })
    assert.deepEqual(await manager.resolve(token), uploaded)
  })

  it('keeps a session alive by activity, not past its idle timeout without it', async () => {
    const { clock, manager } = setup(SpyStore)
    const { token, session } = await manager.start(USER)
    clock.advance(25 * MINUTE)
    await manager.advance(session.id)
    clock.advance(25 * MINUTE)
    assert.equal((await manager.resolve(token)).version, 2)
  })

  it('loses no write when two requests advance the same session at once', async () => {
    const { manager } = setup(SpyStore)
    const { token, session } = await manager.start(USER)
    await Promise.all([
      manager.advance(session.id, recordUpload('file-a', 1)),
      manager.advance(session.id, recordUpload('file-b', 2)),
    ])
    const stored = await manager.resolve(token)
    assert.equal(stored.version, 3)
    assert.deepEqual([...stored.data.filesUploaded].sort(), ['file-a', 'file-b'])
    assert.equal(stored.data.totalBytes, 3)
  })

  it('ends a session: it can no longer be resolved, and ending it again says so', async () => {
    const { manager } = setup(SpyStore)
    const { token, session } = await manager.start(USER)
    assert.equal(await manager.end(session.id), true)
    await assert.rejects(manager.resolve(token), isCode('ERR_SESSION_UNKNOWN'))
    await assert.rejects(manager.advance(session.id), isCode('ERR_SESSION_UNKNOWN'))
    assert.equal(await manager.end(session.id), false)
  })

  it('answers ERR_SESSION_EXPIRED once for an expired session, destroys it, then ERR_SESSION_UNKNOWN', async () => {
    const { clock, store, manager } = setup(SpyStore)
    const { token, session } = await manager.start(USER)
    clock.advance(30 * MINUTE)
    await assert.rejects(
      manager.resolve(token),
      (err) => isAppError(err, 'ERR_SESSION_EXPIRED') && /idle/.test(err.message),
    )
    assert.deepEqual(store.destroyed, [session.id])
    assert.equal(store.size, 0)
    await assert.rejects(manager.resolve(token), isCode('ERR_SESSION_UNKNOWN'))
  })

  it('refuses an expired session in advance too', async () => {
    const { clock, manager } = setup(SpyStore)
    const { session } = await manager.start(USER)
    clock.advance(30 * MINUTE)
    await assert.rejects(manager.advance(session.id), isCode('ERR_SESSION_EXPIRED'))
  })

  it('refuses a malformed token with ERR_SESSION_UNKNOWN', async () => {
    const { manager } = setup(SpyStore)
    await assert.rejects(manager.resolve('not-a-token'), isCode('ERR_SESSION_UNKNOWN'))
  })

  it('gives up with ERR_SESSION_CONFLICT after maxAttempts lost compare-and-swaps', async () => {
    const { store, manager } = setup(AlwaysConflictingStore, 3)
    const { token, session } = await manager.start(USER)
    await assert.rejects(manager.advance(session.id), isCode('ERR_SESSION_CONFLICT'))
    assert.equal(store.attempts, 3)
    assert.deepEqual(await manager.resolve(token), session)
  })

  it('refuses an invalid policy at construction', () => {
    const clock = new FakeClock()
    const store = new MemorySessionStore({ clock, sweepIntervalMs: 0 })
    assert.throws(
      () => new SessionManager({ store, clock, policy: { idleTimeoutMs: 0, absoluteTimeoutMs: MINUTE } }),
      TypeError,
    )
  })
})
