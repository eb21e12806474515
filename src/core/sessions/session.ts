import { hash, randomBytes } from 'node:crypto'
import type { CalcMemory } from '../calc/calc-memory.ts'
import { AppError } from '../errors.ts'

/** What the server remembers about a conversation beyond who it is with. */
export interface SessionData {
  /** Ids of the files uploaded in this session, oldest first, at most {@link MAX_REMEMBERED_FILES}. */
  readonly filesUploaded: readonly string[]
  /** Messages: authenticated requests that changed something (uploads, deletes, ...) in this session. */
  readonly messageCount: number
  /** Bytes uploaded in this session. */
  readonly totalBytes: number
  /** The calculator's memory, once the session has calculated something. */
  readonly calc?: CalcMemory
  /** What a raw-TCP session (docs/protocol.md) remembers; present only on those. */
  readonly tcp?: TcpSessionState
}

/** The TCP protocol's part of a session (docs/protocol.md, section 5). */
export interface TcpSessionState {
  /** The address of the client that created the session (`bind_to_ip` compares against it). */
  readonly clientAddress: string
  /** The last sequence number the server accepted; 0 right after `connect`. */
  readonly lastSequence: number
  readonly state: 'active'
  /** Files stored in this session, oldest first, at most {@link MAX_TCP_FILES} (the newest). */
  readonly files: readonly TcpStoredFile[]
  /** Files stored in this session, including those `files` no longer lists. */
  readonly fileCount: number
}

/** One file a TCP session stored. */
export interface TcpStoredFile {
  readonly fileId: string
  /** Path relative to the storage root. */
  readonly storedAs: string
  readonly size: number
  readonly sha256: string
  readonly mimeType: string
  readonly sequence: number
}

export const MAX_TCP_FILES = 1000

/**
 * One server-side session. `id` is the sha256 of the token the client holds, so no store ever holds a
 * usable token. Sessions are values: every change makes a new one with `version + 1`.
 */
export interface Session {
  readonly id: string
  readonly userId: string
  readonly username: string
  readonly createdAt: number
  readonly lastActivityAt: number
  /** `min(lastActivityAt + idle timeout, absoluteExpiresAt)`: the one instant the store must forget it. */
  readonly expiresAt: number
  /** Hard cap from creation, whatever the activity. */
  readonly absoluteExpiresAt: number
  readonly version: number
  readonly data: SessionData
}

/** How long a session lives: idle (sliding) and absolute (hard cap), both enforced on every read. */
export interface SessionPolicy {
  readonly idleTimeoutMs: number
  readonly absoluteTimeoutMs: number
  /**
   * A read records its activity only when the last recorded one is at least this old (default 0: every
   * read). Reads then rarely write, so a read cache stays warm; the idle timeout may fire up to this much early.
   */
  readonly touchAfterMs?: number
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = Object.freeze({
  idleTimeoutMs: 30 * 60_000,
  absoluteTimeoutMs: 8 * 3600_000,
})

export const MAX_REMEMBERED_FILES = 256

const TOKEN = /^[\w-]{43}$/

/** A fresh token for the client (256 random bits) and the id the store will know it by. */
export function newSessionToken(): { token: string; id: string } {
  const token = randomBytes(32).toString('base64url')
  return { token, id: sessionIdOf(token) }
}

/** The store id of a client token; throws `ERR_SESSION_UNKNOWN` for anything the server could not have issued. */
export function sessionIdOf(token: string): string {
  if (!TOKEN.test(token))
    throw new AppError('ERR_SESSION_UNKNOWN', 'The session id is not one this server issued')
  // One-shot hash: a third of createHash().update().digest()'s cost, on every request of the stateful API.
  return hash('sha256', token, 'base64url')
}

/** A new session for a user, active from `now`. */
export function createSession(
  id: string,
  user: { readonly id: string; readonly username: string },
  now: number,
  policy: SessionPolicy,
): Session {
  const absoluteExpiresAt = now + policy.absoluteTimeoutMs
  return {
    id,
    userId: user.id,
    username: user.username,
    createdAt: now,
    lastActivityAt: now,
    expiresAt: Math.min(now + policy.idleTimeoutMs, absoluteExpiresAt),
    absoluteExpiresAt,
    version: 1,
    data: newSessionData(),
  }
}

/** The data of a session that has done nothing yet. */
export function newSessionData(): SessionData {
  return { filesUploaded: [], messageCount: 0, totalBytes: 0 }
}

/** Throws `ERR_SESSION_EXPIRED` (saying which timeout) when the session is no longer valid at `now`. */
export function assertSessionActive(session: Session, now: number): void {
  if (session.expiresAt > now) return
  const why =
    session.expiresAt >= session.absoluteExpiresAt
      ? 'it reached its maximum lifetime'
      : 'it was idle for too long'
  throw new AppError('ERR_SESSION_EXPIRED', `The session has expired: ${why}. Start a new one`)
}

/** The next version of a session after activity at `now`, with `change` applied to its data. */
export function advanceSession(
  session: Session,
  now: number,
  policy: SessionPolicy,
  change: (data: SessionData) => SessionData = countMessage,
): Session {
  return {
    ...session,
    lastActivityAt: now,
    expiresAt: Math.min(now + policy.idleTimeoutMs, session.absoluteExpiresAt),
    version: session.version + 1,
    data: change(session.data),
  }
}

/**
 * The activity a read at `now` should record, or undefined when the recorded one is recent enough
 * (`policy.touchAfterMs`). Data and version do not change: a read is not a message.
 */
export function touchSession(
  session: Session,
  now: number,
  policy: SessionPolicy,
): { lastActivityAt: number; expiresAt: number } | undefined {
  if (now - session.lastActivityAt < (policy.touchAfterMs ?? 0)) return undefined
  return { lastActivityAt: now, expiresAt: Math.min(now + policy.idleTimeoutMs, session.absoluteExpiresAt) }
}

/** One more message in the session. */
export function countMessage(data: SessionData): SessionData {
  return { ...data, messageCount: data.messageCount + 1 }
}

/** Remembers an upload in the session. */
export function recordUpload(fileId: string, size: number): (data: SessionData) => SessionData {
  return (data) => ({
    ...data,
    filesUploaded: [...data.filesUploaded, fileId].slice(-MAX_REMEMBERED_FILES),
    totalBytes: data.totalBytes + size,
  })
}

/** Validates a policy; throws a `TypeError` naming the bad option. */
export function assertSessionPolicy(policy: SessionPolicy): void {
  for (const key of ['idleTimeoutMs', 'absoluteTimeoutMs'] as const) {
    if (!Number.isSafeInteger(policy[key]) || policy[key] <= 0) {
      throw new TypeError(`session policy ${key} must be a positive integer of milliseconds`)
    }
  }
  const { touchAfterMs = 0 } = policy
  if (!Number.isSafeInteger(touchAfterMs) || touchAfterMs < 0 || touchAfterMs >= policy.idleTimeoutMs) {
    throw new TypeError('session policy touchAfterMs must be a non-negative integer below idleTimeoutMs')
  }
}
