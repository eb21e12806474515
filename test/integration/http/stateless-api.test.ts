import assert from 'node:assert/strict'
import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it, type TestContext } from 'node:test'
import { createSigner, createVerifier } from 'fast-jwt'
import type { FastifyInstance } from 'fastify'
import { type Harness, startHarness, TEST_SECRET } from '../../support/harness.ts'
import { assertError, assertFetchError, basic, bearer, expectJson } from '../../support/http.ts'

const PASSWORD = 'correct horse battery staple'
const NEW_PASSWORD = 'a brand new passphrase'
const ACCESS_TTL_S = 900
const REFRESH_TTL_MS = 7 * 86_400_000
/** A PNG signature and the start of an IHDR chunk: enough to sniff. */
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

type StartOptions = Parameters<typeof startHarness>[0]

/** A harness for the whole suite, disposed when it ends; call the returned function inside tests. */
function suiteHarness(options?: StartOptions): () => Harness {
  let harness: Harness | undefined
  after(() => harness?.dispose())
  before(async () => {
    harness = await startHarness(options)
  })
  return () => harness!
}

/** A harness for one test, disposed when it ends. */
async function testHarness(t: TestContext, options?: StartOptions): Promise<Harness> {
  let harness: Harness | undefined
  t.after(() => harness?.dispose())
  harness = await startHarness(options)
  return harness
}

interface Tokens {
  access_token: string
  refresh_token: string
  token_type: string
  expires_in: number
}

function login(app: FastifyInstance, username: string, password: string, remoteAddress?: string) {
  return app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password },
    remoteAddress,
  })
}

/** Registers a fresh user and logs it in. */
async function newSession(h: Harness): Promise<Tokens & { username: string }> {
  const { username, password } = await h.register()
  const res = await login(h.stateless, username, password)
  assert.equal(res.statusCode, 200, res.body)
  return { ...res.json<Tokens>(), username }
}

function refresh(app: FastifyInstance, refreshToken: unknown) {
  return app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: refreshToken } })
}

function listFiles(app: FastifyInstance, headers: Record<string, string> = {}) {
  return app.inject({ method: 'GET', url: '/api/files', headers })
}

/** The decoded header and payload of a JWT, without verifying anything. */
function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
  return { header, payload }
}

interface FileInfo {
  file_id: string
  url: string
  filename: string
  mime_type: string
  size: number
  sha256: string
  created_at: string
}

interface FileContent extends FileInfo {
  encoding: 'base64' | 'utf8'
  content: string
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

const encodePart = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe('stateless API: the seed workflow over a real socket', () => {
  it('registers, logs in, uploads (JSON and multipart), lists, downloads, deletes; Basic works too', async (t) => {
    const h = await testHarness(t)
    await h.stateless.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(h.stateless.server.address() as AddressInfo).port}`
    const call = (path: string, init: RequestInit = {}) => fetch(base + path, init)
    const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      call(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      })

    const registered = await expectJson<{ username: string }>(
      await postJson('/api/users', { username: 'seed-user', password: PASSWORD }),
      201,
    )
    assert.equal(registered.username, 'seed-user')

    const tokens = await expectJson<Tokens>(
      await postJson('/api/auth/login', { username: 'seed-user', password: PASSWORD }),
      200,
    )
    assert.equal(tokens.token_type, 'Bearer')
    assert.equal(tokens.expires_in, ACCESS_TTL_S)
    assert.match(tokens.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    assert.equal(typeof tokens.refresh_token, 'string')
    const auth = bearer(tokens.access_token)

    // A PNG named .txt: the bytes decide the type, not the name.
    const png = await expectJson<FileInfo>(
      await postJson(
        '/api/upload',
        { filename: 'notes.txt', content: PNG.toString('base64'), encoding: 'base64' },
        auth,
      ),
      201,
    )
    assert.match(png.file_id, UUID)
    assert.deepEqual(png, {
      file_id: png.file_id,
      url: `/api/files/${png.file_id}`,
      filename: 'notes.txt',
      mime_type: 'image/png',
      size: PNG.length,
      sha256: sha256(PNG),
      created_at: new Date(h.clock.now()).toISOString(),
    })

    const text = 'hello over multipart\n'
    const form = new FormData()
    form.append('file', new Blob([text]), 'hello.txt')
    const txt = await expectJson<FileInfo>(
      await call('/api/upload', { method: 'POST', headers: auth, body: form }),
      201,
    )
    assert.deepEqual(
      [txt.filename, txt.mime_type, txt.size, txt.sha256],
      ['hello.txt', 'text/plain', Buffer.byteLength(text), sha256(text)],
    )

    const listed = await expectJson<{ files: FileInfo[] }>(await call('/api/files', { headers: auth }), 200)
    assert.deepEqual(listed.files.map((f) => f.file_id).sort(), [png.file_id, txt.file_id].sort())

    const raw = await call(png.url, { headers: auth })
    assert.equal(raw.status, 200)
    assert.equal(raw.headers.get('content-type'), 'image/png')
    assert.match(raw.headers.get('content-disposition') ?? '', /^attachment; filename="notes\.txt"/)
    assert.deepEqual(Buffer.from(await raw.arrayBuffer()), PNG)

    const asJson = { ...auth, accept: 'application/json' }
    const pngJson = await expectJson<FileContent>(await call(png.url, { headers: asJson }), 200)
    assert.equal(pngJson.encoding, 'base64')
    assert.deepEqual(Buffer.from(pngJson.content, 'base64'), PNG)
    const txtJson = await expectJson<FileContent>(await call(txt.url, { headers: asJson }), 200)
    assert.deepEqual([txtJson.encoding, txtJson.content], ['utf8', text])

    const viaBasic = await call('/api/files', { headers: basic('seed-user', PASSWORD) })
    assert.equal((await expectJson<{ files: FileInfo[] }>(viaBasic, 200)).files.length, 2)

    await h.register('someone-else', PASSWORD)
    await assertFetchError(
      await call(png.url, { headers: basic('someone-else', PASSWORD) }),
      404,
      'ERR_FILE_NOT_FOUND',
    )

    const deleted = await call(png.url, { method: 'DELETE', headers: auth })
    assert.equal((await expectJson<{ file_id: string }>(deleted, 200)).file_id, png.file_id)
    await assertFetchError(await call(png.url, { headers: auth }), 404, 'ERR_FILE_NOT_FOUND')
  })
})

describe('stateless API: refresh tokens', () => {
  const h = suiteHarness()

  it('rotates; reusing the old token is refused and revokes the whole family, new token included', async () => {
    const { refresh_token: first } = await newSession(h())
    const rotated = await refresh(h().stateless, first)
    assert.equal(rotated.statusCode, 200)
    const next = rotated.json<Tokens>()
    assert.notEqual(next.refresh_token, first)
    assert.equal(next.token_type, 'Bearer')
    assert.equal((await listFiles(h().stateless, bearer(next.access_token))).statusCode, 200)

    assertError(await refresh(h().stateless, first), 401, 'ERR_REFRESH_REUSED')
    assertError(await refresh(h().stateless, next.refresh_token), 401, 'ERR_REFRESH_INVALID')
  })

  it('lets exactly one of two concurrent uses of one token succeed', async () => {
    const { refresh_token } = await newSession(h())
    const results = await Promise.all([
      refresh(h().stateless, refresh_token),
      refresh(h().stateless, refresh_token),
    ])
    const [won, lost] = results.sort((a, b) => a.statusCode - b.statusCode)
    assert.equal(won!.statusCode, 200)
    assertError(lost!, 401, 'ERR_REFRESH_REUSED')
    // The race is reuse: the winner's successor dies with the family too.
    assertError(await refresh(h().stateless, won!.json<Tokens>().refresh_token), 401, 'ERR_REFRESH_INVALID')
  })

  it('refuses a refresh token older than its 7-day lifetime', async () => {
    const { refresh_token } = await newSession(h())
    h().clock.advance(REFRESH_TTL_MS + 1000)
    assertError(await refresh(h().stateless, refresh_token), 401, 'ERR_REFRESH_INVALID')
  })

  it('refuses malformed and unknown refresh tokens, and a missing field', async () => {
    assertError(await refresh(h().stateless, 'not-a-token'), 401, 'ERR_REFRESH_INVALID')
    assertError(await refresh(h().stateless, 'A'.repeat(43)), 401, 'ERR_REFRESH_INVALID')
    assertError(await refresh(h().stateless, 42), 400, 'ERR_VALIDATION')
    const missing = await h().stateless.inject({ method: 'POST', url: '/api/auth/refresh', payload: {} })
    assertError(missing, 400, 'ERR_VALIDATION')
  })
})

describe('stateless API: logout, logout-all, password change', () => {
  const h = suiteHarness()

  it('logout revokes the refresh family; the access token lives until it expires', async () => {
    const session = await newSession(h())
    const res = await h().stateless.inject({
      method: 'POST',
      url: '/api/auth/logout',
      payload: { refresh_token: session.refresh_token },
    })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().revocation, 'expiry')
    assert.match(res.json().access_token_note, /valid until it expires/)
    assertError(await refresh(h().stateless, session.refresh_token), 401, 'ERR_REFRESH_INVALID')
    assert.equal((await listFiles(h().stateless, bearer(session.access_token))).statusCode, 200)
  })

  it('with a denylist, logout revokes the access token at once, and only that one', async (t) => {
    const denying = await testHarness(t, { overrides: { jwtDenylist: 'memory' } })
    const { username } = await denying.register()
    const first = (await login(denying.stateless, username, PASSWORD)).json<Tokens>()
    const second = (await login(denying.stateless, username, PASSWORD)).json<Tokens>()
    const res = await denying.stateless.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: bearer(first.access_token),
    })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), {
      message: 'Logged out',
      revocation: 'denylist:memory',
      refresh_token_revoked: false,
      access_token_revoked: true,
    })
    assertError(await listFiles(denying.stateless, bearer(first.access_token)), 401, 'ERR_TOKEN_REVOKED')
    assert.equal((await listFiles(denying.stateless, bearer(second.access_token))).statusCode, 200)
    assert.equal((await denying.stateless.inject({ url: '/health' })).json().revocation, 'denylist:memory')
    assert.equal((await denying.stateless.inject({ url: '/ready' })).json().checks.denylist.kind, 'memory')
  })

  it('logout without any token is a validation error', async () => {
    const res = await h().stateless.inject({ method: 'POST', url: '/api/auth/logout', payload: {} })
    assertError(res, 400, 'ERR_VALIDATION')
  })

  it('logout-all revokes every earlier access and refresh token; a new login works', async () => {
    const laptop = await newSession(h())
    const phoneRes = await login(h().stateless, laptop.username, PASSWORD)
    const phone = phoneRes.json<Tokens>()
    const res = await h().stateless.inject({
      method: 'POST',
      url: '/api/auth/logout-all',
      headers: bearer(laptop.access_token),
    })
    assert.equal(res.statusCode, 200)
    for (const { access_token, refresh_token } of [laptop, phone]) {
      assertError(await listFiles(h().stateless, bearer(access_token)), 401, 'ERR_TOKEN_REVOKED')
      assertError(await refresh(h().stateless, refresh_token), 401, 'ERR_REFRESH_INVALID')
    }
    const again = (await login(h().stateless, laptop.username, PASSWORD)).json<Tokens>()
    assert.equal((await listFiles(h().stateless, bearer(again.access_token))).statusCode, 200)
  })

  it('a password change revokes older tokens; the old password stops working, the new one works', async () => {
    const session = await newSession(h())
    const change = (current_password: string, new_password: string) =>
      h().stateless.inject({
        method: 'PUT',
        url: '/api/users/me/password',
        headers: bearer(session.access_token),
        payload: { current_password, new_password },
      })
    assertError(await change('not my password', NEW_PASSWORD), 401, 'ERR_INVALID_CREDENTIALS')
    assertError(await change(PASSWORD, 'short'), 400, 'ERR_PASSWORD_WEAK')
    assert.equal((await change(PASSWORD, NEW_PASSWORD)).statusCode, 200)

    assertError(await listFiles(h().stateless, bearer(session.access_token)), 401, 'ERR_TOKEN_REVOKED')
    assertError(await refresh(h().stateless, session.refresh_token), 401, 'ERR_REFRESH_INVALID')
    assertError(await login(h().stateless, session.username, PASSWORD), 401, 'ERR_INVALID_CREDENTIALS')
    const fresh = await login(h().stateless, session.username, NEW_PASSWORD)
    assert.equal(fresh.statusCode, 200)
    assert.equal((await listFiles(h().stateless, bearer(fresh.json<Tokens>().access_token))).statusCode, 200)
  })
})

describe('stateless API: access token verification', () => {
  const h = suiteHarness()
  const filesWith = (authorization: string) => listFiles(h().stateless, { authorization })

  /** Claims as the server would issue them for the user of `token`, now, with `changes` applied. */
  function claimsLike(token: string, changes: Record<string, unknown> = {}): Record<string, unknown> {
    const iat = Math.floor(h().clock.now() / 1000)
    return { ...decodeJwt(token).payload, jti: 'forged', iat, exp: iat + ACCESS_TTL_S, ...changes }
  }
  const signWith = (secret: string, payload: Record<string, unknown>) =>
    createSigner({ key: secret, algorithm: 'HS256' })(payload)

  it('accepts a token signed with the test secret and the right claims (the forgeries below differ in one way)', async () => {
    const { access_token } = await newSession(h())
    const forged = signWith(TEST_SECRET, claimsLike(access_token))
    assert.equal((await listFiles(h().stateless, bearer(forged))).statusCode, 200)
  })

  it('refuses a tampered payload, alg "none" and another secret with ERR_TOKEN_INVALID', async () => {
    const { access_token } = await newSession(h())
    const [header, , signature] = access_token.split('.')
    const { payload } = decodeJwt(access_token)
    const extended = { ...payload, exp: (payload.exp as number) + 86_400 }
    const tampered = `${header}.${encodePart(extended)}.${signature}`
    const algNone = `${encodePart({ alg: 'none', typ: 'JWT' })}.${encodePart(claimsLike(access_token))}.`
    const otherSecret = signWith('another-secret-that-is-at-least-32-bytes', claimsLike(access_token))
    for (const token of [tampered, algNone, otherSecret]) {
      assertError(await listFiles(h().stateless, bearer(token)), 401, 'ERR_TOKEN_INVALID')
    }
  })

  it('refuses a token for another audience or from another issuer', async () => {
    const { access_token } = await newSession(h())
    for (const changes of [{ aud: 'someone-else' }, { iss: 'someone-else' }]) {
      const token = signWith(TEST_SECRET, claimsLike(access_token, changes))
      assertError(await listFiles(h().stateless, bearer(token)), 401, 'ERR_TOKEN_INVALID')
    }
  })

  it('refuses garbage with ERR_TOKEN_INVALID', async () => {
    for (const value of ['garbage', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.']) {
      assertError(await filesWith(`Bearer ${value}`), 401, 'ERR_TOKEN_INVALID')
    }
  })

  it('asks for credentials with WWW-Authenticate when there are none or the scheme is unknown', async () => {
    for (const res of [await listFiles(h().stateless), await filesWith('Digest username="x"')]) {
      assertError(res, 401, 'ERR_UNAUTHENTICATED')
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm="statelab"/)
    }
  })

  it('expires the access token after 900 s of the injected clock', async () => {
    const { access_token } = await newSession(h())
    h().clock.advance((ACCESS_TTL_S - 1) * 1000)
    assert.equal((await listFiles(h().stateless, bearer(access_token))).statusCode, 200)
    h().clock.advance(2000)
    assertError(await listFiles(h().stateless, bearer(access_token)), 401, 'ERR_TOKEN_EXPIRED')
  })
})

describe('stateless API: credentials in the URL', () => {
  const h = suiteHarness()

  for (const query of ['username=a&password=b', 'access_token=x', 'Refresh_Token=y']) {
    it(`refuses /api/files?${query} with ERR_CREDENTIALS_IN_URL`, async () => {
      const res = await h().stateless.inject({ method: 'GET', url: `/api/files?${query}` })
      assert.match(assertError(res, 400, 'ERR_CREDENTIALS_IN_URL'), /Authorization header/)
    })
  }
})

describe('stateless API: failed-login throttling', () => {
  it('locks an account after 5 failures, even for the right password, until the window passes', async (t) => {
    const h = await testHarness(t)
    const { username } = await h.register()
    for (let i = 0; i < 5; i++) {
      assertError(await login(h.stateless, username, 'wrong password!'), 401, 'ERR_INVALID_CREDENTIALS')
    }
    const locked = await login(h.stateless, username, PASSWORD)
    assertError(locked, 429, 'ERR_TOO_MANY_ATTEMPTS')
    const retryAfter = String(locked.headers['retry-after'])
    assert.match(retryAfter, /^\d+$/)
    assert.ok(Number(retryAfter) > 0 && Number(retryAfter) <= h.runtime.config.loginWindow)

    h.clock.advance(Number(retryAfter) * 1000)
    assert.equal((await login(h.stateless, username, PASSWORD)).statusCode, 200)
  })

  it('limits failures per IP across usernames; other addresses are unaffected', async (t) => {
    const h = await testHarness(t, { overrides: { loginFailuresPerIp: 3 } })
    const { username } = await h.register()
    for (const name of ['spray-1', 'spray-2', 'spray-3']) {
      assertError(await login(h.stateless, name, 'guess guess', '10.0.0.7'), 401, 'ERR_INVALID_CREDENTIALS')
    }
    const refused = await login(h.stateless, username, PASSWORD, '10.0.0.7')
    assertError(refused, 429, 'ERR_TOO_MANY_ATTEMPTS')
    assert.match(String(refused.headers['retry-after']), /^\d+$/)
    assert.equal((await login(h.stateless, username, PASSWORD, '10.0.0.8')).statusCode, 200)
  })
})

describe('stateless API: registration errors', () => {
  const h = suiteHarness()
  const registerWith = (payload: object) =>
    h().stateless.inject({ method: 'POST', url: '/api/users', payload })

  it('refuses a taken username, case-insensitively', async () => {
    const first = await registerWith({ username: 'Alice', password: PASSWORD })
    assert.equal(first.statusCode, 201)
    assert.equal(first.json().username, 'alice')
    assertError(await registerWith({ username: 'alice', password: PASSWORD }), 409, 'ERR_USERNAME_TAKEN')
  })

  it('refuses weak passwords: too short, or containing the username', async () => {
    assertError(await registerWith({ username: 'bob', password: 'short' }), 400, 'ERR_PASSWORD_WEAK')
    const withName = { username: 'bob-smith', password: 'I am bob-smith, hello' }
    assertError(await registerWith(withName), 400, 'ERR_PASSWORD_WEAK')
  })

  it('refuses invalid usernames', async () => {
    for (const username of ['ab', 'has space', '-dash', 'x'.repeat(33)]) {
      assertError(await registerWith({ username, password: PASSWORD }), 400, 'ERR_USERNAME_INVALID')
    }
  })

  it('refuses a missing field and malformed JSON', async () => {
    assertError(await registerWith({ username: 'carol' }), 400, 'ERR_VALIDATION')
    const malformed = await h().stateless.inject({
      method: 'POST',
      url: '/api/users',
      headers: { 'content-type': 'application/json' },
      payload: '{"username": "carol",',
    })
    assertError(malformed, 400, 'ERR_BAD_JSON')
  })
})

describe('stateless API: restart', () => {
  it('keeps access tokens and files valid across a restart on the same data', async (t) => {
    // Only closed here: the second harness, on the same data, removes the directory at the end.
    let first: Harness | undefined
    t.after(() => first?.close())
    first = await startHarness()
    const session = await newSession(first)
    const upload = await first.stateless.inject({
      method: 'POST',
      url: '/api/upload',
      headers: bearer(session.access_token),
      payload: { filename: 'kept.txt', content: 'still here', encoding: 'utf8' },
    })
    assert.equal(upload.statusCode, 201)
    await first.close()

    const second = await testHarness(t, { dataDir: first.dataDir, clock: first.clock })
    const res = await second.stateless.inject({
      method: 'GET',
      url: upload.json<FileInfo>().url,
      headers: { ...bearer(session.access_token), accept: 'application/json' },
    })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(
      [res.json<FileContent>().filename, res.json<FileContent>().content],
      ['kept.txt', 'still here'],
    )
  })
})

describe('stateless API: health, readiness, OpenAPI, JWKS', () => {
  const h = suiteHarness()
  const get = (url: string) => h().stateless.inject({ method: 'GET', url })

  it('/health and /ready answer 200; /ready lists its checks', async () => {
    const health = await get('/health')
    assert.equal(health.statusCode, 200)
    assert.equal(health.json().status, 'ok')
    const ready = await get('/ready')
    assert.equal(ready.statusCode, 200)
    assert.equal(ready.json().status, 'ready')
    assert.deepEqual(ready.json().checks, { data: { kind: 'sqlite', status: 'ok' } })
    assert.equal(health.json().revocation, 'expiry')
  })

  it('/openapi.json is OpenAPI 3.1 with the auth and upload paths; /docs answers', async () => {
    const doc = (await get('/openapi.json')).json()
    assert.match(doc.openapi, /^3\.1\./)
    assert.ok(doc.paths['/api/auth/login'], 'login path')
    assert.ok(doc.paths['/api/upload'], 'upload path')
    const docs = await get('/docs')
    assert.ok(
      docs.statusCode === 200 || (docs.statusCode >= 300 && docs.statusCode < 400),
      `${docs.statusCode}`,
    )
  })

  it('/.well-known/jwks.json is empty for HS256', async () => {
    const res = await get('/.well-known/jwks.json')
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { keys: [] })
  })

  it('with EdDSA publishes one Ed25519 key that verifies the tokens it issues', async (t) => {
    const ed = await testHarness(t, { overrides: { jwtAlgorithm: 'EdDSA', jwtSecret: undefined } })
    const { keys } = (await ed.stateless.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
    assert.equal(keys.length, 1)
    const [jwk] = keys as (JsonWebKey & { kid: string })[]
    assert.deepEqual([jwk!.kty, jwk!.crv, jwk!.alg], ['OKP', 'Ed25519', 'EdDSA'])
    assert.equal(typeof jwk!.kid, 'string')

    const { access_token } = await newSession(ed)
    assert.deepEqual(
      [decodeJwt(access_token).header.alg, decodeJwt(access_token).header.kid],
      ['EdDSA', jwk!.kid],
    )
    const publicKey = createPublicKey({ key: jwk!, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
    const verify = createVerifier({
      key: publicKey.toString(),
      algorithms: ['EdDSA'],
      clockTimestamp: ed.clock.now(),
    })
    assert.equal(verify(access_token).aud, 'statelab-api')
    assert.equal((await listFiles(ed.stateless, bearer(access_token))).statusCode, 200)
  })
})

describe('stateless API: request ids', () => {
  const h = suiteHarness()

  it('gives every response an x-request-id, errors included', async () => {
    for (const url of ['/health', '/api/files', '/no-such-route']) {
      const res = await h().stateless.inject({ method: 'GET', url })
      assert.match(String(res.headers['x-request-id']), UUID, url)
    }
  })

  it('names the replica in X-Served-By only when it has a name', async (t) => {
    assert.equal((await h().stateless.inject({ url: '/health' })).headers['x-served-by'], undefined)
    const named = await testHarness(t, { overrides: { replicaId: 'replica-7' } })
    for (const app of [named.stateless, named.stateful]) {
      assert.equal((await app.inject({ url: '/no-such-route' })).headers['x-served-by'], 'replica-7')
    }
  })

  it('echoes a valid incoming X-Request-Id and replaces an invalid one', async () => {
    const echoed = await h().stateless.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'trace-42.a' },
    })
    assert.equal(echoed.headers['x-request-id'], 'trace-42.a')
    const replaced = await h().stateless.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'has spaces <script>' },
    })
    assert.match(String(replaced.headers['x-request-id']), UUID)
  })
})
