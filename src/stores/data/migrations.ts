import { AppError } from '../../core/errors.ts'

/** One step of the schema, written in SQL that both SQLite and PostgreSQL accept. */
export interface Migration {
  readonly version: number
  readonly name: string
  /** One or more statements, run inside one transaction. */
  readonly up: string
}

/**
 * One schema's migrations and the table that records which of them a database has applied. Each schema
 * has its own table, so that the data store and a session store can share one database (one SQLite file,
 * one PostgreSQL schema) without taking each other's versions for unknown ones.
 */
export interface MigrationSet {
  /** The bookkeeping table; a plain lower-case SQL name, never user input. */
  readonly table: string
  readonly migrations: readonly Migration[]
}

/** Creates the table that records which migrations of a {@link MigrationSet} a database has applied. */
export function migrationsTableSql(table: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(table))
    throw new TypeError(`"${table}" is not a valid migrations table name`)
  return `CREATE TABLE IF NOT EXISTS ${table} (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`
}

/** Creates the table that records which data store migrations a database has applied. */
export const schemaMigrationsTableSql = migrationsTableSql('schema_migrations')

/** The schema of the data store (users, file metadata, refresh tokens), oldest first. */
export const dataMigrations: readonly Migration[] = Object.freeze([
  Object.freeze({
    version: 1,
    name: 'create users, files and refresh_tokens',
    // Timestamps are milliseconds since the epoch, hence BIGINT. NOT NULL on the TEXT keys because
    // SQLite, unlike PostgreSQL, lets a non-integer PRIMARY KEY column hold NULL.
    up: `
CREATE TABLE users (
  id TEXT NOT NULL PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  token_version INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE files (
  id TEXT NOT NULL PRIMARY KEY,
  owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  filename TEXT NOT NULL,
  stored_name TEXT NOT NULL UNIQUE,
  mime_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX files_owner_id_created_at_idx ON files (owner_id, created_at);
CREATE TABLE refresh_tokens (
  token_hash TEXT NOT NULL PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  family_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  rotated_at BIGINT,
  revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);
`,
  }),
])

/** The data store's schema, recorded in `schema_migrations`. */
export const dataMigrationSet: MigrationSet = Object.freeze({
  table: 'schema_migrations',
  migrations: dataMigrations,
})

/** The schema of the SQL session stores (SQLite, PostgreSQL), oldest first. */
export const sessionMigrations: readonly Migration[] = Object.freeze([
  Object.freeze({
    version: 1,
    name: 'create sessions',
    // `data` is the whole session as JSON; the columns copy what queries filter on. No created_at column:
    // a user has a handful of sessions, so listing them sorts in code.
    up: `
CREATE TABLE sessions (
  id TEXT NOT NULL PRIMARY KEY,
  user_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  expires_at BIGINT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
`,
  }),
  Object.freeze({
    version: 2,
    name: 'create token_denylist',
    up: `
CREATE TABLE token_denylist (
  jti TEXT NOT NULL PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX token_denylist_expires_at_idx ON token_denylist (expires_at);
`,
  }),
])

/** The schema of short-lived state (sessions, revoked tokens), recorded in `session_schema_migrations`. */
export const sessionMigrationSet: MigrationSet = Object.freeze({
  table: 'session_schema_migrations',
  migrations: sessionMigrations,
})

/**
 * The migrations of `all` that are not in `applied`, in order; refuses a database that has a version
 * the code does not know (`AppError('ERR_CONFIG')`) and a list whose versions do not strictly increase.
 */
export function planMigrations(applied: readonly number[], all: readonly Migration[]): Migration[] {
  let latest = 0
  for (const { version } of all) {
    if (!Number.isSafeInteger(version) || version <= latest)
      throw new TypeError(
        `migration versions must be positive integers in strictly increasing order; ${version} follows ${latest}`,
      )
    latest = version
  }
  const known = new Set(all.map((migration) => migration.version))
  const unknown = applied.filter((version) => !known.has(version))
  if (unknown.length > 0) {
    const newest = Math.max(...unknown)
    throw new AppError(
      'ERR_CONFIG',
      newest > latest
        ? `database schema version ${newest} is newer than this statelab; upgrade statelab`
        : `database schema version ${newest} is unknown to this statelab (was a migration removed?)`,
    )
  }
  const done = new Set(applied)
  return all.filter((migration) => !done.has(migration.version))
}
