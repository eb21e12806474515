import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { isAppError } from '../../src/core/errors.ts'
import type { FileRecord } from '../../src/core/files/file-record.ts'
import type { RefreshTokenRecord } from '../../src/core/tokens/refresh-token-record.ts'
import type { User } from '../../src/core/users/user.ts'
import type { DataStore } from '../../src/stores/data/data-store.ts'

const t0 = Date.UTC(2026, 0, 1)

function makeUser(overrides: Partial<User> = {}): User {
  const id = randomUUID()
  return {
    id,
    username: `user-${id.slice(0, 8)}`,
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    tokenVersion: 0,
    createdAt: t0,
    ...overrides,
  }
}

function makeFile(ownerId: string, overrides: Partial<FileRecord> = {}): FileRecord {
  return {
    id: randomUUID(),
    ownerId,
    filename: 'report.pdf',
    storedName: randomUUID(),
    mimeType: 'application/pdf',
    size: 1234,
    sha256: 'ab'.repeat(32),
    createdAt: t0,
    ...overrides,
  }
}

function makeToken(userId: string, overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    tokenHash: randomUUID(),
    userId,
    familyId: randomUUID(),
    createdAt: t0,
    expiresAt: t0 + 86_400_000,
    rotatedAt: null,
    revokedAt: null,
    ...overrides,
  }
}

/** Registers the suite every `DataStore` must pass; `open` gives a fresh, empty store for each test. */
export function runDataStoreContract(
  name: string,
  options: { open: () => Promise<DataStore>; skip?: string },
): void {
  describe(`DataStore contract: ${name}`, { skip: options.skip }, () => {
    let store: DataStore
    beforeEach(async () => {
      store = await options.open()
    })
    afterEach(async () => {
      await store.close()
    })

    async function insertUser(overrides: Partial<User> = {}): Promise<User> {
      const user = makeUser(overrides)
      await store.users.insert(user)
      return user
    }

    describe('users', () => {
      it('finds an inserted user by id and by username', async () => {
        const user = await insertUser()
        assert.deepEqual(await store.users.findById(user.id), user)
        assert.deepEqual(await store.users.findByUsername(user.username), user)
        assert.equal(await store.users.findById(randomUUID()), undefined)
        assert.equal(await store.users.findByUsername('nobody'), undefined)
      })

      it('refuses a taken username and leaves the first user unchanged', async () => {
        const first = await insertUser({ username: 'alice' })
        await assert.rejects(
          store.users.insert(makeUser({ username: 'alice', passwordHash: 'other' })),
          (err) => isAppError(err, 'ERR_USERNAME_TAKEN'),
        )
        assert.deepEqual(await store.users.findByUsername('alice'), first)
        assert.equal(await store.users.count(), 1)
      })

      it('moves the token version forward one step at a time', async () => {
        const user = await insertUser()
        assert.equal(await store.users.bumpTokenVersion(user.id), 1)
        assert.equal(await store.users.bumpTokenVersion(user.id), 2)
        assert.equal((await store.users.findById(user.id))?.tokenVersion, 2)
      })

      it('reads the username and current token version alone, at once after every change', async () => {
        const user = await insertUser({ tokenVersion: 3 })
        assert.deepEqual(await store.users.findTokenState(user.id), {
          username: user.username,
          tokenVersion: 3,
        })
        await store.users.bumpTokenVersion(user.id)
        assert.deepEqual(await store.users.findTokenState(user.id), {
          username: user.username,
          tokenVersion: 4,
        })
        await store.users.setPassword(user.id, 'new-hash')
        assert.deepEqual(await store.users.findTokenState(user.id), {
          username: user.username,
          tokenVersion: 5,
        })
        assert.equal(await store.users.findTokenState(randomUUID()), undefined)
      })

      it('sets a new password hash and moves the token version forward', async () => {
        const user = await insertUser({ tokenVersion: 4 })
        assert.equal(await store.users.setPassword(user.id, 'new-hash'), 5)
        assert.deepEqual(await store.users.findById(user.id), {
          ...user,
          passwordHash: 'new-hash',
          tokenVersion: 5,
        })
      })

      it('answers ERR_NOT_FOUND when changing an unknown user', async () => {
        const isNotFound = (err: unknown) => isAppError(err, 'ERR_NOT_FOUND')
        await assert.rejects(store.users.bumpTokenVersion(randomUUID()), isNotFound)
        await assert.rejects(store.users.setPassword(randomUUID(), 'hash'), isNotFound)
      })

      it('counts users', async () => {
        assert.equal(await store.users.count(), 0)
        await insertUser()
        await insertUser()
        assert.equal(await store.users.count(), 2)
      })
    })

    describe('files', () => {
      it('finds an inserted file for its owner, sizes beyond 32 bits included', async () => {
        const owner = await insertUser()
        const file = makeFile(owner.id, { size: 5 * 2 ** 30 })
        await store.files.insert(file)
        assert.deepEqual(await store.files.findForOwner(file.id, owner.id), file)
        assert.equal(await store.files.findForOwner(randomUUID(), owner.id), undefined)
      })

      it("lists an owner's files newest first", async () => {
        const owner = await insertUser()
        const old = makeFile(owner.id, { createdAt: t0 })
        const newest = makeFile(owner.id, { createdAt: t0 + 2000 })
        const middle = makeFile(owner.id, { createdAt: t0 + 1000 })
        for (const file of [old, newest, middle]) await store.files.insert(file)
        assert.deepEqual(await store.files.listByOwner(owner.id), [newest, middle, old])
        assert.deepEqual(await store.files.listByOwner(randomUUID()), [])
      })

      it('deletes a file for its owner and returns it once', async () => {
        const owner = await insertUser()
        const file = makeFile(owner.id)
        await store.files.insert(file)
        assert.deepEqual(await store.files.deleteForOwner(file.id, owner.id), file)
        assert.equal(await store.files.findForOwner(file.id, owner.id), undefined)
        assert.equal(await store.files.deleteForOwner(file.id, owner.id), undefined)
      })

      it("keeps one owner's files out of another owner's reach", async () => {
        const owner = await insertUser()
        const other = await insertUser()
        const file = makeFile(owner.id)
        await store.files.insert(file)
        assert.equal(await store.files.findForOwner(file.id, other.id), undefined)
        assert.deepEqual(await store.files.listByOwner(other.id), [])
        assert.equal(await store.files.deleteForOwner(file.id, other.id), undefined)
        assert.deepEqual(await store.files.findForOwner(file.id, owner.id), file)
      })
    })

    describe('refresh tokens', () => {
      it('finds an inserted token by hash', async () => {
        const user = await insertUser()
        const token = makeToken(user.id)
        await store.refreshTokens.insert(token)
        assert.deepEqual(await store.refreshTokens.find(token.tokenHash), token)
        assert.equal(await store.refreshTokens.find(randomUUID()), undefined)
      })

      it('marks a token rotated only once', async () => {
        const user = await insertUser()
        const token = makeToken(user.id)
        await store.refreshTokens.insert(token)
        assert.equal(await store.refreshTokens.markRotated(token.tokenHash, t0 + 1), true)
        assert.equal(await store.refreshTokens.markRotated(token.tokenHash, t0 + 2), false)
        assert.equal((await store.refreshTokens.find(token.tokenHash))?.rotatedAt, t0 + 1)
        assert.equal(await store.refreshTokens.markRotated(randomUUID(), t0 + 3), false)
      })

      it('does not rotate a revoked token', async () => {
        const user = await insertUser()
        const token = makeToken(user.id)
        await store.refreshTokens.insert(token)
        await store.refreshTokens.revokeFamily(token.familyId, t0 + 1)
        assert.equal(await store.refreshTokens.markRotated(token.tokenHash, t0 + 2), false)
        assert.equal((await store.refreshTokens.find(token.tokenHash))?.rotatedAt, null)
      })

      it('revokes only the given family, and each token once', async () => {
        const user = await insertUser()
        const familyId = randomUUID()
        const family = [makeToken(user.id, { familyId }), makeToken(user.id, { familyId })]
        const bystander = makeToken(user.id)
        for (const token of [...family, bystander]) await store.refreshTokens.insert(token)
        assert.equal(await store.refreshTokens.revokeFamily(familyId, t0 + 1), 2)
        assert.equal(await store.refreshTokens.revokeFamily(familyId, t0 + 2), 0)
        for (const token of family)
          assert.equal((await store.refreshTokens.find(token.tokenHash))?.revokedAt, t0 + 1)
        assert.deepEqual(await store.refreshTokens.find(bystander.tokenHash), bystander)
      })

      it("revokes every token of a user and no one else's", async () => {
        const user = await insertUser()
        const other = await insertUser()
        const revokedBefore = makeToken(user.id, { revokedAt: t0 })
        const mine = [makeToken(user.id), makeToken(user.id), revokedBefore]
        const theirs = makeToken(other.id)
        for (const token of [...mine, theirs]) await store.refreshTokens.insert(token)
        assert.equal(await store.refreshTokens.revokeAllForUser(user.id, t0 + 1), 2)
        assert.equal((await store.refreshTokens.find(revokedBefore.tokenHash))?.revokedAt, t0)
        assert.deepEqual(await store.refreshTokens.find(theirs.tokenHash), theirs)
      })

      it('deletes the tokens that expired before now', async () => {
        const user = await insertUser()
        const now = t0 + 10_000
        const expired = makeToken(user.id, { expiresAt: now - 1 })
        const live = makeToken(user.id, { expiresAt: now + 1 })
        for (const token of [expired, live]) await store.refreshTokens.insert(token)
        assert.equal(await store.refreshTokens.deleteExpired(now), 1)
        assert.equal(await store.refreshTokens.find(expired.tokenHash), undefined)
        assert.deepEqual(await store.refreshTokens.find(live.tokenHash), live)
        assert.equal(await store.refreshTokens.deleteExpired(now), 0)
      })
    })

    describe('lifecycle', () => {
      it('answers a ping while open and ERR_STORE_UNAVAILABLE once closed', async () => {
        await store.ping()
        await store.close()
        await assert.rejects(store.ping(), (err) => isAppError(err, 'ERR_STORE_UNAVAILABLE'))
      })

      it('can be closed more than once', async () => {
        await store.close()
        await store.close()
      })
    })
  })
}
