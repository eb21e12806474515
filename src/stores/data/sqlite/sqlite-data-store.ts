import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite'
import { AppError } from '../../../core/errors.ts'
import type { FileRecord, FileRepository } from '../../../core/files/file-record.ts'
import type { RefreshTokenRecord, RefreshTokenRepository } from '../../../core/tokens/refresh-token-record.ts'
import type { User, UserRepository, UserTokenState } from '../../../core/users/user.ts'
import { errcodeOf, openSqlite } from '../../sqlite/open-sqlite.ts'
import type { DataStore } from '../data-store.ts'
import { dataMigrationSet } from '../migrations.ts'
import {
  fileColumns,
  fileValues,
  refreshTokenColumns,
  refreshTokenValues,
  toFile,
  toRefreshToken,
  toUser,
  userColumns,
  userValues,
} from '../sql-rows.ts'

/** Where the SQLite data store keeps its file. */
export interface SqliteDataStoreOptions {
  /** A file path (its directory is created) or `':memory:'`. */
  readonly path: string
}

type Row = Record<string, SQLOutputValue>

// SQLITE_CONSTRAINT_UNIQUE; a duplicate primary key is SQLITE_CONSTRAINT_PRIMARYKEY (1555) instead.
const uniqueViolation = 2067

/**
 * Users, file metadata and refresh tokens in one SQLite database through `node:sqlite`.
 *
 * @example
 * const store = SqliteDataStore.open({ path: './data/statelab.db' })
 */
export class SqliteDataStore implements DataStore {
  readonly kind = 'sqlite'
  readonly users: UserRepository
  readonly files: FileRepository
  readonly refreshTokens: RefreshTokenRepository
  readonly #db: DatabaseSync
  readonly #ping: StatementSync
  readonly #schemaVersion: StatementSync

  /** Opens (creating if needed) the database and brings its schema up to date. */
  static open(options: SqliteDataStoreOptions): SqliteDataStore {
    return new SqliteDataStore(
      openSqlite({ path: options.path, migrations: dataMigrationSet, owner: 'SqliteDataStore' }),
    )
  }

  private constructor(db: DatabaseSync) {
    this.#db = db
    this.users = new SqliteUserRepository(db)
    this.files = new SqliteFileRepository(db)
    this.refreshTokens = new SqliteRefreshTokenRepository(db)
    this.#ping = db.prepare('SELECT 1')
    this.#schemaVersion = db.prepare(
      `SELECT COALESCE(MAX(version), 0) AS version FROM ${dataMigrationSet.table}`,
    )
  }

  async ping(): Promise<void> {
    try {
      this.#ping.get()
    } catch (err) {
      throw new AppError('ERR_STORE_UNAVAILABLE', 'The SQLite database does not answer', { cause: err })
    }
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close()
  }

  /** The highest migration version applied to the database. */
  schemaVersion(): number {
    return this.#schemaVersion.get()!.version as number
  }
}

function changes(result: { changes: number | bigint }): number {
  return Number(result.changes)
}

class SqliteUserRepository implements UserRepository {
  readonly #insert: StatementSync
  readonly #findById: StatementSync
  readonly #findTokenState: StatementSync
  readonly #findByUsername: StatementSync
  readonly #setPassword: StatementSync
  readonly #bumpTokenVersion: StatementSync
  readonly #count: StatementSync

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(`INSERT INTO users (${userColumns}) VALUES (?, ?, ?, ?, ?)`)
    this.#findById = db.prepare(`SELECT ${userColumns} FROM users WHERE id = ?`)
    this.#findTokenState = db.prepare('SELECT username, token_version FROM users WHERE id = ?')
    // An array per row instead of an object keyed by column name: half the cost of this per-request read.
    this.#findTokenState.setReturnArrays(true)
    this.#findByUsername = db.prepare(`SELECT ${userColumns} FROM users WHERE username = ?`)
    this.#setPassword = db.prepare(
      'UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = ? RETURNING token_version',
    )
    this.#bumpTokenVersion = db.prepare(
      'UPDATE users SET token_version = token_version + 1 WHERE id = ? RETURNING token_version',
    )
    this.#count = db.prepare('SELECT COUNT(*) AS count FROM users')
  }

  async insert(user: User): Promise<void> {
    try {
      this.#insert.run(...userValues(user))
    } catch (err) {
      // The only UNIQUE constraint on users besides the primary key is the username.
      if (errcodeOf(err) === uniqueViolation)
        throw new AppError('ERR_USERNAME_TAKEN', `The username "${user.username}" is taken`, { cause: err })
      throw err
    }
  }

  async findById(id: string): Promise<User | undefined> {
    const row = this.#findById.get(id)
    return row && toUser(row)
  }

  async findTokenState(id: string): Promise<UserTokenState | undefined> {
    const row = this.#findTokenState.get(id) as unknown as [string, number] | undefined
    return row && { username: row[0], tokenVersion: row[1] }
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const row = this.#findByUsername.get(username)
    return row && toUser(row)
  }

  async setPassword(id: string, passwordHash: string): Promise<number> {
    return tokenVersionOf(this.#setPassword.get(passwordHash, id), id)
  }

  async bumpTokenVersion(id: string): Promise<number> {
    return tokenVersionOf(this.#bumpTokenVersion.get(id), id)
  }

  async count(): Promise<number> {
    return this.#count.get()!.count as number
  }
}

function tokenVersionOf(row: Row | undefined, id: string): number {
  if (row === undefined) throw new AppError('ERR_NOT_FOUND', `No user has the id "${id}"`)
  return row.token_version as number
}

class SqliteFileRepository implements FileRepository {
  readonly #insert: StatementSync
  readonly #findForOwner: StatementSync
  readonly #listByOwner: StatementSync
  readonly #deleteForOwner: StatementSync

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(`INSERT INTO files (${fileColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
    this.#findForOwner = db.prepare(`SELECT ${fileColumns} FROM files WHERE id = ? AND owner_id = ?`)
    // id breaks ties so that files created in the same millisecond keep a stable order.
    this.#listByOwner = db.prepare(
      `SELECT ${fileColumns} FROM files WHERE owner_id = ? ORDER BY created_at DESC, id DESC`,
    )
    this.#deleteForOwner = db.prepare(
      `DELETE FROM files WHERE id = ? AND owner_id = ? RETURNING ${fileColumns}`,
    )
  }

  async insert(file: FileRecord): Promise<void> {
    this.#insert.run(...fileValues(file))
  }

  async findForOwner(id: string, ownerId: string): Promise<FileRecord | undefined> {
    const row = this.#findForOwner.get(id, ownerId)
    return row && toFile(row)
  }

  async listByOwner(ownerId: string): Promise<FileRecord[]> {
    return this.#listByOwner.all(ownerId).map(toFile)
  }

  async deleteForOwner(id: string, ownerId: string): Promise<FileRecord | undefined> {
    const row = this.#deleteForOwner.get(id, ownerId)
    return row && toFile(row)
  }
}

class SqliteRefreshTokenRepository implements RefreshTokenRepository {
  readonly #insert: StatementSync
  readonly #find: StatementSync
  readonly #markRotated: StatementSync
  readonly #revokeFamily: StatementSync
  readonly #revokeAllForUser: StatementSync
  readonly #deleteExpired: StatementSync

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(
      `INSERT INTO refresh_tokens (${refreshTokenColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    this.#find = db.prepare(`SELECT ${refreshTokenColumns} FROM refresh_tokens WHERE token_hash = ?`)
    this.#markRotated = db.prepare(
      'UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL AND revoked_at IS NULL',
    )
    this.#revokeFamily = db.prepare(
      'UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL',
    )
    this.#revokeAllForUser = db.prepare(
      'UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL',
    )
    this.#deleteExpired = db.prepare('DELETE FROM refresh_tokens WHERE expires_at < ?')
  }

  async insert(record: RefreshTokenRecord): Promise<void> {
    this.#insert.run(...refreshTokenValues(record))
  }

  async find(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const row = this.#find.get(tokenHash)
    return row && toRefreshToken(row)
  }

  async markRotated(tokenHash: string, at: number): Promise<boolean> {
    return changes(this.#markRotated.run(at, tokenHash)) === 1
  }

  async revokeFamily(familyId: string, at: number): Promise<number> {
    return changes(this.#revokeFamily.run(at, familyId))
  }

  async revokeAllForUser(userId: string, at: number): Promise<number> {
    return changes(this.#revokeAllForUser.run(at, userId))
  }

  async deleteExpired(now: number): Promise<number> {
    return changes(this.#deleteExpired.run(now))
  }
}
