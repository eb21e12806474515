export type {
  BroadcastLag,
  ReplicatedSessionStoreClient,
  ReplicatedSessionStoreOptions,
  ReplicationSubscriber,
} from './replicated-session-store.ts'
export { ReplicatedSessionStore } from './replicated-session-store.ts'
