export type { SqliteSessionStoreOptions } from './sqlite-session-store.ts'
export { SqliteSessionStore } from './sqlite-session-store.ts'
