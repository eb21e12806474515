import type { FileRecord } from '../../core/files/file-record.ts'
import type { RefreshTokenRecord } from '../../core/tokens/refresh-token-record.ts'
import type { User } from '../../core/users/user.ts'

// The data store's tables, as both SQL backends read them. `Number()` because pg returns BIGINT as a string
// (it may exceed 2^53); every BIGINT here is milliseconds or bytes, far below that.

type Row = Readonly<Record<string, unknown>>

export const userColumns = 'id, username, password_hash, token_version, created_at'
export const fileColumns = 'id, owner_id, filename, stored_name, mime_type, size, sha256, created_at'
export const refreshTokenColumns =
  'token_hash, user_id, family_id, created_at, expires_at, rotated_at, revoked_at'

export function toUser(row: Row): User {
  return {
    id: row.id as string,
    username: row.username as string,
    passwordHash: row.password_hash as string,
    tokenVersion: Number(row.token_version),
    createdAt: Number(row.created_at),
  }
}

export function toFile(row: Row): FileRecord {
  return {
    id: row.id as string,
    ownerId: row.owner_id as string,
    filename: row.filename as string,
    storedName: row.stored_name as string,
    mimeType: row.mime_type as string,
    size: Number(row.size),
    sha256: row.sha256 as string,
    createdAt: Number(row.created_at),
  }
}

export function toRefreshToken(row: Row): RefreshTokenRecord {
  return {
    tokenHash: row.token_hash as string,
    userId: row.user_id as string,
    familyId: row.family_id as string,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    rotatedAt: nullableNumber(row.rotated_at),
    revokedAt: nullableNumber(row.revoked_at),
  }
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value)
}

// The inverse: a record as the values of an INSERT, in the order of its `*Columns` list.

export function userValues(user: User): [string, string, string, number, number] {
  return [user.id, user.username, user.passwordHash, user.tokenVersion, user.createdAt]
}

export function fileValues(
  file: FileRecord,
): [string, string, string, string, string, number, string, number] {
  return [
    file.id,
    file.ownerId,
    file.filename,
    file.storedName,
    file.mimeType,
    file.size,
    file.sha256,
    file.createdAt,
  ]
}

export function refreshTokenValues(
  record: RefreshTokenRecord,
): [string, string, string, number, number, number | null, number | null] {
  return [
    record.tokenHash,
    record.userId,
    record.familyId,
    record.createdAt,
    record.expiresAt,
    record.rotatedAt,
    record.revokedAt,
  ]
}
