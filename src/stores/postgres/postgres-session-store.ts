import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import type { Session } from '../../core/sessions/session.ts'
import { sessionMigrationSet } from '../data/migrations.ts'
import type { SessionStore } from '../session-store.ts'
import { byCreation, sessionFromRow } from '../sql-session-rows.ts'
import { resolveSweepOptions, type SweepOptions, SweepTimer } from '../sweep-timer.ts'
import {
  openPostgresSchema,
  type PostgresPool,
  type PostgresQueryResult,
  toStoreError,
} from './open-postgres.ts'

export interface PostgresSessionStoreOptions extends SweepOptions {
  /** A pg `Pool`; the store never ends it. */
  readonly pool: PostgresPool
  readonly clock: Clock
  /** The schema that holds the sessions table (created if missing). Default `public`. */
  readonly schema?: string
}

const owner = 'PostgresSessionStore'

/**
 * Sessions in PostgreSQL: every replica on every machine shares them, and they survive restarts.
 *
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000 })
 * const store = await PostgresSessionStore.open({ pool, clock: systemClock })
 */
export class PostgresSessionStore implements SessionStore {
  readonly kind = 'postgres'
  readonly #pool: PostgresPool
  readonly #clock: Clock
  readonly #sweepBatchSize: number
  readonly #sweepTimer: SweepTimer
  readonly #sql: ReturnType<typeof statementsFor>
  #closed = false

  /** Creates the schema if missing and brings the sessions table up to date. */
  static async open(options: PostgresSessionStoreOptions): Promise<PostgresSessionStore> {
    const { pool, clock, schema = 'public' } = options
    const sweep = resolveSweepOptions(owner, options)
    if (typeof clock?.now !== 'function') throw new TypeError(`${owner} options.clock must be a Clock`)
    const quotedSchema = await openPostgresSchema({ pool, schema, migrations: sessionMigrationSet, owner })
    return new PostgresSessionStore(pool, clock, quotedSchema, sweep)
  }

  private constructor(pool: PostgresPool, clock: Clock, quotedSchema: string, sweep: Required<SweepOptions>) {
    this.#pool = pool
    this.#clock = clock
    this.#sweepBatchSize = sweep.sweepBatchSize
    this.#sql = statementsFor(`${quotedSchema}.sessions`)
    this.#sweepTimer = new SweepTimer(
      () => this.sweepExpired(this.#clock.now()),
      sweep.sweepIntervalMs,
      sweep.onSweepError,
    )
  }

  async get(id: string): Promise<Session | undefined> {
    const { rows } = await this.#query(this.#sql.get, [id])
    return rows[0] && sessionFromRow(rows[0])
  }

  async create(session: Session): Promise<void> {
    const { id, userId, version, expiresAt } = session
    await this.#query(this.#sql.insert, [id, userId, version, expiresAt, JSON.stringify(session)])
  }

  async compareAndSwap(next: Session, expectedVersion: number): Promise<boolean> {
    const { id, version, expiresAt } = next
    const values = [version, expiresAt, JSON.stringify(next), id, expectedVersion, this.#clock.now()]
    return (await this.#changes(this.#sql.compareAndSwap, values)) === 1
  }

  async touch(id: string, lastActivityAt: number, expiresAt: number): Promise<boolean> {
    return (await this.#changes(this.#sql.touch, [lastActivityAt, expiresAt, id, this.#clock.now()])) === 1
  }

  async destroy(id: string): Promise<boolean> {
    return (await this.#changes(this.#sql.delete, [id])) === 1
  }

  async listByUser(userId: string): Promise<Session[]> {
    const { rows } = await this.#query(this.#sql.listByUser, [userId, this.#clock.now()])
    return rows.map(sessionFromRow).sort(byCreation)
  }

  async countByUser(userId: string): Promise<number> {
    const { rows } = await this.#query(this.#sql.countByUser, [userId, this.#clock.now()])
    return Number(rows[0]?.n ?? 0)
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<number> {
    return this.#changes(this.#sql.deleteByUser, [userId, exceptId ?? null])
  }

  async sweepExpired(now: number): Promise<number> {
    let count = 0
    for (;;) {
      const deleted = await this.#changes(this.#sql.sweepBatch, [now, this.#sweepBatchSize])
      count += deleted
      if (deleted < this.#sweepBatchSize) return count
    }
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1')
  }

  /** Stops the sweep; the pool stays open for whoever made it. */
  async close(): Promise<void> {
    this.#closed = true
    await this.#sweepTimer.stop()
  }

  async #query(text: string, values?: unknown[]): Promise<PostgresQueryResult> {
    if (this.#closed) throw new AppError('ERR_STORE_UNAVAILABLE', 'The PostgreSQL session store is closed')
    try {
      return await this.#pool.query(text, values)
    } catch (err) {
      throw toStoreError(err, 'The PostgreSQL session database does not answer')
    }
  }

  async #changes(text: string, values: unknown[]): Promise<number> {
    return (await this.#query(text, values)).rowCount ?? 0
  }
}

/** The store's SQL, built once per store since the table name carries the schema. */
function statementsFor(table: string) {
  return {
    get: `SELECT data FROM ${table} WHERE id = $1`,
    insert: `INSERT INTO ${table} (id, user_id, version, expires_at, data) VALUES ($1, $2, $3, $4, $5)`,
    compareAndSwap: `UPDATE ${table} SET version = $1, expires_at = $2, data = $3
      WHERE id = $4 AND version = $5 AND expires_at > $6`,
    touch: `UPDATE ${table} SET expires_at = $2,
        data = (data::jsonb || jsonb_build_object('lastActivityAt', $1::bigint, 'expiresAt', $2::bigint))::text
      WHERE id = $3 AND expires_at > $4`,
    delete: `DELETE FROM ${table} WHERE id = $1`,
    listByUser: `SELECT data FROM ${table} WHERE user_id = $1 AND expires_at > $2`,
    countByUser: `SELECT COUNT(*) AS n FROM ${table} WHERE user_id = $1 AND expires_at > $2`,
    deleteByUser: `DELETE FROM ${table} WHERE user_id = $1 AND id IS DISTINCT FROM $2`,
    // SKIP LOCKED: replicas sweeping at the same moment take different rows instead of queueing.
    sweepBatch: `DELETE FROM ${table} WHERE id IN (
      SELECT id FROM ${table} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  } as const
}
