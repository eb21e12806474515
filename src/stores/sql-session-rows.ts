import type { Session } from '../core/sessions/session.ts'

// What the SQL session stores (SQLite, PostgreSQL) share: the row shape.

/** A session from its row: the `data` column holds the whole session as JSON. */
export function sessionFromRow(row: Record<string, unknown>): Session {
  return JSON.parse(row.data as string) as Session
}

/** Oldest first; the id breaks ties so that the order is stable. */
export function byCreation(a: Session, b: Session): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}
