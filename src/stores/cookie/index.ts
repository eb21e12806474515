export type { CookieSessionStoreOptions, IssueSealed } from './cookie-session-store.ts'
export { CookieSessionStore, MAX_SEALED_BYTES } from './cookie-session-store.ts'
