import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { AppError } from '../../core/errors.ts'
import { type MigrationSet, migrationsTableSql, planMigrations } from '../data/migrations.ts'

// Shared by every SQLite store, so that each opens, locks and migrates a file the same way.

/** How long a statement waits for another connection (a replica) that holds the lock. */
export const busyTimeoutMs = 5000

const sqliteBusy = 5

/** SQLite's error code on an error thrown by `node:sqlite`, if it has one. */
export function errcodeOf(err: unknown): unknown {
  return (err as { errcode?: unknown }).errcode
}

// Primary result codes (low byte) that mean the database, not the statement, failed.
const unavailableCodes = new Set([
  5, // SQLITE_BUSY: another connection held the lock past busy_timeout
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  26, // SQLITE_NOTADB
])

/**
 * True when `err` says the database cannot serve (locked past the timeout, closed, disk full or broken),
 * as opposed to a statement the caller got wrong (a constraint, a syntax error).
 */
export function isSqliteUnavailable(err: unknown): boolean {
  if ((err as { code?: unknown }).code === 'ERR_INVALID_STATE') return true // the database is closed
  const errcode = errcodeOf(err)
  return typeof errcode === 'number' && unavailableCodes.has(errcode & 0xff)
}

export interface OpenSqliteOptions {
  /** A file path (its directory is created) or `':memory:'`. */
  readonly path: string
  /** The schema to bring up to date. */
  readonly migrations: MigrationSet
  /** The class that opens, to name it in a bad-option `TypeError`. */
  readonly owner: string
}

/**
 * Opens (creating if needed) a SQLite database the way every statelab store wants it: waiting for locks,
 * in WAL mode, with foreign keys enforced, and `migrations` applied. Throws `ERR_STORE_UNAVAILABLE` naming
 * the path when the file cannot be opened.
 */
export function openSqlite(options: OpenSqliteOptions): DatabaseSync {
  const { path, migrations, owner } = options
  if (typeof path !== 'string' || path === '')
    throw new TypeError(`${owner} options.path must be a non-empty string`)
  const inMemory = path === ':memory:'
  let db: DatabaseSync
  try {
    if (!inMemory) mkdirSync(dirname(path), { recursive: true })
    db = new DatabaseSync(path)
  } catch (err) {
    throw new AppError('ERR_STORE_UNAVAILABLE', `Cannot open the SQLite database at "${path}"`, {
      cause: err,
    })
  }
  try {
    // busy_timeout first, so that the statements below wait for a replica that holds the lock.
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`)
    if (!inMemory) enableWal(db)
    db.exec('PRAGMA synchronous = NORMAL')
    db.exec('PRAGMA foreign_keys = ON')
    migrateSqlite(db, migrations)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/**
 * Switching to WAL needs exclusive access, and SQLite answers SQLITE_BUSY at once instead of running the
 * busy handler, so replicas opening a new file together retry by hand. WAL is a property of the file:
 * once one of them has switched, the others find it done.
 */
function enableWal(db: DatabaseSync): void {
  const deadline = Date.now() + busyTimeoutMs
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (;;) {
    try {
      if (db.prepare('PRAGMA journal_mode').get()?.journal_mode !== 'wal')
        db.exec('PRAGMA journal_mode = WAL')
      return
    } catch (err) {
      // Extended codes (SQLITE_BUSY_RECOVERY, ...) keep SQLITE_BUSY in their low byte.
      if ((Number(errcodeOf(err)) & 0xff) !== sqliteBusy || Date.now() >= deadline) throw err
      Atomics.wait(pause, 0, 0, 10)
    }
  }
}

/** Applies the pending migrations of `set`, each in its own write transaction. */
export function migrateSqlite(db: DatabaseSync, set: MigrationSet): void {
  db.exec(migrationsTableSql(set.table))
  const selectApplied = db.prepare(`SELECT version FROM ${set.table} ORDER BY version`)
  const readApplied = () => selectApplied.all().map((row) => row.version as number)
  const record = db.prepare(`INSERT INTO ${set.table} (version, name, applied_at) VALUES (?, ?, ?)`)
  for (const migration of planMigrations(readApplied(), set.migrations)) {
    db.exec('BEGIN IMMEDIATE')
    try {
      // Replicas share the file: another one may have applied it while this one waited for the lock.
      if (!readApplied().includes(migration.version)) {
        db.exec(migration.up)
        record.run(migration.version, migration.name, Date.now())
      }
      db.exec('COMMIT')
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw err
    }
  }
}
