// SESSION_STORE=cookie: the server keeps no session; the whole session travels sealed in the cookie.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { FakeClock } from '../../../src/core/clock.ts'
import { SessionSealer } from '../../../src/core/sessions/sealed-session.ts'
import { createSession, newSessionToken } from '../../../src/core/sessions/session.ts'
import { type Harness, startHarness } from '../../support/harness.ts'
import { assertError } from '../../support/http.ts'
import { SESSION_COOKIE, uploadJson, withSession } from '../../support/stateful.ts'

/** The value the reply's Set-Cookie gives the session cookie, '' when it clears it, undefined when it is silent. */
function issued(res: LightMyRequestResponse): string | undefined {
  const cookie = res.cookies.find((c) => c.name === SESSION_COOKIE)
  if (!cookie) return undefined
  const cleared = cookie.maxAge === 0 || (cookie.expires !== undefined && cookie.expires.getTime() <= 0)
  return cleared ? '' : cookie.value
}

function tamper(token: string): string {
  const i = token.length - 10
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)
}

describe('stateful API with client-side sessions (SESSION_STORE=cookie)', () => {
  let h: Harness
  let user: { username: string; password: string }
  const calc = (token: string, a: number) =>
    h.stateful.inject({
      method: 'POST',
      url: '/api/calc',
      headers: withSession(token),
      payload: { operation: 'add', a, b: 1 },
    })
  const state = (token: string) => h.stateful.inject({ url: '/api/session', headers: withSession(token) })

  before(async () => {
    h = await startHarness({ overrides: { sessionStore: 'cookie', sessionTouchAfter: 60 } })
    user = await h.register()
  })
  after(() => h?.dispose())

  async function start(): Promise<string> {
    const res = await h.stateful.inject({ method: 'POST', url: '/api/session/start', payload: user })
    assert.equal(res.statusCode, 201, res.body)
    const token: string = res.json().session_id
    assert.equal(issued(res), token, 'the cookie carries what the body says')
    return token
  }

  it('hands the whole session to the client, sealed, and keeps nothing', async () => {
    const token = await start()
    assert.match(token, /^v1\.[\w-]+$/)
    assert.ok(!Buffer.from(token.slice(3), 'base64url').includes(user.username), 'the seal hides the content')
    assert.equal((await h.stateful.inject({ url: '/health' })).json().session_store, 'cookie')
    assert.equal((await h.stateful.inject({ url: '/ready' })).statusCode, 200)
    // The cookie alone proves who this is: no header needed.
    const res = await h.stateful.inject({ url: '/api/session', cookies: { [SESSION_COOKIE]: token } })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().username, user.username)
    const listed = await h.stateful.inject({ url: '/api/sessions', headers: withSession(token) })
    assert.equal(listed.json().sessions.length, 1, 'the server knows only the session in hand')
  })

  it('re-issues the cookie on every change, and when a read slides the idle timer', async () => {
    const first = await start()
    const upload = await uploadJson(h.stateful, withSession(first), { filename: 'a.txt', content: 'hello' })
    assert.equal(upload.statusCode, 201, upload.body)
    const second = issued(upload)
    assert.ok(second && second !== first, 'an upload re-issues the session')
    const after = (await state(second)).json()
    assert.equal(after.message_count, 1)
    assert.deepEqual(after.files_uploaded, [upload.json().file_id])
    assert.equal(after.total_bytes, 5)

    const read = await state(second)
    assert.equal(issued(read), undefined, 'a read within SESSION_TOUCH_AFTER changes nothing')
    h.clock.advance(61_000)
    const slid = await state(second)
    const third = issued(slid)
    assert.ok(third, 'a read after SESSION_TOUCH_AFTER slides the idle timer: a new cookie')
    assert.ok(Date.parse((await state(third)).json().expires_at) > Date.parse(after.expires_at))
  })

  it('refuses tampered, forged and server-side tokens with ERR_SESSION_UNKNOWN', async () => {
    const token = await start()
    assertError(await state(tamper(token)), 401, 'ERR_SESSION_UNKNOWN')
    const forged = new SessionSealer('another-secret-that-is-at-least-32-bytes').seal(
      createSession(newSessionToken().id, { id: 'someone', username: 'someone' }, h.clock.now(), {
        idleTimeoutMs: 60_000,
        absoluteTimeoutMs: 3_600_000,
      }),
    )
    assertError(await state(forged), 401, 'ERR_SESSION_UNKNOWN')
    assertError(await state(newSessionToken().token), 401, 'ERR_SESSION_UNKNOWN')
    assertError(await state(token.slice(0, 40)), 401, 'ERR_SESSION_UNKNOWN')
  })

  it('refuses an expired session with ERR_SESSION_EXPIRED and clears the cookie', async () => {
    const token = await start()
    h.clock.advance(h.runtime.config.sessionIdleTimeout * 1000)
    const res = await state(token)
    assertError(res, 401, 'ERR_SESSION_EXPIRED')
    assert.equal(issued(res), '')
  })

  it('refuses a change that would outgrow the 4 KB cookie with ERR_SESSION_TOO_LARGE, losing nothing', async () => {
    let token = await start()
    let done = 0
    let refused: LightMyRequestResponse | undefined
    while (!refused && done < 200) {
      const res = await calc(token, done)
      if (res.statusCode === 201 || res.statusCode === 200) {
        token = issued(res)!
        done++
      } else refused = res
    }
    assert.ok(refused, 'the calculator history never filled the cookie')
    assertError(refused, 413, 'ERR_SESSION_TOO_LARGE')
    // The request itself still counts as a message (as with every store), so it may re-issue the session.
    token = issued(refused) ?? token
    assert.ok(token.length <= 4096 - SESSION_COOKIE.length - 1)
    const history = await h.stateful.inject({ url: '/api/calc/history', headers: withSession(token) })
    assert.equal(history.json().history_length, done, 'every step that succeeded is still there')
    // Room is made by forgetting: then the calculator works again.
    const cleared = await h.stateful.inject({
      method: 'DELETE',
      url: '/api/calc/history',
      headers: withSession(token),
    })
    assert.equal(cleared.statusCode, 200, cleared.body)
    assert.equal((await calc(issued(cleared)!, 1)).statusCode, 200)
  })

  it('undoes an upload the full cookie cannot remember', async () => {
    const other = await h.register()
    const res = await h.stateful.inject({ method: 'POST', url: '/api/session/start', payload: other })
    let token: string = res.json().session_id
    let stored = 0
    let refused: LightMyRequestResponse | undefined
    while (!refused && stored < 200) {
      const up = await uploadJson(h.stateful, withSession(token), { filename: `${stored}.txt`, content: 'x' })
      if (up.statusCode === 201) {
        token = issued(up)!
        stored++
      } else refused = up
    }
    assert.ok(refused, 'the cookie never filled')
    assertError(refused, 413, 'ERR_SESSION_TOO_LARGE')
    const files = await h.stateful.inject({ url: '/api/files', headers: withSession(token) })
    assert.equal(files.json().files.length, stored, 'the refused upload left no file behind')
    assert.equal((await state(token)).json().files_uploaded.length, stored)
  })

  it('clears the cookie on logout, yet a copy of it stays valid until it expires', async () => {
    const token = await start()
    const end = await h.stateful.inject({
      method: 'POST',
      url: '/api/session/end',
      headers: withSession(token),
    })
    assert.equal(end.statusCode, 200, end.body)
    assert.equal(issued(end), '')
    // The lesson of client-side state: the server has nothing to forget.
    assert.equal((await state(token)).statusCode, 200)
    assert.equal(
      (
        await h.stateful.inject({ method: 'DELETE', url: '/api/sessions', headers: withSession(token) })
      ).json().ended,
      0,
    )
  })

  it('is understood by any process with the same secret, including after a restart', async () => {
    const token = await start()
    const clock = new FakeClock(h.clock.now())
    const other = await startHarness({ dataDir: h.dataDir, clock, overrides: { sessionStore: 'cookie' } })
    try {
      const res = await other.stateful.inject({ url: '/api/session', headers: withSession(token) })
      assert.equal(res.statusCode, 200, res.body)
    } finally {
      await other.close()
    }
  })
})
