import { randomUUID } from 'node:crypto'
import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'
import type { LoginThrottle } from './login-throttle.ts'
import {
  type Argon2Params,
  assertPasswordAcceptable,
  hashPassword,
  OWASP_ARGON2ID,
  verifyPassword,
} from './passwords.ts'
import type { User, UserRepository } from './user.ts'
import { normalizeUsername } from './usernames.ts'

export interface UserServiceOptions {
  readonly users: UserRepository
  readonly clock: Clock
  readonly throttle: LoginThrottle
  readonly argon2?: Argon2Params
}

const INVALID = 'The username or password is wrong'

/** Registration, password checks and password changes; the only place passwords are touched. */
export class UserService {
  readonly #users: UserRepository
  readonly #clock: Clock
  readonly #throttle: LoginThrottle
  readonly #argon2: Argon2Params
  /** Verified against when the username is unknown, so both paths cost one argon2 run. */
  #dummyHash: Promise<string> | undefined

  constructor(options: UserServiceOptions) {
    this.#users = options.users
    this.#clock = options.clock
    this.#throttle = options.throttle
    this.#argon2 = options.argon2 ?? OWASP_ARGON2ID
  }

  /** Creates an account; throws `ERR_USERNAME_INVALID`, `ERR_PASSWORD_WEAK` or `ERR_USERNAME_TAKEN`. */
  async register(usernameInput: unknown, password: unknown): Promise<User> {
    const username = normalizeUsername(usernameInput)
    assertPasswordAcceptable(password, username)
    if (await this.#users.findByUsername(username)) {
      throw new AppError('ERR_USERNAME_TAKEN', `The username "${username}" is taken`)
    }
    const user: User = {
      id: randomUUID(),
      username,
      passwordHash: await hashPassword(password, this.#argon2),
      tokenVersion: 0,
      createdAt: this.#clock.now(),
    }
    await this.#users.insert(user)
    return user
  }

  /**
   * Returns the user whose password this is. Unknown user and wrong password give the same error and take
   * the same time; repeated failures per account or per IP give `ERR_TOO_MANY_ATTEMPTS`.
   */
  async authenticate(usernameInput: unknown, password: unknown, ip?: string): Promise<User> {
    if (typeof usernameInput !== 'string' || typeof password !== 'string') {
      throw new AppError('ERR_INVALID_CREDENTIALS', 'A username and a password are required')
    }
    const username = usernameInput.normalize('NFKC').toLowerCase()
    this.#throttle.assertAllowed(username, ip)
    const user = await this.#users.findByUsername(username)
    const ok = await verifyPassword(password, user?.passwordHash ?? (await this.#dummy()))
    if (!user || !ok) {
      this.#throttle.recordFailure(username, ip)
      throw new AppError('ERR_INVALID_CREDENTIALS', INVALID)
    }
    this.#throttle.recordSuccess(username)
    return user
  }

  /** Checks the current password, stores the new one and invalidates every access token issued before. */
  async changePassword(user: User, current: unknown, next: unknown, ip?: string): Promise<number> {
    await this.authenticate(user.username, current, ip)
    assertPasswordAcceptable(next, user.username)
    return this.#users.setPassword(user.id, await hashPassword(next, this.#argon2))
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword('statelab-no-such-user', this.#argon2)
    return this.#dummyHash
  }
}
