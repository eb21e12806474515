import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../../src/core/errors.ts'
import { dataMigrations, type Migration, planMigrations } from '../../../src/stores/data/migrations.ts'

const migration = (version: number): Migration => ({ version, name: `step ${version}`, up: 'SELECT 1' })
const all = [migration(1), migration(2), migration(5)]

describe('planMigrations', () => {
  it('returns every migration, in order, for an empty database', () => {
    assert.deepEqual(planMigrations([], all), all)
  })

  it('returns only the pending migrations, in order', () => {
    assert.deepEqual(planMigrations([1], all), [migration(2), migration(5)])
    assert.deepEqual(planMigrations([5, 1], all), [migration(2)])
    assert.deepEqual(planMigrations([1, 2, 5], all), [])
  })

  it('refuses a database whose schema is newer than the code', () => {
    assert.throws(
      () => planMigrations([1, 2, 5, 6], all),
      (err) =>
        isAppError(err, 'ERR_CONFIG') &&
        err.message === 'database schema version 6 is newer than this statelab; upgrade statelab',
    )
  })

  it('refuses a database that has a version the code does not know', () => {
    assert.throws(
      () => planMigrations([1, 3], all),
      (err) => isAppError(err, 'ERR_CONFIG') && err.message.includes('version 3 is unknown'),
    )
  })

  it('refuses versions that do not strictly increase', () => {
    for (const versions of [[1, 1], [2, 1], [0], [1.5]]) {
      assert.throws(() => planMigrations([], versions.map(migration)), TypeError, String(versions))
    }
  })

  it('accepts the data store migrations', () => {
    assert.deepEqual(planMigrations([], dataMigrations), dataMigrations)
  })
})
