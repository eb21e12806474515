import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import {
  createSession,
  newSessionToken,
  recordUpload,
  type Session,
  type SessionPolicy,
} from '../../src/core/sessions/session.ts'
import { SessionManager } from '../../src/stores/session-manager.ts'
import type { SessionStore } from '../../src/stores/session-store.ts'

export interface SessionStoreContractOptions {
  /** A fresh, empty store that reads time from `clock`. */
  open(clock: FakeClock): Promise<SessionStore>
  /** Why the whole suite cannot run here (e.g. the service is not reachable). */
  skip?: string
}

const policy: SessionPolicy = { idleTimeoutMs: 60_000, absoluteTimeoutMs: 3_600_000 }
const alice = { id: 'user-alice', username: 'alice' }
const bob = { id: 'user-bob', username: 'bob' }

/** The behaviour every {@link SessionStore} promises; each backend's test file calls this once. */
export function runSessionStoreContract(name: string, options: SessionStoreContractOptions): void {
  describe(`SessionStore contract: ${name}`, { skip: options.skip ?? false }, () => {
    let clock: FakeClock
    let store: SessionStore

    function newSession(user = alice): Session {
      return createSession(newSessionToken().id, user, clock.now(), policy)
    }

    beforeEach(async () => {
      clock = new FakeClock()
      store = await options.open(clock)
    })
    afterEach(async () => {
      await store.close?.()
    })

    it('returns what was created, and nothing for an unknown id', async () => {
      const session = newSession()
      await store.create(session)
      assert.deepEqual(await store.get(session.id), session)
      assert.equal(await store.get(newSessionToken().id), undefined)
    })

    it('keeps data intact through a round trip', async () => {
      let session = newSession()
      for (let i = 0; i < 300; i++) session = { ...session, data: recordUpload(`file-${i}`, i)(session.data) }
      await store.create(session)
      const stored = await store.get(session.id)
      assert.equal(stored?.data.filesUploaded.length, 256)
      assert.equal(stored?.data.filesUploaded.at(-1), 'file-299')
      assert.equal(stored?.data.totalBytes, session.data.totalBytes)
    })

    it('compare-and-swap replaces only the expected version', async () => {
      const session = newSession()
      await store.create(session)
      const next = { ...session, version: 2, data: { ...session.data, messageCount: 1 } }
      assert.equal(await store.compareAndSwap(next, 1), true)
      assert.deepEqual(await store.get(session.id), next)
      const stale = { ...session, version: 2, data: { ...session.data, messageCount: 99 } }
      assert.equal(await store.compareAndSwap(stale, 1), false)
      assert.equal((await store.get(session.id))?.data.messageCount, 1)
    })

    it('compare-and-swap refuses a session that does not exist', async () => {
      const session = newSession()
      assert.equal(await store.compareAndSwap({ ...session, version: 2 }, 1), false)
      assert.equal(await store.get(session.id), undefined)
    })

    it('lets exactly one of two racing writers win', async () => {
      const session = newSession()
      await store.create(session)
      const results = await Promise.all(
        [1, 2].map((n) =>
          store.compareAndSwap({ ...session, version: 2, data: { ...session.data, messageCount: n } }, 1),
        ),
      )
      assert.deepEqual(results.toSorted(), [false, true])
    })

    it('loses no update when 50 requests change one session at once', async () => {
      const manager = new SessionManager({ store, clock, policy })
      const { session } = await manager.start(alice)
      await Promise.all(Array.from({ length: 50 }, () => manager.advance(session.id)))
      const stored = await store.get(session.id)
      assert.equal(stored?.data.messageCount, 50)
      assert.equal(stored?.version, 51)
    })

    it('touch moves activity and expiry but not the version', async () => {
      const session = newSession()
      await store.create(session)
      clock.advance(10_000)
      assert.equal(await store.touch(session.id, clock.now(), clock.now() + 60_000), true)
      const stored = await store.get(session.id)
      assert.equal(stored?.lastActivityAt, clock.now())
      assert.equal(stored?.expiresAt, clock.now() + 60_000)
      assert.equal(stored?.version, 1)
      assert.equal(await store.touch(newSessionToken().id, clock.now(), clock.now() + 1), false)
    })

    it('destroy forgets the session once', async () => {
      const session = newSession()
      await store.create(session)
      assert.equal(await store.destroy(session.id), true)
      assert.equal(await store.get(session.id), undefined)
      assert.equal(await store.destroy(session.id), false)
    })

    it("lists a user's live sessions oldest first, and no one else's", async () => {
      const first = newSession()
      await store.create(first)
      clock.advance(1000)
      const second = newSession()
      await store.create(second)
      await store.create(newSession(bob))
      assert.deepEqual(
        (await store.listByUser(alice.id)).map((s) => s.id),
        [first.id, second.id],
      )
      assert.deepEqual(await store.listByUser('user-nobody'), [])
    })

    it("counts a user's live sessions without loading them, when the store can", async (t) => {
      if (!store.countByUser) return t.skip('this store has no countByUser')
      assert.equal(await store.countByUser(alice.id), 0)
      const first = newSession()
      await store.create(first)
      await store.create(newSession())
      await store.create(newSession(bob))
      assert.equal(await store.countByUser(alice.id), 2)
      await store.destroy(first.id)
      assert.equal(await store.countByUser(alice.id), 1)
      clock.advance(policy.absoluteTimeoutMs)
      assert.equal(await store.countByUser(alice.id), 0)
    })

    it("destroys all of a user's sessions but the one kept", async () => {
      const keep = newSession()
      await store.create(keep)
      await store.create(newSession())
      await store.create(newSession())
      const other = newSession(bob)
      await store.create(other)
      assert.equal(await store.destroyByUser(alice.id, keep.id), 2)
      assert.deepEqual(
        (await store.listByUser(alice.id)).map((s) => s.id),
        [keep.id],
      )
      assert.ok(await store.get(other.id))
      assert.equal(await store.destroyByUser(alice.id), 1)
      assert.deepEqual(await store.listByUser(alice.id), [])
    })

    it('never treats an expired session as live', async () => {
      const session = newSession()
      await store.create(session)
      clock.advance(policy.idleTimeoutMs)
      const stored = await store.get(session.id)
      assert.ok(stored === undefined || stored.expiresAt <= clock.now())
      assert.deepEqual(await store.listByUser(alice.id), [])
      assert.equal(await store.compareAndSwap({ ...session, version: 2 }, 1), false)
      assert.equal(await store.touch(session.id, clock.now(), clock.now() + 60_000), false)
    })

    it('sweeps expired sessions and keeps live ones', async (t) => {
      if (!store.sweepExpired) return t.skip('this store expires sessions natively')
      const old = newSession()
      await store.create(old)
      clock.advance(30_000)
      const young = newSession()
      await store.create(young)
      clock.advance(30_000)
      assert.equal(await store.sweepExpired(clock.now()), 1)
      assert.ok(await store.get(young.id))
      assert.equal(await store.get(old.id), undefined)
    })

    it('answers ping', async () => {
      await store.ping?.()
    })
  })
}
