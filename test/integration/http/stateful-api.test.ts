import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { type Harness, startHarness } from '../../support/harness.ts'
import { assertError, assertFetchError } from '../../support/http.ts'
import { listFileIds, SESSION_COOKIE, startSession, uploadJson, withSession } from '../../support/stateful.ts'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

const whoami = (app: FastifyInstance, headers: Record<string, string>) =>
  app.inject({ method: 'GET', url: '/api/session', headers })

/** A fetch response's JSON body, typed as the test expects it. */
const jsonOf = async <T>(res: Response): Promise<T> => (await res.json()) as T

/** A Set-Cookie header split into name, value and its attributes (names lower-cased). */
function parseSetCookie(header: string) {
  const [pair = '', ...attributes] = header.split(';').map((part) => part.trim())
  const equals = pair.indexOf('=')
  return {
    name: pair.slice(0, equals),
    value: pair.slice(equals + 1),
    attributes: new Map(
      attributes.map((attribute) => {
        const [key = '', value = ''] = attribute.split('=')
        return [key.toLowerCase(), value]
      }),
    ),
  }
}

describe('stateful API', () => {
  let harness: Harness
  let app: FastifyInstance
  after(() => harness.dispose())
  before(async () => {
    harness = await startHarness()
    app = harness.stateful
  })

  describe('the seed workflow over a real socket', () => {
    let base: string
    before(async () => {
      base = await app.listen({ port: 0, host: '127.0.0.1' })
    })

    it('starts a session, uploads, lists, downloads, inspects and ends it; the cookie alone authenticates', async () => {
      const user = { username: `seed-${process.pid}`, password: 'correct horse battery staple' }
      const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(base + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        })
      assert.equal((await post('/api/users', user)).status, 201)

      const started = await post('/api/session/start', user)
      assert.equal(started.status, 201)
      const { session_id: token, expires_in } = await jsonOf<{ session_id: string; expires_in: number }>(
        started,
      )
      assert.match(token, /^[\w-]{43}$/)
      assert.equal(expires_in, 1800)
      const [setCookie = '', ...more] = started.headers.getSetCookie()
      assert.deepEqual(more, [])
      const cookie = parseSetCookie(setCookie)
      assert.equal(cookie.name, SESSION_COOKIE)
      assert.equal(cookie.value, token)
      assert.equal(cookie.attributes.get('path'), '/')
      assert.ok(cookie.attributes.has('httponly'), setCookie)
      assert.equal(cookie.attributes.get('samesite'), 'Lax')
      assert.ok(!cookie.attributes.has('domain'), setCookie)
      assert.ok(!cookie.attributes.has('secure'), `no Secure over plain HTTP: ${setCookie}`)

      const session = withSession(token)
      const text = await post('/api/upload', { filename: 'hello.txt', content: 'hello, world' }, session)
      assert.equal(text.status, 201)
      const textId = (await jsonOf<{ file_id: string }>(text)).file_id

      const bytes = randomBytes(3000)
      const form = new FormData()
      form.append('file', new Blob([bytes]), 'data.bin')
      const binary = await fetch(`${base}/api/upload`, { method: 'POST', headers: session, body: form })
      assert.equal(binary.status, 201)
      const binaryId = (await jsonOf<{ file_id: string }>(binary)).file_id

      const listed = await fetch(`${base}/api/files`, { headers: session })
      assert.equal(listed.status, 200)
      const { files } = await jsonOf<{ files: { file_id: string }[] }>(listed)
      const ids = files.map((file) => file.file_id)
      assert.deepEqual(ids.sort(), [textId, binaryId].sort())

      const download = (id: string) => fetch(`${base}/api/files/${id}`, { headers: session })
      assert.equal(await (await download(textId)).text(), 'hello, world')
      assert.deepEqual(Buffer.from(await (await download(binaryId)).arrayBuffer()), bytes)

      const viaCookie = await fetch(`${base}/api/files`, {
        headers: { cookie: `${SESSION_COOKIE}=${token}` },
      })
      assert.equal(viaCookie.status, 200)

      const inspected = await fetch(`${base}/api/session`, { headers: session })
      assert.equal(inspected.status, 200)
      const state = await jsonOf<Record<string, unknown>>(inspected)
      // The 2 uploads are messages; the list, the downloads and this read only read.
      assert.equal(state.message_count, 2)
      // Created at 1, each upload: its message and the file it added. Reads leave the version alone.
      assert.equal(state.version, 1 + 2 * 2)
      assert.deepEqual(state.files_uploaded, [textId, binaryId])
      assert.equal(state.total_bytes, 'hello, world'.length + bytes.length)
      assert.equal(state.username, user.username)

      const ended = await fetch(`${base}/api/session/end`, { method: 'POST', headers: session })
      assert.equal(ended.status, 200)
      const cleared = parseSetCookie(ended.headers.getSetCookie()[0] ?? '')
      assert.equal(cleared.name, SESSION_COOKIE)
      assert.equal(cleared.value, '')
      await assertFetchError(
        await fetch(`${base}/api/files`, { headers: session }),
        401,
        'ERR_SESSION_UNKNOWN',
      )
      const cookieAfter = await fetch(`${base}/api/files`, {
        headers: { cookie: `${SESSION_COOKIE}=${token}` },
      })
      await assertFetchError(cookieAfter, 401, 'ERR_SESSION_UNKNOWN')
    })
  })

  describe('timeouts (fake clock)', () => {
    it('slides the idle timeout with activity and expires a session idle for longer than 1800 s', async () => {
      const session = withSession(await startSession(app, await harness.register()))
      harness.clock.advance(1000 * SECOND)
      assert.equal((await whoami(app, session)).statusCode, 200)
      // 2000 s after the start: alive only because the request above moved the idle deadline.
      harness.clock.advance(1000 * SECOND)
      assert.equal((await whoami(app, session)).statusCode, 200)
      harness.clock.advance(1801 * SECOND)
      const message = assertError(await whoami(app, session), 401, 'ERR_SESSION_EXPIRED')
      assert.match(message, /idle/)
    })

    it('ends a session at its 8 h maximum lifetime however active it is', async () => {
      const session = withSession(await startSession(app, await harness.register()))
      for (let elapsed = 20 * MINUTE; elapsed < 8 * HOUR; elapsed += 20 * MINUTE) {
        harness.clock.advance(20 * MINUTE)
        assert.equal((await whoami(app, session)).statusCode, 200, `after ${elapsed / MINUTE} min`)
      }
      harness.clock.advance(20 * MINUTE)
      const message = assertError(await whoami(app, session), 401, 'ERR_SESSION_EXPIRED')
      assert.match(message, /maximum lifetime/)
    })
  })

  it('loses no update when 50 requests use one session at once', async (t) => {
    // A store that answers a turn of the event loop after reading (as a networked one would) lets all 50
    // requests read the same version before any writes back: without compare-and-swap, updates get lost.
    const { store } = harness.runtime.sessions
    const get = store.get.bind(store)
    t.mock.method(store, 'get', async (id: string) => {
      const session = await get(id)
      await nextTurn()
      return session
    })
    const session = withSession(await startSession(app, await harness.register()))
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        uploadJson(app, session, { filename: `f${i}.txt`, content: 'twelve bytes' }),
      ),
    )
    assert.deepEqual(
      responses.map((res) => res.statusCode),
      responses.map(() => 201),
    )
    const state = (await whoami(app, session)).json()
    // Each upload is one message and one remembered file: 100 compare-and-swaps raced, none lost.
    assert.equal(state.message_count, 50)
    assert.equal(state.files_uploaded.length, 50)
    assert.equal(state.total_bytes, 50 * 12)
    assert.equal(state.version, 1 + 50 * 2)
  })

  describe('session ids', () => {
    it('ends the presented session and issues a new id on login (no fixation)', async () => {
      const user = await harness.register()
      const presentations = [withSession, (token: string) => ({ cookie: `${SESSION_COOKIE}=${token}` })]
      for (const present of presentations) {
        const old = await startSession(app, user)
        const fresh = await startSession(app, user, present(old))
        assert.notEqual(fresh, old)
        assertError(await whoami(app, withSession(old)), 401, 'ERR_SESSION_UNKNOWN')
        assert.equal((await whoami(app, withSession(fresh))).statusCode, 200)
      }
    })

    it('refuses an id the server never issued and a malformed id with ERR_SESSION_UNKNOWN', async () => {
      const neverIssued = randomBytes(32).toString('base64url')
      assert.equal(neverIssued.length, 43)
      assertError(await whoami(app, withSession(neverIssued)), 401, 'ERR_SESSION_UNKNOWN')
      assertError(await whoami(app, withSession('abc')), 401, 'ERR_SESSION_UNKNOWN')
    })

    it('refuses a session id in the URL with ERR_CREDENTIALS_IN_URL', async () => {
      const token = await startSession(app, await harness.register())
      const res = await app.inject({ method: 'GET', url: `/api/session?session_id=${token}` })
      assertError(res, 400, 'ERR_CREDENTIALS_IN_URL')
    })
  })

  describe('CSRF on cookie-authenticated requests', () => {
    const HOST = 'statelab.test'
    let token: string
    let fileId: string
    before(async () => {
      token = await startSession(app, await harness.register())
      const res = await uploadJson(app, withSession(token), { filename: 'keep.txt', content: 'keep me' })
      assert.equal(res.statusCode, 201, res.body)
      fileId = res.json().file_id
    })

    const byCookie = (headers: Record<string, string>) => ({
      host: HOST,
      cookie: `${SESSION_COOKIE}=${token}`,
      ...headers,
    })
    const upload = (headers: Record<string, string>) =>
      uploadJson(app, headers, { filename: 'new.txt', content: 'new' })
    const remove = (headers: Record<string, string>) =>
      app.inject({ method: 'DELETE', url: `/api/files/${fileId}`, headers })

    it('refuses a foreign Origin or Sec-Fetch-Site: cross-site with ERR_FOREIGN_ORIGIN and changes nothing', async () => {
      const evil = byCookie({ origin: 'https://evil.example' })
      assertError(await remove(evil), 403, 'ERR_FOREIGN_ORIGIN')
      assertError(await upload(evil), 403, 'ERR_FOREIGN_ORIGIN')
      assertError(await upload(byCookie({ 'sec-fetch-site': 'cross-site' })), 403, 'ERR_FOREIGN_ORIGIN')
      assert.deepEqual(await listFileIds(app, withSession(token)), [fileId])
    })

    it('allows a foreign Origin with the X-Session-ID header, which no other site can make a browser send', async () => {
      const res = await upload({ ...withSession(token), host: HOST, origin: 'https://evil.example' })
      assert.equal(res.statusCode, 201, res.body)
    })

    it('allows a cookie with a same-origin Origin', async () => {
      const res = await remove(byCookie({ origin: `http://${HOST}` }))
      assert.equal(res.statusCode, 200, res.body)
      assert.ok(!(await listFileIds(app, withSession(token))).includes(fileId))
    })
  })

  it('lists my sessions only and ends one or all of the others', async () => {
    const [alice, bob] = [await harness.register(), await harness.register()]
    const [a1, a2, a3, b1] = [
      await startSession(app, alice),
      await startSession(app, alice),
      await startSession(app, alice),
      await startSession(app, bob),
    ].map(withSession)
    const idOf = async (session: Record<string, string>) => (await whoami(app, session)).json().id as string
    const sessionsOf = async (session: Record<string, string>) => {
      const res = await app.inject({ method: 'GET', url: '/api/sessions', headers: session })
      assert.equal(res.statusCode, 200, res.body)
      return res.json().sessions as { id: string; current: boolean; username: string }[]
    }
    const endOne = (session: Record<string, string>, id: string) =>
      app.inject({ method: 'DELETE', url: `/api/sessions/${id}`, headers: session })
    const status = async (session: Record<string, string>) => (await whoami(app, session)).statusCode

    const listed = await sessionsOf(a1!)
    const aliceIds = [await idOf(a1!), await idOf(a2!), await idOf(a3!)]
    assert.deepEqual(listed.map((s) => s.id).sort(), [...aliceIds].sort())
    assert.deepEqual(
      listed.filter((s) => s.current).map((s) => s.id),
      [aliceIds[0]],
    )
    assert.ok(listed.every((s) => s.username === alice.username))

    assertError(await endOne(a1!, await idOf(b1!)), 404, 'ERR_NOT_FOUND')
    assert.equal(await status(b1!), 200)

    const ended = await endOne(a1!, aliceIds[1]!)
    assert.equal(ended.statusCode, 200, ended.body)
    assertError(await whoami(app, a2!), 401, 'ERR_SESSION_UNKNOWN')
    assert.equal(await status(a3!), 200)

    const endedOthers = await app.inject({ method: 'DELETE', url: '/api/sessions', headers: a1 })
    assert.deepEqual(endedOthers.json(), { ended: 1 })
    assertError(await whoami(app, a3!), 401, 'ERR_SESSION_UNKNOWN')
    assert.equal(await status(a1!), 200)
    assert.equal(await status(b1!), 200)
  })
})

describe('stateful API limits and restarts', () => {
  it('refuses a session beyond maxSessions with 503 ERR_SESSION_LIMIT', async (t) => {
    const harness = await startHarness({ overrides: { maxSessions: 2 } })
    t.after(() => harness.dispose())
    const user = await harness.register()
    await startSession(harness.stateful, user)
    await startSession(harness.stateful, user)
    const res = await harness.stateful.inject({ method: 'POST', url: '/api/session/start', payload: user })
    assertError(res, 503, 'ERR_SESSION_LIMIT')
  })

  it('forgets every session on a restart (memory store) while users and files survive', async (t) => {
    let restarted: Harness | undefined
    const first = await startHarness()
    t.after(async () => {
      await restarted?.close()
      await first.dispose()
    })
    const user = await first.register()
    const token = await startSession(first.stateful, user)
    const uploaded = await uploadJson(first.stateful, withSession(token), {
      filename: 'survivor.txt',
      content: 'still here',
    })
    assert.equal(uploaded.statusCode, 201, uploaded.body)
    const fileId: string = uploaded.json().file_id

    await first.close()
    restarted = await startHarness({ dataDir: first.dataDir })
    const app = restarted.stateful
    assertError(await whoami(app, withSession(token)), 401, 'ERR_SESSION_UNKNOWN')

    const session = withSession(await startSession(app, user))
    assert.deepEqual(await listFileIds(app, session), [fileId])
    const download = await app.inject({ method: 'GET', url: `/api/files/${fileId}`, headers: session })
    assert.equal(download.body, 'still here')
  })
})
