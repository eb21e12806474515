import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { FakeClock } from '../../src/core/clock.ts'
import { isAppError } from '../../src/core/errors.ts'
import { createSession, newSessionToken, type Session } from '../../src/core/sessions/session.ts'
import { sessionMigrations } from '../../src/stores/data/migrations.ts'
import { type PostgresPool, PostgresSessionStore } from '../../src/stores/postgres/index.ts'
import { createTestSchema, dropOnClose, type TestSchema } from '../support/postgres.ts'
import { service } from '../support/services.ts'
import { runSessionStoreContract } from './session-store.contract.ts'

const { skip } = service('DATABASE_URL')
const policy = { idleTimeoutMs: 1000, absoluteTimeoutMs: 10_000 }
const alice = { id: 'user-alice', username: 'alice' }
const unavailable = (err: unknown) => isAppError(err, 'ERR_STORE_UNAVAILABLE')

runSessionStoreContract('postgres', {
  skip: skip || undefined,
  open: async (clock) => {
    const db = createTestSchema()
    try {
      const store = await PostgresSessionStore.open({
        pool: db.pool,
        clock,
        schema: db.schema,
        sweepIntervalMs: 0,
      })
      return dropOnClose(store, db)
    } catch (err) {
      await db.drop()
      throw err
    }
  },
})

describe('PostgresSessionStore', { skip }, () => {
  const schemas: TestSchema[] = []
  after(() => Promise.all(schemas.map((db) => db.drop())))
  function testSchema(): TestSchema {
    const db = createTestSchema()
    schemas.push(db)
    return db
  }
  const newSession = (clock: FakeClock): Session =>
    createSession(newSessionToken().id, alice, clock.now(), policy)

  it('keeps sessions for a new pool and store on the same schema', async () => {
    const db = testSchema()
    const clock = new FakeClock()
    const session = newSession(clock)
    const first = await PostgresSessionStore.open({
      pool: db.pool,
      clock,
      schema: db.schema,
      sweepIntervalMs: 0,
    })
    await first.create(session)
    await first.close()

    const second = await PostgresSessionStore.open({
      pool: db.newPool(),
      clock,
      schema: db.schema,
      sweepIntervalMs: 0,
    })
    assert.deepEqual(await second.get(session.id), session)
    await second.close()
  })

  it('sweeps in batches and counts every row', async () => {
    const db = testSchema()
    const clock = new FakeClock()
    const store = await PostgresSessionStore.open({
      pool: db.pool,
      clock,
      schema: db.schema,
      sweepIntervalMs: 0,
      sweepBatchSize: 3,
    })
    await Promise.all(Array.from({ length: 8 }, () => store.create(newSession(clock))))
    const live = createSession(newSessionToken().id, alice, clock.now() + 500, policy)
    await store.create(live)
    clock.advance(policy.idleTimeoutMs)
    assert.equal(await store.sweepExpired(clock.now()), 8)
    assert.deepEqual(
      (await store.listByUser(alice.id)).map((s) => s.id),
      [live.id],
    )
    assert.equal(await store.sweepExpired(clock.now()), 0)
    await store.close()
  })

  it('lets exactly one of two replicas (two pools) win each compare-and-swap', async () => {
    const db = testSchema()
    const clock = new FakeClock()
    const options = { clock, schema: db.schema, sweepIntervalMs: 0 }
    const [a, b] = await Promise.all([
      PostgresSessionStore.open({ pool: db.pool, ...options }),
      PostgresSessionStore.open({ pool: db.newPool(), ...options }),
    ])
    const sessions = Array.from({ length: 20 }, () => newSession(clock))
    await Promise.all(sessions.map((session) => a.create(session)))
    const outcomes = await Promise.all(
      sessions.map(async (session) => {
        const [byA, byB] = await Promise.all(
          [a, b].map((store, n) =>
            store.compareAndSwap({ ...session, version: 2, data: { ...session.data, messageCount: n } }, 1),
          ),
        )
        const stored = await a.get(session.id)
        return { wins: Number(byA) + Number(byB), consistent: stored?.data.messageCount === (byA ? 0 : 1) }
      }),
    )
    assert.deepEqual(
      outcomes,
      sessions.map(() => ({ wins: 1, consistent: true })),
    )
    await Promise.all([a.close(), b.close()])
  })

  it('applies its migrations once when replicas open a new schema together', async () => {
    const db = testSchema()
    const stores = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        PostgresSessionStore.open({
          pool: i === 0 ? db.pool : db.newPool(),
          clock: new FakeClock(),
          schema: db.schema,
          sweepIntervalMs: 0,
        }),
      ),
    )
    await Promise.all(stores.map((store) => store.close()))
    const { rows } = await db.pool.query(`SELECT version, name FROM "${db.schema}".session_schema_migrations`)
    assert.deepEqual(
      rows,
      sessionMigrations.map(({ version, name }) => ({ version, name })),
    )
  })

  it('answers ERR_STORE_UNAVAILABLE quickly when PostgreSQL cannot be reached', async () => {
    const db = testSchema()
    const unreachable = new pg.Pool({
      host: '127.0.0.1',
      port: 1,
      user: 'postgres',
      connectionTimeoutMillis: 500,
    })
    after(() => unreachable.end())
    const clock = new FakeClock()
    await assert.rejects(
      PostgresSessionStore.open({ pool: unreachable, clock, schema: db.schema, sweepIntervalMs: 0 }),
      unavailable,
    )
    // A store that was up when it opened, then lost its database.
    let target: PostgresPool = db.pool
    const switchable: PostgresPool = {
      query: (text, values) => target.query(text, values),
      connect: () => target.connect(),
    }
    const store = await PostgresSessionStore.open({
      pool: switchable,
      clock,
      schema: db.schema,
      sweepIntervalMs: 0,
    })
    target = unreachable
    const started = performance.now()
    await assert.rejects(store.get(newSessionToken().id), unavailable)
    await assert.rejects(store.ping(), unavailable)
    assert.ok(performance.now() - started < 2000, 'gave up within the connection timeout')
    await store.close()
  })

  it('answers ERR_STORE_UNAVAILABLE once closed, leaving the pool open', async () => {
    const db = testSchema()
    const store = await PostgresSessionStore.open({
      pool: db.pool,
      clock: new FakeClock(),
      schema: db.schema,
      sweepIntervalMs: 0,
    })
    await store.close()
    await store.close()
    await assert.rejects(store.get(newSessionToken().id), unavailable)
    await db.pool.query('SELECT 1')
  })

  it('refuses bad options by name', async () => {
    const db = testSchema()
    const clock = new FakeClock()
    for (const schema of ['Public', '1abc', 'a-b', 'x"; DROP SCHEMA public; --', 'a'.repeat(64), ''])
      await assert.rejects(
        PostgresSessionStore.open({ pool: db.pool, clock, schema }),
        /options\.schema/,
        schema,
      )
    await assert.rejects(
      PostgresSessionStore.open({ pool: db.pool, clock, schema: db.schema, sweepBatchSize: 0 }),
      /options\.sweepBatchSize/,
    )
  })
})
