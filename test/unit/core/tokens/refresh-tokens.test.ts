import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeClock } from '../../../../src/core/clock.ts'
import { type ErrorCode, isAppError } from '../../../../src/core/errors.ts'
import type {
  RefreshTokenRecord,
  RefreshTokenRepository,
} from '../../../../src/core/tokens/refresh-token-record.ts'
import { hashRefreshToken, RefreshTokens } from '../../../../src/core/tokens/refresh-tokens.ts'

/**
 * Records in a Map, replaced (never mutated) on change so a record read earlier is a snapshot, as from a
 * database. Every argument it receives is logged, to prove no token reaches it.
 */
class MemoryRefreshTokenRepository implements RefreshTokenRepository {
  readonly records = new Map<string, RefreshTokenRecord>()
  readonly received: unknown[] = []
  /** Microtasks an insert waits before it lands, to model a slow write racing with other calls. */
  insertLatency = 0

  async insert(record: RefreshTokenRecord): Promise<void> {
    this.received.push(record)
    for (let i = 0; i < this.insertLatency; i++) await null
    if (this.records.has(record.tokenHash)) throw new Error('duplicate token hash')
    this.records.set(record.tokenHash, { ...record })
  }

  async find(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    this.received.push(tokenHash)
    return this.records.get(tokenHash)
  }

  async markRotated(tokenHash: string, at: number): Promise<boolean> {
    this.received.push(tokenHash, at)
    const record = this.records.get(tokenHash)
    if (!record || record.rotatedAt !== null || record.revokedAt !== null) return false
    this.records.set(tokenHash, { ...record, rotatedAt: at })
    return true
  }

  async revokeFamily(familyId: string, at: number): Promise<number> {
    this.received.push(familyId, at)
    return this.#revokeWhere((record) => record.familyId === familyId, at)
  }

  async revokeAllForUser(userId: string, at: number): Promise<number> {
    this.received.push(userId, at)
    return this.#revokeWhere((record) => record.userId === userId, at)
  }

  async deleteExpired(now: number): Promise<number> {
    this.received.push(now)
    let count = 0
    for (const [hash, record] of this.records) {
      if (record.expiresAt <= now) count += Number(this.records.delete(hash))
    }
    return count
  }

  #revokeWhere(matches: (record: RefreshTokenRecord) => boolean, at: number): number {
    let count = 0
    for (const [hash, record] of this.records) {
      if (matches(record) && record.revokedAt === null) {
        this.records.set(hash, { ...record, revokedAt: at })
        count++
      }
    }
    return count
  }
}

function setup(ttlMs?: number) {
  const clock = new FakeClock()
  const repository = new MemoryRefreshTokenRepository()
  const refresh = new RefreshTokens({ repository, clock, ttlMs })
  return { clock, repository, refresh }
}

function isCode(code: ErrorCode) {
  return (err: unknown) => isAppError(err, code)
}

describe('RefreshTokens', () => {
  it('issues a 43-character token and stores a record of its hash', async () => {
    const { clock, repository, refresh } = setup()
    const token = await refresh.issue('user-1')
    assert.match(token, /^[\w-]{43}$/)
    const record = repository.records.get(hashRefreshToken(token))
    assert.ok(record)
    assert.deepEqual(record, {
      tokenHash: hashRefreshToken(token),
      userId: 'user-1',
      familyId: record.familyId,
      createdAt: clock.now(),
      expiresAt: clock.now() + 7 * 24 * 3600_000,
      rotatedAt: null,
      revokedAt: null,
    })
    assert.equal(refresh.ttlMs, 7 * 24 * 3600_000)
  })

  it('starts a new family per login', async () => {
    const { repository, refresh } = setup()
    await refresh.issue('user-1')
    await refresh.issue('user-1')
    const families = new Set([...repository.records.values()].map((record) => record.familyId))
    assert.equal(families.size, 2)
  })

  it('rotates: a new token in the same family, the old one marked rotated', async () => {
    const { clock, repository, refresh } = setup()
    const first = await refresh.issue('user-1')
    clock.advance(1000)
    const { userId, token: second } = await refresh.rotate(first)
    assert.equal(userId, 'user-1')
    assert.notEqual(second, first)
    const old = repository.records.get(hashRefreshToken(first))
    const next = repository.records.get(hashRefreshToken(second))
    assert.equal(old?.rotatedAt, clock.now())
    assert.equal(next?.familyId, old?.familyId)
    assert.equal(next?.createdAt, clock.now())
    assert.equal((await refresh.rotate(second)).userId, 'user-1')
  })

  it('treats reuse of a rotated token as theft: the whole family, successor included, is revoked', async () => {
    const { repository, refresh } = setup()
    const first = await refresh.issue('user-1')
    const { token: second } = await refresh.rotate(first)
    const otherLogin = await refresh.issue('user-1')

    await assert.rejects(refresh.rotate(first), isCode('ERR_REFRESH_REUSED'))
    await assert.rejects(refresh.rotate(second), isCode('ERR_REFRESH_INVALID'))
    assert.notEqual(repository.records.get(hashRefreshToken(second))?.revokedAt, null)
    // Another login of the same user is not this family.
    assert.equal((await refresh.rotate(otherLogin)).userId, 'user-1')
  })

  it('lets exactly one of two concurrent rotations win', async () => {
    const { refresh } = setup()
    const token = await refresh.issue('user-1')
    const results = await Promise.allSettled([refresh.rotate(token), refresh.rotate(token)])
    const won = results.filter((result) => result.status === 'fulfilled')
    const lost = results.filter((result) => result.status === 'rejected')
    assert.equal(won.length, 1)
    assert.equal(lost.length, 1)
    assert.ok(isAppError(lost[0]?.reason, 'ERR_REFRESH_REUSED'), String(lost[0]?.reason))
    // A race is treated as reuse, so the winner's successor dies with the family.
    const successor = won[0]?.value.token ?? ''
    await assert.rejects(refresh.rotate(successor), isCode('ERR_REFRESH_INVALID'))
  })

  it("revokes the race winner's successor even when its insert lands after the loser's revoke", async () => {
    const { repository, refresh } = setup()
    const token = await refresh.issue('user-1')
    repository.insertLatency = 10
    const results = await Promise.allSettled([refresh.rotate(token), refresh.rotate(token)])
    const won = results.find((result) => result.status === 'fulfilled')
    assert.ok(won)
    await assert.rejects(refresh.rotate(won.value.token), isCode('ERR_REFRESH_INVALID'))
  })

  it('refuses an expired token', async () => {
    const { clock, refresh } = setup(60_000)
    const token = await refresh.issue('user-1')
    const spare = await refresh.issue('user-1')
    clock.advance(59_999)
    assert.equal((await refresh.rotate(spare)).userId, 'user-1')
    clock.advance(1)
    await assert.rejects(
      refresh.rotate(token),
      (err) => isAppError(err, 'ERR_REFRESH_INVALID') && /expired/.test(err.message),
    )
  })

  it('revoke (logout) revokes the family and returns the user', async () => {
    const { refresh } = setup()
    const first = await refresh.issue('user-1')
    const { token: second } = await refresh.rotate(first)
    const otherLogin = await refresh.issue('user-1')
    assert.equal(await refresh.revoke(second), 'user-1')
    await assert.rejects(
      refresh.rotate(second),
      (err) => isAppError(err, 'ERR_REFRESH_INVALID') && /revoked/.test(err.message),
    )
    await assert.rejects(refresh.rotate(first), isCode('ERR_REFRESH_INVALID'))
    await assert.rejects(refresh.revoke(second), isCode('ERR_REFRESH_INVALID'))
    assert.equal((await refresh.rotate(otherLogin)).userId, 'user-1')
  })

  it('revokeAll revokes every token of the user, and only theirs', async () => {
    const { refresh } = setup()
    const a = await refresh.issue('user-1')
    const b = await refresh.issue('user-1')
    const { token: c } = await refresh.rotate(b)
    const other = await refresh.issue('user-2')
    // a, b and c: b is rotated but not yet revoked.
    assert.equal(await refresh.revokeAll('user-1'), 3)
    for (const token of [a, c]) await assert.rejects(refresh.rotate(token), isCode('ERR_REFRESH_INVALID'))
    assert.equal((await refresh.rotate(other)).userId, 'user-2')
    assert.equal(await refresh.revokeAll('user-1'), 0)
  })

  it('never hands the repository a token, only its sha256', async () => {
    const { repository, refresh } = setup()
    const first = await refresh.issue('user-1')
    const { token: second } = await refresh.rotate(first)
    await assert.rejects(refresh.rotate(first), isCode('ERR_REFRESH_REUSED'))
    const third = await refresh.issue('user-1')
    await refresh.revoke(third)

    const seen = JSON.stringify([repository.received, [...repository.records.values()]])
    for (const token of [first, second, third]) {
      assert.equal(seen.includes(token), false)
      assert.ok(repository.records.has(hashRefreshToken(token)))
    }
    assert.match(hashRefreshToken(first), /^[\w-]{43}$/)
    assert.notEqual(hashRefreshToken(first), first)
  })

  it('refuses malformed and unknown tokens with ERR_REFRESH_INVALID', async () => {
    const { refresh } = setup()
    const token = await refresh.issue('user-1')
    const malformed = [undefined, null, 42, { token }, '', 'short', `${token}x`, `${token.slice(0, 42)}+`]
    for (const input of malformed) {
      await assert.rejects(refresh.rotate(input), isCode('ERR_REFRESH_INVALID'), String(input))
      await assert.rejects(refresh.revoke(input), isCode('ERR_REFRESH_INVALID'), String(input))
    }
    const unknown = 'A'.repeat(43)
    await assert.rejects(
      refresh.rotate(unknown),
      (err) => isAppError(err, 'ERR_REFRESH_INVALID') && /unknown/.test(err.message),
    )
  })
})
