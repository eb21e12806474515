import { PostgresTokenDenylist } from '../../src/stores/postgres/index.ts'
import { SqliteTokenDenylist } from '../../src/stores/sqlite/index.ts'
import { createTestSchema, dropOnClose } from '../support/postgres.ts'
import { service } from '../support/services.ts'
import { runTokenDenylistContract } from './token-denylist.contract.ts'

runTokenDenylistContract('sqlite', {
  open: async (clock) => SqliteTokenDenylist.open({ path: ':memory:', clock, sweepIntervalMs: 0 }),
})

const { skip } = service('DATABASE_URL')
runTokenDenylistContract('postgres', {
  skip: skip || undefined,
  open: async (clock) => {
    const db = createTestSchema()
    const denylist = await PostgresTokenDenylist.open({
      pool: db.pool,
      clock,
      schema: db.schema,
      sweepIntervalMs: 0,
    })
    return dropOnClose(denylist, db)
  },
})
