import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { setTimeout } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { isAppError } from '../../src/core/errors.ts'
import { dataMigrations } from '../../src/stores/data/migrations.ts'
import { SqliteDataStore } from '../../src/stores/data/sqlite/index.ts'
import { runDataStoreContract } from './data-store.contract.ts'

// Each worker loads the store, then waits at the gate so that all of them open the file at the same moment,
// as replicas started together by the supervisor do.
const openAtTheGate = `
const { workerData } = require('node:worker_threads')
import(workerData.module).then(async ({ SqliteDataStore }) => {
  const gate = new Int32Array(workerData.gate)
  Atomics.add(gate, 1, 1)
  Atomics.wait(gate, 0, 0)
  await SqliteDataStore.open({ path: workerData.path }).close()
})
`

/** Opens `path` from `replicas` worker threads at once; resolves with 'ok' or the error message of each. */
async function openConcurrently(path: string, replicas: number): Promise<string[]> {
  const module = new URL('../../src/stores/data/sqlite/index.ts', import.meta.url).href
  const gate = new Int32Array(new SharedArrayBuffer(8))
  let exited = 0
  const outcomes = Array.from({ length: replicas }, () => {
    const worker = new Worker(openAtTheGate, { eval: true, workerData: { module, path, gate: gate.buffer } })
    let outcome = 'ok'
    worker.on('error', (err) => {
      outcome = err.message
    })
    return new Promise<string>((resolve) => {
      worker.on('exit', () => {
        exited++
        resolve(outcome)
      })
    })
  })
  while (Atomics.load(gate, 1) + exited < replicas) await setTimeout(5)
  Atomics.store(gate, 0, 1)
  Atomics.notify(gate, 0)
  return Promise.all(outcomes)
}

runDataStoreContract('SqliteDataStore (:memory:)', {
  open: async () => SqliteDataStore.open({ path: ':memory:' }),
})

describe('SqliteDataStore on a file', () => {
  let dir: string
  let counter = 0
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'statelab-sqlite-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  // A directory that does not exist yet, to check that open() creates it.
  const freshPath = () => join(dir, `case-${++counter}`, 'statelab.db')

  function inspect<T>(path: string, query: (db: DatabaseSync) => T): T {
    const db = new DatabaseSync(path, { readOnly: true })
    try {
      return query(db)
    } finally {
      db.close()
    }
  }

  const readMigrationRows = (path: string) =>
    inspect(path, (db) =>
      db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all(),
    )

  it('creates the directory and runs in WAL mode', async () => {
    const path = freshPath()
    const store = SqliteDataStore.open({ path })
    await store.close()
    assert.equal(
      inspect(path, (db) => db.prepare('PRAGMA journal_mode').get()?.journal_mode),
      'wal',
    )
  })

  it('records every migration once and does not apply them again on reopen', async () => {
    const path = freshPath()
    const first = SqliteDataStore.open({ path })
    assert.equal(first.schemaVersion(), dataMigrations.at(-1)?.version)
    await first.close()
    const recorded = readMigrationRows(path)
    assert.deepEqual(
      recorded.map(({ version, name }) => ({ version, name })),
      dataMigrations.map(({ version, name }) => ({ version, name })),
    )

    const second = SqliteDataStore.open({ path })
    await second.close()
    assert.deepEqual(readMigrationRows(path), recorded)
  })

  it('keeps data across close and reopen', async () => {
    const path = freshPath()
    const user = { id: 'u1', username: 'alice', passwordHash: 'hash', tokenVersion: 3, createdAt: 1 }
    const first = SqliteDataStore.open({ path })
    await first.users.insert(user)
    await first.close()

    const second = SqliteDataStore.open({ path })
    try {
      assert.deepEqual(await second.users.findById('u1'), user)
    } finally {
      await second.close()
    }
  })

  it('refuses a database migrated by a newer statelab', async () => {
    const path = freshPath()
    await SqliteDataStore.open({ path }).close()
    const db = new DatabaseSync(path)
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(999, 'x', 0)
    db.close()
    assert.throws(
      () => SqliteDataStore.open({ path }),
      (err) => isAppError(err, 'ERR_CONFIG') && err.message.includes('999'),
    )
  })

  it('lets replicas open a new file at the same moment', async () => {
    // Each round races replicas on a fresh file; a lost race shows up in most rounds, not in every one.
    for (let round = 0; round < 3; round++) {
      const path = freshPath()
      const replicas = 6
      assert.deepEqual(await openConcurrently(path, replicas), Array(replicas).fill('ok'))
      assert.equal(readMigrationRows(path).length, dataMigrations.length)
    }
  })

  it('names the path when the database cannot be opened', async () => {
    const blocker = join(dir, 'a-file')
    await writeFile(blocker, '')
    const path = join(blocker, 'statelab.db')
    assert.throws(
      () => SqliteDataStore.open({ path }),
      (err) => isAppError(err, 'ERR_STORE_UNAVAILABLE') && err.message.includes(path),
    )
  })
})
