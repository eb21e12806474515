import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import { isAppError } from '../../src/core/errors.ts'
import { createSession, newSessionToken } from '../../src/core/sessions/session.ts'
import { sessionMigrations } from '../../src/stores/data/migrations.ts'
import { SqliteDataStore } from '../../src/stores/data/sqlite/index.ts'
import { SqliteSessionStore } from '../../src/stores/sqlite/index.ts'
import { runSessionStoreContract } from './session-store.contract.ts'

const policy = { idleTimeoutMs: 1000, absoluteTimeoutMs: 10_000 }
const alice = { id: 'user-alice', username: 'alice' }

let dir: string
let counter = 0
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'statelab-sqlite-sessions-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})
const freshPath = () => join(dir, `case-${++counter}`, 'sessions.db')

runSessionStoreContract('sqlite (:memory:)', {
  open: async (clock) => SqliteSessionStore.open({ path: ':memory:', clock, sweepIntervalMs: 0 }),
})

runSessionStoreContract('sqlite (file)', {
  open: async (clock) => SqliteSessionStore.open({ path: freshPath(), clock, sweepIntervalMs: 0 }),
})

describe('SqliteSessionStore', () => {
  it('sweeps in batches and counts every row', async () => {
    const clock = new FakeClock()
    const store = SqliteSessionStore.open({ path: ':memory:', clock, sweepIntervalMs: 0, sweepBatchSize: 3 })
    try {
      for (let i = 0; i < 8; i++)
        await store.create(createSession(newSessionToken().id, alice, clock.now(), policy))
      const live = createSession(newSessionToken().id, alice, clock.now() + 500, policy)
      await store.create(live)
      clock.advance(policy.idleTimeoutMs)
      assert.equal(await store.sweepExpired(clock.now()), 8)
      assert.deepEqual(
        (await store.listByUser(alice.id)).map((s) => s.id),
        [live.id],
      )
      assert.equal(await store.sweepExpired(clock.now()), 0)
    } finally {
      await store.close()
    }
  })

  it('keeps sessions across close and reopen', async () => {
    const path = freshPath()
    const clock = new FakeClock()
    const session = createSession(newSessionToken().id, alice, clock.now(), policy)
    const first = SqliteSessionStore.open({ path, clock, sweepIntervalMs: 0 })
    await first.create(session)
    await first.close()

    const second = SqliteSessionStore.open({ path, clock, sweepIntervalMs: 0 })
    try {
      assert.deepEqual(await second.get(session.id), session)
      const next = { ...session, version: 2 }
      assert.equal(await second.compareAndSwap(next, 1), true)
      assert.deepEqual(await second.get(session.id), next)
    } finally {
      await second.close()
    }
  })

  it('shares a file with the data store, each with its own migrations', async () => {
    const path = freshPath()
    const data = SqliteDataStore.open({ path })
    const sessions = SqliteSessionStore.open({ path, clock: new FakeClock(), sweepIntervalMs: 0 })
    await sessions.close()
    await data.close()
    // Reopening in either order must not take the other's versions for unknown ones.
    await SqliteSessionStore.open({ path, clock: new FakeClock(), sweepIntervalMs: 0 }).close()
    await SqliteDataStore.open({ path }).close()
    const db = new DatabaseSync(path, { readOnly: true })
    try {
      const versions = db.prepare('SELECT version, name FROM session_schema_migrations').all()
      assert.deepEqual(
        versions.map(({ version, name }) => ({ version, name })),
        sessionMigrations.map(({ version, name }) => ({ version, name })),
      )
    } finally {
      db.close()
    }
  })

  it('runs the periodic sweep on its own', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] })
    const clock = new FakeClock()
    const store = SqliteSessionStore.open({ path: ':memory:', clock, sweepIntervalMs: 60_000 })
    try {
      const session = createSession(newSessionToken().id, alice, clock.now(), policy)
      await store.create(session)
      clock.advance(policy.idleTimeoutMs)
      t.mock.timers.tick(60_000)
      assert.equal(await store.get(session.id), undefined)
    } finally {
      await store.close()
    }
  })

  it('answers ERR_STORE_UNAVAILABLE once closed', async () => {
    const store = SqliteSessionStore.open({ path: ':memory:', clock: new FakeClock(), sweepIntervalMs: 0 })
    await store.close()
    await store.close()
    const unavailable = (err: unknown) => isAppError(err, 'ERR_STORE_UNAVAILABLE')
    await assert.rejects(store.ping(), unavailable)
    await assert.rejects(store.get(newSessionToken().id), unavailable)
  })

  it('refuses bad options by name', () => {
    const clock = new FakeClock()
    assert.throws(() => SqliteSessionStore.open({ path: '', clock }), /options\.path/)
    assert.throws(
      () => SqliteSessionStore.open({ path: ':memory:', clock, sweepIntervalMs: -1 }),
      /sweepIntervalMs/,
    )
    assert.throws(
      () => SqliteSessionStore.open({ path: ':memory:', clock, sweepBatchSize: 0 }),
      /sweepBatchSize/,
    )
  })
})
