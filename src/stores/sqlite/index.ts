export type { SqliteSessionStoreOptions } from './sqlite-session-store.ts'
export { SqliteSessionStore } from './sqlite-session-store.ts'
export type { SqliteTokenDenylistOptions } from './sqlite-token-denylist.ts'
export { SqliteTokenDenylist } from './sqlite-token-denylist.ts'
