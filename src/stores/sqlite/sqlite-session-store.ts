import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { setImmediate } from 'node:timers/promises'
import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import type { Session } from '../../core/sessions/session.ts'
import { sessionMigrationSet } from '../data/migrations.ts'
import type { SessionStore } from '../session-store.ts'
import { byCreation, sessionFromRow } from '../sql-session-rows.ts'
import { resolveSweepOptions, type SweepOptions, SweepTimer } from '../sweep-timer.ts'
import { isSqliteUnavailable, openSqlite } from './open-sqlite.ts'

export interface SqliteSessionStoreOptions extends SweepOptions {
  /** A file path (its directory is created) or `':memory:'`. May be the data store's file. */
  readonly path: string
  readonly clock: Clock
}

/**
 * Sessions in a SQLite file: they survive a restart, and replicas on one machine share them.
 *
 * @example
 * const store = SqliteSessionStore.open({ path: './data/sessions.db', clock: systemClock })
 */
export class SqliteSessionStore implements SessionStore {
  readonly kind = 'sqlite'
  readonly #db: DatabaseSync
  readonly #clock: Clock
  readonly #sweepBatchSize: number
  readonly #sweepTimer: SweepTimer
  readonly #get: StatementSync
  readonly #insert: StatementSync
  readonly #compareAndSwap: StatementSync
  readonly #touch: StatementSync
  readonly #delete: StatementSync
  readonly #listByUser: StatementSync
  readonly #countByUser: StatementSync
  readonly #deleteByUser: StatementSync
  readonly #sweepBatch: StatementSync
  readonly #ping: StatementSync

  /** Opens (creating if needed) the database and brings the sessions table up to date. */
  static open(options: SqliteSessionStoreOptions): SqliteSessionStore {
    const sweep = resolveSweepOptions('SqliteSessionStore', options)
    if (typeof options.clock?.now !== 'function')
      throw new TypeError('SqliteSessionStore options.clock must be a Clock')
    const db = openSqlite({
      path: options.path,
      migrations: sessionMigrationSet,
      owner: 'SqliteSessionStore',
    })
    return new SqliteSessionStore(db, options.clock, sweep)
  }

  private constructor(db: DatabaseSync, clock: Clock, sweep: Required<SweepOptions>) {
    this.#db = db
    this.#clock = clock
    this.#sweepBatchSize = sweep.sweepBatchSize
    this.#get = db.prepare('SELECT data FROM sessions WHERE id = ?')
    this.#insert = db.prepare(
      'INSERT INTO sessions (id, user_id, version, expires_at, data) VALUES (?, ?, ?, ?, ?)',
    )
    this.#compareAndSwap = db.prepare(
      'UPDATE sessions SET version = ?, expires_at = ?, data = ? WHERE id = ? AND version = ? AND expires_at > ?',
    )
    // CAST: node:sqlite binds every JS number as a double, which json_set would write as 1.0e12-style text.
    this.#touch = db.prepare(`UPDATE sessions
      SET expires_at = ?2,
        data = json_set(data, '$.lastActivityAt', CAST(?1 AS INTEGER), '$.expiresAt', CAST(?2 AS INTEGER))
      WHERE id = ?3 AND expires_at > ?4`)
    this.#delete = db.prepare('DELETE FROM sessions WHERE id = ?')
    this.#listByUser = db.prepare('SELECT data FROM sessions WHERE user_id = ? AND expires_at > ?')
    this.#countByUser = db.prepare('SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND expires_at > ?')
    this.#deleteByUser = db.prepare('DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?')
    this.#sweepBatch = db.prepare(
      'DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= ? LIMIT ?)',
    )
    this.#ping = db.prepare('SELECT 1')
    this.#sweepTimer = new SweepTimer(
      () => this.sweepExpired(this.#clock.now()),
      sweep.sweepIntervalMs,
      sweep.onSweepError,
    )
  }

  async get(id: string): Promise<Session | undefined> {
    const row = this.#run(() => this.#get.get(id))
    return row && sessionFromRow(row)
  }

  async create(session: Session): Promise<void> {
    const { id, userId, version, expiresAt } = session
    this.#run(() => this.#insert.run(id, userId, version, expiresAt, JSON.stringify(session)))
  }

  async compareAndSwap(next: Session, expectedVersion: number): Promise<boolean> {
    const { id, version, expiresAt } = next
    const now = this.#clock.now()
    const json = JSON.stringify(next)
    return (
      this.#changes(() => this.#compareAndSwap.run(version, expiresAt, json, id, expectedVersion, now)) === 1
    )
  }

  async touch(id: string, lastActivityAt: number, expiresAt: number): Promise<boolean> {
    const now = this.#clock.now()
    return this.#changes(() => this.#touch.run(lastActivityAt, expiresAt, id, now)) === 1
  }

  async destroy(id: string): Promise<boolean> {
    return this.#changes(() => this.#delete.run(id)) === 1
  }

  async listByUser(userId: string): Promise<Session[]> {
    const rows = this.#run(() => this.#listByUser.all(userId, this.#clock.now()))
    return rows.map(sessionFromRow).sort(byCreation)
  }

  async countByUser(userId: string): Promise<number> {
    return Number(this.#run(() => this.#countByUser.get(userId, this.#clock.now()))?.n ?? 0)
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<number> {
    return this.#changes(() => this.#deleteByUser.run(userId, exceptId ?? null))
  }

  async sweepExpired(now: number): Promise<number> {
    let count = 0
    for (;;) {
      const deleted = this.#changes(() => this.#sweepBatch.run(now, this.#sweepBatchSize))
      count += deleted
      if (deleted < this.#sweepBatchSize) return count
      // Let requests in between batches: node:sqlite is synchronous and would hold the event loop.
      await setImmediate()
    }
  }

  async ping(): Promise<void> {
    this.#run(() => this.#ping.get())
  }

  async close(): Promise<void> {
    await this.#sweepTimer.stop()
    if (this.#db.isOpen) this.#db.close()
  }

  /** Runs a statement; a database that cannot serve (busy, closed, broken) becomes ERR_STORE_UNAVAILABLE. */
  #run<T>(statement: () => T): T {
    try {
      return statement()
    } catch (err) {
      if (!isSqliteUnavailable(err)) throw err
      throw new AppError('ERR_STORE_UNAVAILABLE', 'The SQLite session database does not answer', {
        cause: err,
      })
    }
  }

  #changes(statement: () => { changes: number | bigint }): number {
    return Number(this.#run(statement).changes)
  }
}
