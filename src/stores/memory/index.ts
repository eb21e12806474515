export type { MemorySessionStoreOptions } from './memory-session-store.ts'
export { MemorySessionStore } from './memory-session-store.ts'
export { MemoryTokenDenylist } from './memory-token-denylist.ts'
