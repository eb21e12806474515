import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { FakeClock } from '../../../../src/core/clock.ts'
import { isAppError } from '../../../../src/core/errors.ts'
import {
  advanceSession,
  assertSessionActive,
  assertSessionPolicy,
  createSession,
  DEFAULT_SESSION_POLICY,
  MAX_REMEMBERED_FILES,
  newSessionToken,
  recordUpload,
  type SessionData,
  type SessionPolicy,
  sessionIdOf,
} from '../../../../src/core/sessions/session.ts'

const MINUTE = 60_000
const POLICY: SessionPolicy = { idleTimeoutMs: 30 * MINUTE, absoluteTimeoutMs: 120 * MINUTE }
const USER = { id: 'user-1', username: 'alice' }

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}

describe('newSessionToken / sessionIdOf', () => {
  it('gives a 43-character base64url token and its sha256 as the id', () => {
    const { token, id } = newSessionToken()
    assert.match(token, /^[\w-]{43}$/)
    assert.notEqual(id, token)
    assert.equal(id, sha256(token))
    assert.equal(sessionIdOf(token), id)
  })

  it('gives a different token every time', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newSessionToken().token))
    assert.equal(tokens.size, 100)
  })

  it('refuses tokens the server could not have issued', () => {
    const { token } = newSessionToken()
    for (const bad of [
      '',
      'short',
      token.slice(1),
      `${token}A`,
      `${token.slice(1)}=`,
      `${token.slice(1)}+`,
    ]) {
      assert.throws(
        () => sessionIdOf(bad),
        (err) => isAppError(err, 'ERR_SESSION_UNKNOWN'),
        JSON.stringify(bad),
      )
    }
  })
})

describe('createSession', () => {
  it('starts at version 1 with empty data, expiring after the idle timeout', () => {
    const now = new FakeClock().now()
    assert.deepEqual(createSession('id-1', USER, now, POLICY), {
      id: 'id-1',
      userId: 'user-1',
      username: 'alice',
      createdAt: now,
      lastActivityAt: now,
      expiresAt: now + 30 * MINUTE,
      absoluteExpiresAt: now + 120 * MINUTE,
      version: 1,
      data: { filesUploaded: [], messageCount: 0, totalBytes: 0 },
    })
  })

  it('expires at the absolute timeout when it is the shorter', () => {
    const now = new FakeClock().now()
    const session = createSession('id-1', USER, now, {
      idleTimeoutMs: 60 * MINUTE,
      absoluteTimeoutMs: MINUTE,
    })
    assert.equal(session.expiresAt, now + MINUTE)
    assert.equal(session.absoluteExpiresAt, now + MINUTE)
  })
})

describe('advanceSession', () => {
  it('slides the expiry, bumps the version and counts a message', () => {
    const clock = new FakeClock()
    const session = createSession('id-1', USER, clock.now(), POLICY)
    clock.advance(10 * MINUTE)
    const next = advanceSession(session, clock.now(), POLICY)
    assert.equal(next.lastActivityAt, clock.now())
    assert.equal(next.expiresAt, clock.now() + 30 * MINUTE)
    assert.equal(next.version, 2)
    assert.equal(next.data.messageCount, 1)
    assert.equal(next.createdAt, session.createdAt)
    assert.equal(next.absoluteExpiresAt, session.absoluteExpiresAt)
    // Sessions are values: the old one is untouched.
    assert.equal(session.version, 1)
    assert.equal(session.data.messageCount, 0)
  })

  it('never slides past the absolute expiry', () => {
    const clock = new FakeClock()
    let session = createSession('id-1', USER, clock.now(), POLICY)
    for (let i = 0; i < 5; i++) {
      clock.advance(25 * MINUTE)
      session = advanceSession(session, clock.now(), POLICY)
    }
    assert.equal(clock.now(), session.createdAt + 125 * MINUTE)
    assert.equal(session.expiresAt, session.absoluteExpiresAt)
    assert.equal(session.absoluteExpiresAt, session.createdAt + 120 * MINUTE)
  })

  it('applies a custom change instead of counting a message', () => {
    const now = new FakeClock().now()
    const session = createSession('id-1', USER, now, POLICY)
    const change = (data: SessionData): SessionData => ({ ...data, totalBytes: data.totalBytes + 7 })
    const next = advanceSession(session, now, POLICY, change)
    assert.deepEqual(next.data, { filesUploaded: [], messageCount: 0, totalBytes: 7 })
    assert.equal(next.version, 2)
  })
})

describe('assertSessionActive', () => {
  it('passes until expiresAt, then says the session was idle', () => {
    const clock = new FakeClock()
    const session = createSession('id-1', USER, clock.now(), POLICY)
    clock.advance(30 * MINUTE - 1)
    assert.doesNotThrow(() => assertSessionActive(session, clock.now()))
    clock.advance(1)
    assert.throws(
      () => assertSessionActive(session, clock.now()),
      (err) => isAppError(err, 'ERR_SESSION_EXPIRED') && /idle/.test(err.message),
    )
  })

  it('says the session reached its maximum lifetime when the absolute timeout hit', () => {
    const clock = new FakeClock()
    let session = createSession('id-1', USER, clock.now(), POLICY)
    for (let i = 0; i < 5; i++) {
      clock.advance(25 * MINUTE)
      session = advanceSession(session, clock.now(), POLICY)
    }
    assert.throws(
      () => assertSessionActive(session, clock.now()),
      (err) => isAppError(err, 'ERR_SESSION_EXPIRED') && /maximum lifetime/.test(err.message),
    )
  })
})

describe('recordUpload', () => {
  it('appends the file and adds its size', () => {
    const now = new FakeClock().now()
    const session = createSession('id-1', USER, now, POLICY)
    const data = recordUpload('file-2', 20)(recordUpload('file-1', 10)(session.data))
    assert.deepEqual(data, { filesUploaded: ['file-1', 'file-2'], messageCount: 0, totalBytes: 30 })
  })

  it(`remembers at most ${MAX_REMEMBERED_FILES} files, keeping the newest`, () => {
    let data: SessionData = { filesUploaded: [], messageCount: 0, totalBytes: 0 }
    for (let i = 0; i < MAX_REMEMBERED_FILES + 10; i++) data = recordUpload(`file-${i}`, 1)(data)
    assert.equal(data.filesUploaded.length, MAX_REMEMBERED_FILES)
    assert.equal(data.filesUploaded[0], 'file-10')
    assert.equal(data.filesUploaded.at(-1), `file-${MAX_REMEMBERED_FILES + 9}`)
    assert.equal(data.totalBytes, MAX_REMEMBERED_FILES + 10)
  })
})

describe('assertSessionPolicy', () => {
  it('accepts positive integer milliseconds', () => {
    assert.doesNotThrow(() => assertSessionPolicy(DEFAULT_SESSION_POLICY))
    assert.doesNotThrow(() => assertSessionPolicy({ idleTimeoutMs: 1, absoluteTimeoutMs: 1 }))
  })

  it('throws a TypeError naming the bad option', () => {
    const bad: unknown[] = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1000', undefined]
    for (const key of ['idleTimeoutMs', 'absoluteTimeoutMs'] as const) {
      for (const value of bad) {
        const policy = { ...DEFAULT_SESSION_POLICY, [key]: value } as SessionPolicy
        assert.throws(
          () => assertSessionPolicy(policy),
          (err) => err instanceof TypeError && err.message.includes(key),
          `${key}: ${String(value)}`,
        )
      }
    }
  })
})
