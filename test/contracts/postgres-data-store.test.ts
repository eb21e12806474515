import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { isAppError } from '../../src/core/errors.ts'
import { dataMigrations } from '../../src/stores/data/migrations.ts'
import { PostgresDataStore } from '../../src/stores/data/postgres/index.ts'
import { createTestSchema, dropOnClose, type TestSchema } from '../support/postgres.ts'
import { service } from '../support/services.ts'
import { runDataStoreContract } from './data-store.contract.ts'

const { skip } = service('DATABASE_URL')

runDataStoreContract('postgres', {
  skip: skip || undefined,
  open: async () => {
    const db = createTestSchema()
    try {
      return dropOnClose(await PostgresDataStore.open({ pool: db.pool, schema: db.schema }), db)
    } catch (err) {
      await db.drop()
      throw err
    }
  },
})

describe('PostgresDataStore', { skip }, () => {
  const schemas: TestSchema[] = []
  after(() => Promise.all(schemas.map((db) => db.drop())))
  function testSchema(): TestSchema {
    const db = createTestSchema()
    schemas.push(db)
    return db
  }
  const readMigrationRows = async (db: TestSchema) =>
    (await db.pool.query(`SELECT version, name FROM "${db.schema}".schema_migrations ORDER BY version`)).rows

  it('applies every migration once when replicas open a new schema together', async () => {
    const db = testSchema()
    const [first, second] = await Promise.all([
      PostgresDataStore.open({ pool: db.pool, schema: db.schema }),
      PostgresDataStore.open({ pool: db.newPool(), schema: db.schema }),
    ])
    assert.equal(await first.schemaVersion(), dataMigrations.at(-1)?.version)
    await Promise.all([first.close(), second.close()])
    const expected = dataMigrations.map(({ version, name }) => ({ version, name }))
    assert.deepEqual(await readMigrationRows(db), expected)

    await (await PostgresDataStore.open({ pool: db.pool, schema: db.schema })).close()
    assert.deepEqual(await readMigrationRows(db), expected)
  })

  it('keeps data for a new pool on the same schema', async () => {
    const db = testSchema()
    const user = { id: 'u1', username: 'alice', passwordHash: 'hash', tokenVersion: 3, createdAt: 1 }
    const first = await PostgresDataStore.open({ pool: db.pool, schema: db.schema })
    await first.users.insert(user)
    await first.close()
    const second = await PostgresDataStore.open({ pool: db.newPool(), schema: db.schema })
    assert.deepEqual(await second.users.findById('u1'), user)
    await second.close()
  })

  it('refuses a schema migrated by a newer statelab', async () => {
    const db = testSchema()
    await (await PostgresDataStore.open({ pool: db.pool, schema: db.schema })).close()
    await db.pool.query(
      `INSERT INTO "${db.schema}".schema_migrations (version, name, applied_at) VALUES (999, 'x', 0)`,
    )
    await assert.rejects(
      PostgresDataStore.open({ pool: db.pool, schema: db.schema }),
      (err) => isAppError(err, 'ERR_CONFIG') && err.message.includes('999'),
    )
  })

  it('passes errors about the statement through, not as ERR_STORE_UNAVAILABLE', async () => {
    const db = testSchema()
    const store = await PostgresDataStore.open({ pool: db.pool, schema: db.schema })
    const orphan = {
      id: 'f1',
      ownerId: 'nobody',
      filename: 'a.txt',
      storedName: 'f1',
      mimeType: 'text/plain',
      size: 1,
      sha256: 'ab'.repeat(32),
      createdAt: 1,
    }
    await assert.rejects(
      store.files.insert(orphan),
      (err) => !isAppError(err) && (err as { code?: string }).code === '23503',
    )
    await store.close()
  })
})
