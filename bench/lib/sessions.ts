import { randomUUID } from 'node:crypto'
import {
  createSession,
  DEFAULT_SESSION_POLICY,
  newSessionToken,
  type Session,
} from '../../src/core/sessions/session.ts'

/**
 * A fresh session as a login makes it: an id derived from a new token, its own user (so stores that index
 * by user pay for one index entry per session), default timeouts.
 */
export function makeSession(n: number, now = Date.now()): Session {
  const user = { id: randomUUID(), username: `bench-user-${n}` }
  return createSession(newSessionToken().id, user, now, DEFAULT_SESSION_POLICY)
}
