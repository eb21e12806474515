export type { PostgresDataStoreOptions } from './postgres-data-store.ts'
export { PostgresDataStore } from './postgres-data-store.ts'
