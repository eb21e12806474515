import { newSessionData, type Session, type SessionData } from './session.ts'

/*
 * The compact form stores keep a session in, without its id (the id is what they file it under):
 *
 *   [version, createdAt, lastActivityAt - createdAt, expiresAt - lastActivityAt, absoluteExpiresAt - createdAt,
 *    userId, username, data?]
 *
 * A JSON array, so one native JSON.parse reads it. Times are milliseconds; all but createdAt are differences,
 * which are short. `data` is left out while it is still what a new session has. The five numbers come first
 * and never contain a comma, so a Redis script can read and rewrite them without parsing the rest
 * (src/stores/redis/session-scripts.ts).
 */

const DEFAULT_DATA_JSON = JSON.stringify(newSessionData())

type Encoded = [number, number, number, number, number, string, string, SessionData?]

/** A session in its compact stored form (see the top of this file); the store keeps the id beside it. */
export function encodeSession(session: Session): string {
  const { version, createdAt, lastActivityAt, expiresAt, absoluteExpiresAt, userId, username } = session
  const head = JSON.stringify([
    version,
    createdAt,
    lastActivityAt - createdAt,
    expiresAt - lastActivityAt,
    absoluteExpiresAt - createdAt,
    userId,
    username,
  ])
  const data = JSON.stringify(session.data)
  return data === DEFAULT_DATA_JSON ? head : `${head.slice(0, -1)},${data}]`
}

/** The session `encoded` holds, filed under `id`; a new object every call. */
export function decodeSession(id: string, encoded: string): Session {
  const [version, createdAt, sinceCreated, untilExpiry, lifetime, userId, username, data] = JSON.parse(
    encoded,
  ) as Encoded
  const lastActivityAt = createdAt + sinceCreated
  return {
    id,
    userId,
    username,
    createdAt,
    lastActivityAt,
    expiresAt: lastActivityAt + untilExpiry,
    absoluteExpiresAt: createdAt + lifetime,
    version,
    data: data ?? newSessionData(),
  }
}

/** The user an encoded session belongs to, without building the session. */
export function userIdOfEncoded(encoded: string): string {
  return (JSON.parse(encoded) as Encoded)[5]
}
