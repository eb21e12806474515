import type { Clock } from '../../core/clock.ts'
import { sessionMigrationSet } from '../data/migrations.ts'
import { resolveSweepOptions, type SweepOptions, SweepTimer } from '../sweep-timer.ts'
import type { TokenDenylist } from '../token-denylist.ts'
import { openPostgresSchema, type PostgresPool, toStoreError } from './open-postgres.ts'

export interface PostgresTokenDenylistOptions extends SweepOptions {
  readonly pool: PostgresPool
  readonly clock: Clock
  readonly schema?: string
}

/** Revoked token ids in PostgreSQL: every replica on every machine shares them. */
export class PostgresTokenDenylist implements TokenDenylist {
  readonly kind = 'postgres'
  readonly #pool: PostgresPool
  readonly #clock: Clock
  readonly #table: string
  readonly #sweeper: SweepTimer

  static async open(options: PostgresTokenDenylistOptions): Promise<PostgresTokenDenylist> {
    const owner = 'PostgresTokenDenylist'
    const sweep = resolveSweepOptions(owner, options)
    const schema = await openPostgresSchema({
      pool: options.pool,
      schema: options.schema ?? 'public',
      migrations: sessionMigrationSet,
      owner,
    })
    return new PostgresTokenDenylist(options.pool, options.clock, `${schema}.token_denylist`, sweep)
  }

  private constructor(pool: PostgresPool, clock: Clock, table: string, sweep: Required<SweepOptions>) {
    this.#pool = pool
    this.#clock = clock
    this.#table = table
    this.#sweeper = new SweepTimer(
      () => this.sweepExpired(clock.now()),
      sweep.sweepIntervalMs,
      sweep.onSweepError,
    )
  }

  async add(jti: string, expiresAt: number): Promise<void> {
    if (expiresAt <= this.#clock.now()) return
    await this.#query(
      `INSERT INTO ${this.#table} (jti, expires_at) VALUES ($1, $2)
       ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(${this.#table}.expires_at, EXCLUDED.expires_at)`,
      [jti, expiresAt],
    )
  }

  async has(jti: string): Promise<boolean> {
    const rows = await this.#query(`SELECT 1 FROM ${this.#table} WHERE jti = $1 AND expires_at > $2`, [
      jti,
      this.#clock.now(),
    ])
    return rows.rowCount === 1
  }

  async sweepExpired(now: number): Promise<number> {
    return (await this.#query(`DELETE FROM ${this.#table} WHERE expires_at <= $1`, [now])).rowCount ?? 0
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1', [])
  }

  async close(): Promise<void> {
    await this.#sweeper.stop()
  }

  async #query(text: string, values: unknown[]) {
    try {
      return await this.#pool.query(text, values)
    } catch (err) {
      throw toStoreError(err, 'The PostgreSQL token denylist is unavailable')
    }
  }
}
