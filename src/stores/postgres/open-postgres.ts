import { AppError, isAppError } from '../../core/errors.ts'
import { type MigrationSet, migrationsTableSql, planMigrations } from '../data/migrations.ts'

// Shared by every PostgreSQL store, so that each names its schema, migrates it and reports failures the same way.

/** What a query answers; pg's `QueryResult` has this shape. */
export interface PostgresQueryResult {
  readonly rows: Record<string, unknown>[]
  readonly rowCount: number | null
}

/** Something that runs a query: a pool or one of its clients. */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<PostgresQueryResult>
}

/** A connection checked out of a {@link PostgresPool} (pg's `PoolClient`). */
export interface PostgresPoolClient extends PostgresQueryable {
  /** Returns the client to the pool; with an error, the pool discards it instead. */
  release(err?: Error | boolean): void
}

/**
 * The subset of pg's `Pool` the PostgreSQL stores call. The stores never end it: whoever made the pool
 * (and may share it between stores) ends it.
 */
export interface PostgresPool extends PostgresQueryable {
  connect(): Promise<PostgresPoolClient>
}

const schemaName = /^[a-z_][a-z0-9_]{0,62}$/

/** Throws a `TypeError` naming the option unless `schema` is a plain lower-case PostgreSQL name. */
export function assertSchemaName(owner: string, schema: unknown): asserts schema is string {
  if (typeof schema !== 'string' || !schemaName.test(schema))
    throw new TypeError(
      `${owner} options.schema must be a lower-case name of at most 63 letters, digits and underscores, not starting with a digit`,
    )
}

/** `name` as a quoted SQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/**
 * True when the server refused the statement itself (a constraint, a syntax error): the caller's problem,
 * not the store's. Classes 08 (connection), 53 (resources), 57 (shutdown, statement timeout) and 58
 * (system) say the database cannot serve.
 */
function isStatementError(err: unknown): boolean {
  const { severity, code } = err as { severity?: unknown; code?: unknown }
  return typeof severity === 'string' && typeof code === 'string' && !/^(08|53|57|58)/.test(code)
}

/**
 * What a store throws for `err` from pg: AppErrors and statement errors as they are; anything else
 * (refused or lost connections, timeouts, an ended pool, a server shutting down) as
 * `AppError('ERR_STORE_UNAVAILABLE', message)` with `err` as its cause.
 */
export function toStoreError(err: unknown, message: string): unknown {
  if (isAppError(err) || isStatementError(err)) return err
  return new AppError('ERR_STORE_UNAVAILABLE', message, { cause: err })
}

export interface OpenPostgresSchemaOptions {
  readonly pool: PostgresPool
  readonly schema: string
  readonly migrations: MigrationSet
  /** The class that opens, to name it in errors. */
  readonly owner: string
}

/**
 * Validates and creates (if missing) `schema`, then applies the pending `migrations` to it, each in its
 * own transaction under an advisory lock so that replicas starting together apply each one once. Returns
 * the quoted schema to prefix table names with. Throws `ERR_STORE_UNAVAILABLE` when the database does not
 * answer, `ERR_CONFIG` when it was migrated by a newer statelab.
 */
export async function openPostgresSchema(options: OpenPostgresSchemaOptions): Promise<string> {
  const { pool, schema, migrations, owner } = options
  assertSchemaName(owner, schema)
  if (typeof pool?.query !== 'function' || typeof pool.connect !== 'function')
    throw new TypeError(`${owner} options.pool must be a pg Pool`)
  const quoted = quoteIdentifier(schema)
  try {
    await withMigrationLock(pool, schema, async (client) => {
      // Checked first because CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when it exists.
      const { rows } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
      if (rows.length === 0) await client.query(`CREATE SCHEMA ${quoted}`)
      await client.query(migrationsTableSql(migrations.table))
    })
    const selectApplied = `SELECT version FROM ${quoted}.${migrations.table} ORDER BY version`
    const readApplied = async (db: PostgresQueryable) =>
      (await db.query(selectApplied)).rows.map((row) => row.version as number)
    for (const migration of planMigrations(await readApplied(pool), migrations.migrations)) {
      await withMigrationLock(pool, schema, async (client) => {
        // Another replica may have applied it while this one waited for the lock.
        if ((await readApplied(client)).includes(migration.version)) return
        await client.query(migration.up)
        await client.query(
          `INSERT INTO ${migrations.table} (version, name, applied_at) VALUES ($1, $2, $3)`,
          [migration.version, migration.name, Date.now()],
        )
      })
    }
    return quoted
  } catch (err) {
    throw toStoreError(err, `${owner} cannot reach PostgreSQL to prepare schema "${schema}"`)
  }
}

/** Runs `work` in a transaction that holds this schema's migration lock, with the schema as search path. */
async function withMigrationLock(
  pool: PostgresPool,
  schema: string,
  work: (client: PostgresPoolClient) => Promise<void>,
): Promise<void> {
  const client = await pool.connect()
  let failure: Error | undefined
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `statelab.migrate.${schema}`,
    ])
    // LOCAL: the connection goes back to a pool that other stores (other schemas) share.
    await client.query(`SET LOCAL search_path TO ${quoteIdentifier(schema)}`)
    await work(client)
    await client.query('COMMIT')
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err))
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    // After a failure the connection's state is in doubt: the pool discards it.
    client.release(failure)
  }
}
