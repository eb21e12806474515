export type {
  RedisScriptOptions,
  RedisSessionStoreClient,
  RedisSessionStoreOptions,
} from './redis-session-store.ts'
export { RedisSessionStore } from './redis-session-store.ts'
export type { RedisTokenDenylistClient } from './redis-token-denylist.ts'
export { RedisTokenDenylist } from './redis-token-denylist.ts'
