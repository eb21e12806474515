import { AppError } from '../../../core/errors.ts'
import type { FileRecord, FileRepository } from '../../../core/files/file-record.ts'
import type { RefreshTokenRecord, RefreshTokenRepository } from '../../../core/tokens/refresh-token-record.ts'
import type { User, UserRepository, UserTokenState } from '../../../core/users/user.ts'
import {
  openPostgresSchema,
  type PostgresPool,
  type PostgresQueryResult,
  toStoreError,
} from '../../postgres/open-postgres.ts'
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

export interface PostgresDataStoreOptions {
  /** A pg `Pool`; the store never ends it. */
  readonly pool: PostgresPool
  /** The schema that holds the tables (created if missing). Default `public`. */
  readonly schema?: string
}

type Query = (text: string, values?: unknown[]) => Promise<PostgresQueryResult>

const uniqueViolation = '23505'
// PostgreSQL's name for the UNIQUE (username) of the users table; a duplicate id is users_pkey instead.
const usernameConstraint = 'users_username_key'

/**
 * Users, file metadata and refresh tokens in PostgreSQL, shared by every replica on every machine.
 *
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 5000 })
 * const store = await PostgresDataStore.open({ pool })
 */
export class PostgresDataStore implements DataStore {
  readonly kind = 'postgres'
  readonly users: UserRepository
  readonly files: FileRepository
  readonly refreshTokens: RefreshTokenRepository
  readonly #pool: PostgresPool
  readonly #schemaVersion: string
  #closed = false

  /** Creates the schema if missing and brings its tables up to date. */
  static async open(options: PostgresDataStoreOptions): Promise<PostgresDataStore> {
    const { pool, schema = 'public' } = options
    const quotedSchema = await openPostgresSchema({
      pool,
      schema,
      migrations: dataMigrationSet,
      owner: 'PostgresDataStore',
    })
    return new PostgresDataStore(pool, quotedSchema)
  }

  private constructor(pool: PostgresPool, quotedSchema: string) {
    this.#pool = pool
    const query: Query = (text, values) => this.#query(text, values)
    this.users = new PostgresUserRepository(query, quotedSchema)
    this.files = new PostgresFileRepository(query, quotedSchema)
    this.refreshTokens = new PostgresRefreshTokenRepository(query, quotedSchema)
    this.#schemaVersion = `SELECT COALESCE(MAX(version), 0) AS version FROM ${quotedSchema}.${dataMigrationSet.table}`
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1')
  }

  /** Stops answering; the pool stays open for whoever made it. */
  async close(): Promise<void> {
    this.#closed = true
  }

  /** The highest migration version applied to the schema. */
  async schemaVersion(): Promise<number> {
    return (await this.#query(this.#schemaVersion)).rows[0]!.version as number
  }

  async #query(text: string, values?: unknown[]): Promise<PostgresQueryResult> {
    if (this.#closed) throw new AppError('ERR_STORE_UNAVAILABLE', 'The PostgreSQL data store is closed')
    try {
      return await this.#pool.query(text, values)
    } catch (err) {
      throw toStoreError(err, 'The PostgreSQL database does not answer')
    }
  }
}

function changes(result: PostgresQueryResult): number {
  return result.rowCount ?? 0
}

class PostgresUserRepository implements UserRepository {
  readonly #query: Query
  readonly #insert: string
  readonly #findById: string
  readonly #findTokenState: string
  readonly #findByUsername: string
  readonly #setPassword: string
  readonly #bumpTokenVersion: string
  readonly #count: string

  constructor(query: Query, schema: string) {
    const users = `${schema}.users`
    this.#query = query
    this.#insert = `INSERT INTO ${users} (${userColumns}) VALUES ($1, $2, $3, $4, $5)`
    this.#findById = `SELECT ${userColumns} FROM ${users} WHERE id = $1`
    this.#findTokenState = `SELECT username, token_version FROM ${users} WHERE id = $1`
    this.#findByUsername = `SELECT ${userColumns} FROM ${users} WHERE username = $1`
    this.#setPassword = `UPDATE ${users} SET password_hash = $1, token_version = token_version + 1 WHERE id = $2 RETURNING token_version`
    this.#bumpTokenVersion = `UPDATE ${users} SET token_version = token_version + 1 WHERE id = $1 RETURNING token_version`
    this.#count = `SELECT COUNT(*) AS count FROM ${users}`
  }

  async insert(user: User): Promise<void> {
    try {
      await this.#query(this.#insert, userValues(user))
    } catch (err) {
      const { code, constraint } = err as { code?: unknown; constraint?: unknown }
      if (code === uniqueViolation && constraint === usernameConstraint)
        throw new AppError('ERR_USERNAME_TAKEN', `The username "${user.username}" is taken`, { cause: err })
      throw err
    }
  }

  async findById(id: string): Promise<User | undefined> {
    const { rows } = await this.#query(this.#findById, [id])
    return rows[0] && toUser(rows[0])
  }

  async findTokenState(id: string): Promise<UserTokenState | undefined> {
    const row = (await this.#query(this.#findTokenState, [id])).rows[0]
    return row && { username: row.username as string, tokenVersion: Number(row.token_version) }
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const { rows } = await this.#query(this.#findByUsername, [username])
    return rows[0] && toUser(rows[0])
  }

  async setPassword(id: string, passwordHash: string): Promise<number> {
    return tokenVersionOf(await this.#query(this.#setPassword, [passwordHash, id]), id)
  }

  async bumpTokenVersion(id: string): Promise<number> {
    return tokenVersionOf(await this.#query(this.#bumpTokenVersion, [id]), id)
  }

  async count(): Promise<number> {
    return Number((await this.#query(this.#count)).rows[0]!.count)
  }
}

function tokenVersionOf(result: PostgresQueryResult, id: string): number {
  const row = result.rows[0]
  if (row === undefined) throw new AppError('ERR_NOT_FOUND', `No user has the id "${id}"`)
  return row.token_version as number
}

class PostgresFileRepository implements FileRepository {
  readonly #query: Query
  readonly #insert: string
  readonly #findForOwner: string
  readonly #listByOwner: string
  readonly #deleteForOwner: string

  constructor(query: Query, schema: string) {
    const files = `${schema}.files`
    this.#query = query
    this.#insert = `INSERT INTO ${files} (${fileColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
    this.#findForOwner = `SELECT ${fileColumns} FROM ${files} WHERE id = $1 AND owner_id = $2`
    // id breaks ties so that files created in the same millisecond keep a stable order.
    this.#listByOwner = `SELECT ${fileColumns} FROM ${files} WHERE owner_id = $1 ORDER BY created_at DESC, id DESC`
    this.#deleteForOwner = `DELETE FROM ${files} WHERE id = $1 AND owner_id = $2 RETURNING ${fileColumns}`
  }

  async insert(file: FileRecord): Promise<void> {
    await this.#query(this.#insert, fileValues(file))
  }

  async findForOwner(id: string, ownerId: string): Promise<FileRecord | undefined> {
    const { rows } = await this.#query(this.#findForOwner, [id, ownerId])
    return rows[0] && toFile(rows[0])
  }

  async listByOwner(ownerId: string): Promise<FileRecord[]> {
    return (await this.#query(this.#listByOwner, [ownerId])).rows.map(toFile)
  }

  async deleteForOwner(id: string, ownerId: string): Promise<FileRecord | undefined> {
    const { rows } = await this.#query(this.#deleteForOwner, [id, ownerId])
    return rows[0] && toFile(rows[0])
  }
}

class PostgresRefreshTokenRepository implements RefreshTokenRepository {
  readonly #query: Query
  readonly #insert: string
  readonly #find: string
  readonly #markRotated: string
  readonly #revokeFamily: string
  readonly #revokeAllForUser: string
  readonly #deleteExpired: string

  constructor(query: Query, schema: string) {
    const tokens = `${schema}.refresh_tokens`
    this.#query = query
    this.#insert = `INSERT INTO ${tokens} (${refreshTokenColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`
    this.#find = `SELECT ${refreshTokenColumns} FROM ${tokens} WHERE token_hash = $1`
    this.#markRotated = `UPDATE ${tokens} SET rotated_at = $1 WHERE token_hash = $2 AND rotated_at IS NULL AND revoked_at IS NULL`
    this.#revokeFamily = `UPDATE ${tokens} SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL`
    this.#revokeAllForUser = `UPDATE ${tokens} SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`
    this.#deleteExpired = `DELETE FROM ${tokens} WHERE expires_at < $1`
  }

  async insert(record: RefreshTokenRecord): Promise<void> {
    await this.#query(this.#insert, refreshTokenValues(record))
  }

  async find(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const { rows } = await this.#query(this.#find, [tokenHash])
    return rows[0] && toRefreshToken(rows[0])
  }

  async markRotated(tokenHash: string, at: number): Promise<boolean> {
    return changes(await this.#query(this.#markRotated, [at, tokenHash])) === 1
  }

  async revokeFamily(familyId: string, at: number): Promise<number> {
    return changes(await this.#query(this.#revokeFamily, [at, familyId]))
  }

  async revokeAllForUser(userId: string, at: number): Promise<number> {
    return changes(await this.#query(this.#revokeAllForUser, [at, userId]))
  }

  async deleteExpired(now: number): Promise<number> {
    return changes(await this.#query(this.#deleteExpired, [now]))
  }
}
