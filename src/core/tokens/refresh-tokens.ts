import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'
import type { RefreshTokenRecord, RefreshTokenRepository } from './refresh-token-record.ts'

export interface RefreshTokenOptions {
  readonly repository: RefreshTokenRepository
  readonly clock: Clock
  /** Default 7 days. */
  readonly ttlMs?: number
}

/** Opaque refresh tokens: stored as hashes, rotated on every use, a reused token revokes its family. */
export class RefreshTokens {
  readonly ttlMs: number
  readonly #repository: RefreshTokenRepository
  readonly #clock: Clock

  constructor(options: RefreshTokenOptions) {
    this.#repository = options.repository
    this.#clock = options.clock
    this.ttlMs = options.ttlMs ?? 7 * 24 * 3600_000
  }

  /** Issues a token that starts a new family (a login), or continues `familyId` (a rotation). */
  async issue(userId: string, familyId: string = randomUUID()): Promise<string> {
    const token = randomBytes(32).toString('base64url')
    const now = this.#clock.now()
    await this.#repository.insert({
      tokenHash: hashRefreshToken(token),
      userId,
      familyId,
      createdAt: now,
      expiresAt: now + this.ttlMs,
      rotatedAt: null,
      revokedAt: null,
    })
    return token
  }

  /**
   * Exchanges a token for its successor. A token used twice (or raced) is evidence of theft: the whole family
   * is revoked and `ERR_REFRESH_REUSED` thrown, so the thief's copy dies with the victim's.
   */
  async rotate(token: unknown): Promise<{ userId: string; token: string }> {
    const record = await this.#find(token)
    if (record.rotatedAt === null) {
      // The successor exists before the rotation is claimed, so a racing loser's family revoke catches it too.
      const successor = await this.issue(record.userId, record.familyId)
      if (await this.#repository.markRotated(record.tokenHash, this.#clock.now())) {
        return { userId: record.userId, token: successor }
      }
    }
    await this.#repository.revokeFamily(record.familyId, this.#clock.now())
    throw new AppError(
      'ERR_REFRESH_REUSED',
      'This refresh token was already used; every token of this login has been revoked. Log in again',
    )
  }

  /** Revokes the family the token belongs to (logout of this login); returns its user. */
  async revoke(token: unknown): Promise<string> {
    const record = await this.#find(token)
    await this.#repository.revokeFamily(record.familyId, this.#clock.now())
    return record.userId
  }

  /** Revokes every refresh token of the user (log out everywhere). */
  revokeAll(userId: string): Promise<number> {
    return this.#repository.revokeAllForUser(userId, this.#clock.now())
  }

  async #find(token: unknown): Promise<RefreshTokenRecord> {
    if (typeof token !== 'string' || !/^[\w-]{43}$/.test(token)) {
      throw new AppError('ERR_REFRESH_INVALID', 'refresh_token must be the 43-character token login returned')
    }
    const record = await this.#repository.find(hashRefreshToken(token))
    if (!record) throw new AppError('ERR_REFRESH_INVALID', 'The refresh token is unknown')
    if (record.revokedAt !== null) throw new AppError('ERR_REFRESH_INVALID', 'The refresh token was revoked')
    if (record.expiresAt <= this.#clock.now()) {
      throw new AppError('ERR_REFRESH_INVALID', 'The refresh token has expired; log in again')
    }
    return record
  }
}

/** The form in which refresh tokens are stored: sha256, base64url. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}
