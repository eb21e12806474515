import type { DatabaseSync, StatementSync } from 'node:sqlite'
import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import { sessionMigrationSet } from '../data/migrations.ts'
import { resolveSweepOptions, type SweepOptions, SweepTimer } from '../sweep-timer.ts'
import type { TokenDenylist } from '../token-denylist.ts'
import { isSqliteUnavailable, openSqlite } from './open-sqlite.ts'

export interface SqliteTokenDenylistOptions extends SweepOptions {
  /** A file path or `':memory:'`; may be the session store's file. */
  readonly path: string
  readonly clock: Clock
}

/** Revoked token ids in a SQLite file: replicas on one machine share them. */
export class SqliteTokenDenylist implements TokenDenylist {
  readonly kind = 'sqlite'
  readonly #db: DatabaseSync
  readonly #clock: Clock
  readonly #sweeper: SweepTimer
  readonly #add: StatementSync
  readonly #has: StatementSync
  readonly #sweep: StatementSync

  static open(options: SqliteTokenDenylistOptions): SqliteTokenDenylist {
    const sweep = resolveSweepOptions('SqliteTokenDenylist', options)
    const db = openSqlite({
      path: options.path,
      migrations: sessionMigrationSet,
      owner: 'SqliteTokenDenylist',
    })
    return new SqliteTokenDenylist(db, options.clock, sweep)
  }

  private constructor(db: DatabaseSync, clock: Clock, sweep: Required<SweepOptions>) {
    this.#db = db
    this.#clock = clock
    this.#add = db.prepare(`INSERT INTO token_denylist (jti, expires_at) VALUES (?, ?)
      ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`)
    this.#has = db.prepare('SELECT 1 FROM token_denylist WHERE jti = ? AND expires_at > ?')
    this.#sweep = db.prepare('DELETE FROM token_denylist WHERE expires_at <= ?')
    this.#sweeper = new SweepTimer(
      () => this.sweepExpired(clock.now()),
      sweep.sweepIntervalMs,
      sweep.onSweepError,
    )
  }

  async add(jti: string, expiresAt: number): Promise<void> {
    if (expiresAt > this.#clock.now()) this.#run(() => this.#add.run(jti, expiresAt))
  }

  async has(jti: string): Promise<boolean> {
    return this.#run(() => this.#has.get(jti, this.#clock.now())) !== undefined
  }

  async sweepExpired(now: number): Promise<number> {
    return Number(this.#run(() => this.#sweep.run(now)).changes)
  }

  async ping(): Promise<void> {
    this.#run(() => this.#db.prepare('SELECT 1').get())
  }

  async close(): Promise<void> {
    await this.#sweeper.stop()
    if (this.#db.isOpen) this.#db.close()
  }

  #run<T>(work: () => T): T {
    try {
      return work()
    } catch (err) {
      if (isSqliteUnavailable(err) || !this.#db.isOpen) {
        throw new AppError('ERR_STORE_UNAVAILABLE', 'The SQLite token denylist is unavailable', {
          cause: err,
        })
      }
      throw err
    }
  }
}
