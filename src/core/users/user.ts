/** A registered account. `tokenVersion` moves forward on "log out everywhere" and password change. */
export interface User {
  readonly id: string
  /** Normalized (lower-case) username; unique. */
  readonly username: string
  /** PHC string: `$argon2id$v=19$m=...,t=...,p=...$salt$hash`. */
  readonly passwordHash: string
  readonly tokenVersion: number
  readonly createdAt: number
}

/** What a token's `tv` claim is checked against: the user's name and current token version, nothing else. */
export type UserTokenState = Pick<User, 'username' | 'tokenVersion'>

/** The port through which users are persisted. Implemented in `src/stores/data/<backend>/`. */
export interface UserRepository {
  /** Throws `AppError('ERR_USERNAME_TAKEN')` when the username exists. */
  insert(user: User): Promise<void>
  findById(id: string): Promise<User | undefined>
  /**
   * The username and token version alone: the stateless API reads them on every request, so a narrower
   * read than `findById` (no password hash, no row to map).
   */
  findTokenState(id: string): Promise<UserTokenState | undefined>
  findByUsername(username: string): Promise<User | undefined>
  /** Sets a new password hash and moves the token version forward; returns the new version. */
  setPassword(id: string, passwordHash: string): Promise<number>
  /** Moves the token version forward, invalidating every access token issued before; returns it. */
  bumpTokenVersion(id: string): Promise<number>
  count(): Promise<number>
}
