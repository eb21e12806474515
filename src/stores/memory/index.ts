export type { MemorySessionStoreOptions } from './memory-session-store.ts'
export { MemorySessionStore } from './memory-session-store.ts'
