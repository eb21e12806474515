export type { SqliteDataStoreOptions } from './sqlite-data-store.ts'
export { SqliteDataStore } from './sqlite-data-store.ts'
