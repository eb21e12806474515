import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../../../src/core/errors.ts'
import { SessionSealer } from '../../../../src/core/sessions/sealed-session.ts'
import { createSession, newSessionToken } from '../../../../src/core/sessions/session.ts'

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!'
const session = createSession(newSessionToken().id, { id: 'u1', username: 'alice' }, Date.UTC(2026, 0, 1), {
  idleTimeoutMs: 60_000,
  absoluteTimeoutMs: 3_600_000,
})
const unknown = (err: unknown) => isAppError(err, 'ERR_SESSION_UNKNOWN')

describe('SessionSealer', () => {
  it('opens what it sealed, and hides it', () => {
    const sealer = new SessionSealer(SECRET)
    const sealed = sealer.seal(session)
    assert.match(sealed, /^v1\.[\w-]+$/)
    assert.deepEqual(sealer.open(sealed), session)
    assert.ok(!Buffer.from(sealed.slice(3), 'base64url').includes('alice'))
    assert.notEqual(sealer.seal(session), sealed, 'a fresh IV every time')
  })

  it('refuses a changed, cut, foreign or malformed value with ERR_SESSION_UNKNOWN', () => {
    const sealer = new SessionSealer(SECRET)
    const sealed = sealer.seal(session)
    const bytes = Buffer.from(sealed.slice(3), 'base64url')
    for (const i of [0, 12, bytes.length - 1]) {
      const changed = Buffer.from(bytes)
      changed[i]! ^= 1
      assert.throws(() => sealer.open(`v1.${changed.toString('base64url')}`), unknown)
    }
    assert.throws(() => sealer.open(sealed.slice(0, -4)), unknown)
    assert.throws(() => new SessionSealer(`${SECRET}-other`).open(sealed), unknown)
    for (const bad of ['', 'v1.', 'v2.abc', newSessionToken().token, `v1.${'A'.repeat(20)}`])
      assert.throws(() => sealer.open(bad), unknown)
  })

  it('refuses a short secret by name', () => {
    assert.throws(() => new SessionSealer('short'), /secret/)
  })
})
