import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  advanceSession,
  createSession,
  DEFAULT_SESSION_POLICY,
  newSessionToken,
  recordUpload,
} from '../../../../src/core/sessions/session.ts'
import { decodeSession, encodeSession, userIdOfEncoded } from '../../../../src/core/sessions/session-codec.ts'

const NOW = Date.UTC(2026, 0, 1)
const USER = { id: '0b6f6c1e-6a57-4c8e-9a59-2d2b8f3c1d4e', username: 'alice' }

describe('encodeSession / decodeSession', () => {
  it('round-trips a new session in a short array without its id or its default data', () => {
    const session = createSession(newSessionToken().id, USER, NOW, DEFAULT_SESSION_POLICY)
    const encoded = encodeSession(session)
    assert.equal(encoded, `[1,${NOW},0,1800000,28800000,"${USER.id}","alice"]`)
    assert.deepEqual(decodeSession(session.id, encoded), session)
  })

  it('round-trips data, changed times and versions, and odd strings', () => {
    let session = createSession(
      newSessionToken().id,
      { id: 'u,"[1]"\u2028é', username: 'a,b]"' },
      NOW,
      DEFAULT_SESSION_POLICY,
    )
    session = advanceSession(session, NOW + 90_000, DEFAULT_SESSION_POLICY, recordUpload('file-1', 12))
    session = { ...session, data: { ...session.data, calc: { history: [], undone: [], counts: {} } } }
    assert.deepEqual(decodeSession(session.id, encodeSession(session)), session)
    assert.equal(userIdOfEncoded(encodeSession(session)), session.userId)
  })

  it('keeps an expiry before the last activity and the absolute cap exact', () => {
    const session = {
      ...createSession(newSessionToken().id, USER, NOW, DEFAULT_SESSION_POLICY),
      lastActivityAt: NOW + 5000,
      expiresAt: NOW,
      absoluteExpiresAt: NOW + 1,
    }
    assert.deepEqual(decodeSession(session.id, encodeSession(session)), session)
  })

  it('gives every decode its own objects', () => {
    const session = createSession(newSessionToken().id, USER, NOW, DEFAULT_SESSION_POLICY)
    const encoded = encodeSession(session)
    const a = decodeSession(session.id, encoded)
    const b = decodeSession(session.id, encoded)
    assert.notEqual(a.data, b.data)
    assert.notEqual(a.data.filesUploaded, b.data.filesUploaded)
  })
})
