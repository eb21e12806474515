import pg from 'pg'
import { service, uniqueName } from './services.ts'

/** Pools on a throw-away schema, so that tests never see another run's tables. */
export interface TestSchema {
  /** A pool on `DATABASE_URL`. */
  readonly pool: pg.Pool
  /** A name no other run uses; not created yet (opening a store creates it). */
  readonly schema: string
  /** Another pool on the same database, as a second replica would have; `drop()` ends it too. */
  newPool(options?: pg.PoolConfig): pg.Pool
  /** Drops the schema with everything in it and ends the pools; safe to call more than once. */
  drop(): Promise<void>
}

/**
 * A pool and a unique schema name on `DATABASE_URL`. Call only where `service('DATABASE_URL')` did not
 * skip; register `drop()` as teardown.
 *
 * @example
 * const db = createTestSchema()
 * after(() => db.drop())
 * const store = await PostgresDataStore.open({ pool: db.pool, schema: db.schema })
 */
export function createTestSchema(options: pg.PoolConfig = {}): TestSchema {
  const { url } = service('DATABASE_URL')
  if (url === undefined) throw new Error('createTestSchema needs DATABASE_URL; skip with service() first')
  const pools: pg.Pool[] = []
  const newPool = (more: pg.PoolConfig = {}) => {
    const pool = new pg.Pool({ connectionString: url, ...options, ...more })
    pools.push(pool)
    return pool
  }
  const pool = newPool()
  const schema = uniqueName('statelab_test')
  let dropped: Promise<void> | undefined
  return {
    pool,
    schema,
    newPool,
    drop() {
      dropped ??= (async () => {
        try {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        } finally {
          await Promise.all(pools.map((p) => p.end()))
        }
      })()
      return dropped
    },
  }
}

/** `store`, whose `close()` also drops `db`: for contract suites, which close each store they open. */
export function dropOnClose<T extends { close(): Promise<void> }>(store: T, db: TestSchema): T {
  const close = store.close.bind(store)
  store.close = async () => {
    try {
      await close()
    } finally {
      await db.drop()
    }
  }
  return store
}
