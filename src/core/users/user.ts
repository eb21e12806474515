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

/** The port through which users are persisted. Implemented in `src/stores/data/<backend>/`. */
export interface UserRepository {
  /** Throws `AppError('ERR_USERNAME_TAKEN')` when the username exists. */
  insert(user: User): Promise<void>
  findById(id: string): Promise<User | undefined>
  findByUsername(username: string): Promise<User | undefined>
  /** Sets a new password hash and moves the token version forward; returns the new version. */
  setPassword(id: string, passwordHash: string): Promise<number>
  /** Moves the token version forward, invalidating every access token issued before; returns it. */
  bumpTokenVersion(id: string): Promise<number>
  count(): Promise<number>
}
