/**
 * One opaque refresh token, stored by hash only. Tokens descending from one login form a family:
 * presenting a token that was already rotated revokes the whole family (theft detection).
 */
export interface RefreshTokenRecord {
  /** sha256 of the token, base64url. */
  readonly tokenHash: string
  readonly userId: string
  readonly familyId: string
  readonly createdAt: number
  readonly expiresAt: number
  /** When it was exchanged for a successor; a second use after this is reuse. */
  readonly rotatedAt: number | null
  readonly revokedAt: number | null
}

/** The port through which refresh tokens are persisted. */
export interface RefreshTokenRepository {
  insert(record: RefreshTokenRecord): Promise<void>
  find(tokenHash: string): Promise<RefreshTokenRecord | undefined>
  /** Marks the token rotated only if it is neither rotated nor revoked; false when someone got there first. */
  markRotated(tokenHash: string, at: number): Promise<boolean>
  /** Revokes every token of the family that is not revoked yet; returns how many. */
  revokeFamily(familyId: string, at: number): Promise<number>
  /** Revokes every token of the user that is not revoked yet; returns how many. */
  revokeAllForUser(userId: string, at: number): Promise<number>
  /** Deletes tokens that expired before `now`; returns how many. */
  deleteExpired(now: number): Promise<number>
}
