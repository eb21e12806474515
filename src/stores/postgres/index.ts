export type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from './open-postgres.ts'
export type { PostgresSessionStoreOptions } from './postgres-session-store.ts'
export { PostgresSessionStore } from './postgres-session-store.ts'
