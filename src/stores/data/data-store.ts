import type { FileRepository } from '../../core/files/file-record.ts'
import type { RefreshTokenRepository } from '../../core/tokens/refresh-token-record.ts'
import type { UserRepository } from '../../core/users/user.ts'

/** Durable data that is not session state: users, file metadata, refresh tokens. */
export interface DataStore {
  readonly kind: string
  readonly users: UserRepository
  readonly files: FileRepository
  readonly refreshTokens: RefreshTokenRepository
  /** Resolves when the store answers; rejects with `AppError('ERR_STORE_UNAVAILABLE')` otherwise. */
  ping(): Promise<void>
  close(): Promise<void>
}
