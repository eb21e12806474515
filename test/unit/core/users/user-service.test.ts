import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeClock } from '../../../../src/core/clock.ts'
import { AppError, isAppError } from '../../../../src/core/errors.ts'
import { LoginThrottle } from '../../../../src/core/users/login-throttle.ts'
import { type Argon2Params, verifyPassword } from '../../../../src/core/users/passwords.ts'
import type { User, UserRepository, UserTokenState } from '../../../../src/core/users/user.ts'
import { UserService } from '../../../../src/core/users/user-service.ts'

const CHEAP: Argon2Params = { memory: 1024, passes: 1, parallelism: 1 }
const PASSWORD = 'correct horse battery staple'
const NEW_PASSWORD = 'purple monkey dishwasher'

/** Users in a Map, keyed by id; copies in and out, like a database. */
class MemoryUserRepository implements UserRepository {
  readonly users = new Map<string, User>()

  async insert(user: User): Promise<void> {
    for (const existing of this.users.values()) {
      if (existing.username === user.username) {
        throw new AppError('ERR_USERNAME_TAKEN', `The username "${user.username}" is taken`)
      }
    }
    this.users.set(user.id, { ...user })
  }

  async findById(id: string): Promise<User | undefined> {
    const user = this.users.get(id)
    return user && { ...user }
  }

  async findTokenState(id: string): Promise<UserTokenState | undefined> {
    const user = this.users.get(id)
    return user && { username: user.username, tokenVersion: user.tokenVersion }
  }

  async findByUsername(username: string): Promise<User | undefined> {
    for (const user of this.users.values()) if (user.username === username) return { ...user }
    return undefined
  }

  async setPassword(id: string, passwordHash: string): Promise<number> {
    const user = this.#get(id)
    const tokenVersion = user.tokenVersion + 1
    this.users.set(id, { ...user, passwordHash, tokenVersion })
    return tokenVersion
  }

  async bumpTokenVersion(id: string): Promise<number> {
    const user = this.#get(id)
    const tokenVersion = user.tokenVersion + 1
    this.users.set(id, { ...user, tokenVersion })
    return tokenVersion
  }

  async count(): Promise<number> {
    return this.users.size
  }

  #get(id: string): User {
    const user = this.users.get(id)
    if (!user) throw new Error(`no user ${id}`)
    return user
  }
}

function setup(failuresPerAccount = 5) {
  const clock = new FakeClock()
  const users = new MemoryUserRepository()
  const throttle = new LoginThrottle({
    clock,
    perAccount: { failures: failuresPerAccount, windowMs: 60_000 },
    perIp: { failures: 100, windowMs: 60_000 },
  })
  const service = new UserService({ users, clock, throttle, argon2: CHEAP })
  return { clock, users, service }
}

function isCode(code: Parameters<typeof isAppError>[1]) {
  return (err: unknown) => isAppError(err, code)
}

describe('UserService.register', () => {
  it('normalizes the username and stores an argon2id hash, never the password', async () => {
    const { clock, users, service } = setup()
    const user = await service.register('Alice', PASSWORD)
    assert.equal(user.username, 'alice')
    assert.equal(user.tokenVersion, 0)
    assert.equal(user.createdAt, clock.now())

    const stored = await users.findByUsername('alice')
    assert.deepEqual(stored, user)
    assert.ok(stored.passwordHash.startsWith('$argon2id$v=19$m=1024,t=1,p=1$'), stored.passwordHash)
    assert.equal(await verifyPassword(PASSWORD, stored.passwordHash), true)
    assert.ok(!JSON.stringify([...users.users.values()]).includes(PASSWORD))
  })

  it('refuses a taken username, whatever its case', async () => {
    const { users, service } = setup()
    await service.register('alice', PASSWORD)
    await assert.rejects(service.register('ALICE', NEW_PASSWORD), isCode('ERR_USERNAME_TAKEN'))
    assert.equal(await users.count(), 1)
  })

  it('refuses an invalid username or a weak password before storing anything', async () => {
    const { users, service } = setup()
    await assert.rejects(service.register('a b', PASSWORD), isCode('ERR_USERNAME_INVALID'))
    await assert.rejects(service.register('alice', 'short'), isCode('ERR_PASSWORD_WEAK'))
    await assert.rejects(service.register('Alice', 'my alice passphrase'), isCode('ERR_PASSWORD_WEAK'))
    assert.equal(await users.count(), 0)
  })
})

describe('UserService.authenticate', () => {
  it('returns the user for the right password, whatever the username case', async () => {
    const { service } = setup()
    const registered = await service.register('alice', PASSWORD)
    assert.deepEqual(await service.authenticate('alice', PASSWORD), registered)
    assert.deepEqual(await service.authenticate('ALICE', PASSWORD), registered)
  })

  it('gives a wrong password and an unknown user the same error', async () => {
    const { service } = setup()
    await service.register('alice', PASSWORD)
    const wrong = await service.authenticate('alice', NEW_PASSWORD).catch((err: unknown) => err)
    const unknown = await service.authenticate('mallory', PASSWORD).catch((err: unknown) => err)
    assert.ok(isAppError(wrong, 'ERR_INVALID_CREDENTIALS'), String(wrong))
    assert.ok(isAppError(unknown, 'ERR_INVALID_CREDENTIALS'), String(unknown))
    assert.equal(wrong.message, unknown.message)
  })

  it('refuses non-string credentials', async () => {
    const { service } = setup()
    await service.register('alice', PASSWORD)
    for (const [username, password] of [
      [undefined, PASSWORD],
      ['alice', undefined],
      [['alice'], PASSWORD],
      ['alice', { toString: () => PASSWORD }],
      [null, null],
    ]) {
      await assert.rejects(service.authenticate(username, password), isCode('ERR_INVALID_CREDENTIALS'))
    }
  })

  it('refuses further attempts, even with the right password, once the account is throttled', async () => {
    const { clock, service } = setup(2)
    await service.register('alice', PASSWORD)
    await assert.rejects(
      service.authenticate('alice', 'wrong-1', '10.0.0.1'),
      isCode('ERR_INVALID_CREDENTIALS'),
    )
    await assert.rejects(
      service.authenticate('ALICE', 'wrong-2', '10.0.0.2'),
      isCode('ERR_INVALID_CREDENTIALS'),
    )
    await assert.rejects(
      service.authenticate('alice', PASSWORD, '10.0.0.3'),
      (err) => isAppError(err, 'ERR_TOO_MANY_ATTEMPTS') && err.retryAfter === 60,
    )
    clock.advance(60_000)
    assert.equal((await service.authenticate('alice', PASSWORD, '10.0.0.3')).username, 'alice')
  })

  it('throttles unknown usernames too', async () => {
    const { service } = setup(2)
    await assert.rejects(service.authenticate('mallory', PASSWORD), isCode('ERR_INVALID_CREDENTIALS'))
    await assert.rejects(service.authenticate('mallory', PASSWORD), isCode('ERR_INVALID_CREDENTIALS'))
    await assert.rejects(service.authenticate('mallory', PASSWORD), isCode('ERR_TOO_MANY_ATTEMPTS'))
  })

  it('clears the account count after a successful login', async () => {
    const { service } = setup(2)
    await service.register('alice', PASSWORD)
    await assert.rejects(service.authenticate('alice', 'wrong-1'), isCode('ERR_INVALID_CREDENTIALS'))
    await service.authenticate('alice', PASSWORD)
    await assert.rejects(service.authenticate('alice', 'wrong-2'), isCode('ERR_INVALID_CREDENTIALS'))
    assert.equal((await service.authenticate('alice', PASSWORD)).username, 'alice')
  })
})

describe('UserService.changePassword', () => {
  it('stores the new password, bumps the token version and retires the old password', async () => {
    const { users, service } = setup()
    const user = await service.register('alice', PASSWORD)
    assert.equal(await service.changePassword(user, PASSWORD, NEW_PASSWORD), 1)
    assert.equal((await users.findById(user.id))?.tokenVersion, 1)
    await assert.rejects(service.authenticate('alice', PASSWORD), isCode('ERR_INVALID_CREDENTIALS'))
    const after = await service.authenticate('alice', NEW_PASSWORD)
    assert.equal(after.id, user.id)
    assert.equal(after.tokenVersion, 1)
  })

  it('changes nothing when the current password is wrong or the new one is weak', async () => {
    const { users, service } = setup()
    const user = await service.register('alice', PASSWORD)
    await assert.rejects(
      service.changePassword(user, 'not-the-password', NEW_PASSWORD),
      isCode('ERR_INVALID_CREDENTIALS'),
    )
    await assert.rejects(service.changePassword(user, PASSWORD, 'aaaaaaaaaaaa'), isCode('ERR_PASSWORD_WEAK'))
    assert.deepEqual(await users.findById(user.id), user)
    assert.equal((await service.authenticate('alice', PASSWORD)).tokenVersion, 0)
  })
})
