import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { type Harness, startHarness } from '../../support/harness.ts'
import { assertError, assertErrorBody, bearer } from '../../support/http.ts'
import {
  listFileIds,
  logIn,
  multipart,
  startSession,
  uploadJson,
  uploadMultipart,
  withSession,
} from '../../support/stateful.ts'

const KiB = 1024
const APIS = ['stateless', 'stateful'] as const
type Api = (typeof APIS)[number]

/** A user signed in to one API: a Bearer token on the stateless one, a session on the stateful one. */
interface Client {
  readonly app: FastifyInstance
  readonly headers: Record<string, string>
}

/** Registers a fresh user and signs it in to `api`. */
async function signIn(harness: Harness, api: Api): Promise<Client> {
  const app = harness[api]
  const credentials = await harness.register()
  const headers =
    api === 'stateless'
      ? bearer(await logIn(app, credentials))
      : withSession(await startSession(app, credentials))
  return { app, headers }
}

/** What is on disk under `<dataDir>/files`: published blobs, and temporary files apart. */
async function filesOnDisk(dataDir: string): Promise<{ published: string[]; temp: string[] }> {
  const directory = join(dataDir, 'files')
  const published = (await readdir(directory)).filter((entry) => entry !== '.tmp')
  return { published: published.sort(), temp: await readdir(join(directory, '.tmp')) }
}

/** Polls `check` on short timers until it holds; fails after about 3 s instead of hanging. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (await check()) return
    await delay(10)
  }
  assert.fail(`timed out waiting until ${what}`)
}

function portOf(app: FastifyInstance): number {
  const address = app.server.address()
  assert.ok(address !== null && typeof address === 'object')
  return address.port
}

/** The head of an HTTP/1.1 request, to write on a raw socket. */
function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`)
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join('')}\r\n`
}

/** Writes `data` on a raw connection and returns the response the server sent before closing it. */
async function exchange(app: FastifyInstance, data: string): Promise<{ status: number; body: unknown }> {
  const socket = connect(portOf(app), '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  // The server may answer and close before it has read everything; the response is what matters.
  socket.on('error', () => {})
  socket.write(data)
  await once(socket, 'close')
  const response = Buffer.concat(chunks).toString()
  const [head = '', body = ''] = response.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), body: JSON.parse(body) }
}

describe('bad input', () => {
  // The data directory sits inside a directory of its own, so that anything written outside it shows up.
  let outer: string
  let harness: Harness
  after(async () => {
    await harness.dispose()
    await rm(outer, { recursive: true, force: true })
  })
  before(async () => {
    outer = await mkdtemp(join(tmpdir(), 'statelab-bad-input-'))
    harness = await startHarness({ dataDir: join(outer, 'data') })
    await Promise.all(APIS.map((api) => harness[api].listen({ port: 0, host: '127.0.0.1' })))
  })

  for (const api of APIS) {
    describe(`${api} API`, () => {
      let me: Client
      let app: FastifyInstance
      before(async () => {
        me = await signIn(harness, api)
        app = me.app
      })

      it('answers malformed JSON with 400 ERR_BAD_JSON', async () => {
        for (const url of ['/api/users', '/api/upload']) {
          const res = await app.inject({
            method: 'POST',
            url,
            headers: { ...me.headers, 'content-type': 'application/json' },
            payload: '{"filename": "a.txt", "content": ',
          })
          assertError(res, 400, 'ERR_BAD_JSON')
        }
      })

      it('answers a JSON body over 1 MiB on a normal route with 413 ERR_BODY_TOO_LARGE', async () => {
        const payload = { username: 'big-body', password: 'x'.repeat(1024 * KiB) }
        const res = await app.inject({ method: 'POST', url: '/api/users', payload })
        assertError(res, 413, 'ERR_BODY_TOO_LARGE')
      })

      it('refuses a taken username with 409 and a weak password with 400', async () => {
        const register = (username: string, password: string) =>
          app.inject({ method: 'POST', url: '/api/users', payload: { username, password } })
        const username = `taken-${api}-${process.pid}`
        assert.equal((await register(username, 'correct horse battery staple')).statusCode, 201)
        assertError(await register(username, 'another long passphrase'), 409, 'ERR_USERNAME_TAKEN')
        assertError(await register(`weak-${api}-${process.pid}`, 'short'), 400, 'ERR_PASSWORD_WEAK')
      })

      it('refuses an empty file, an unknown encoding and invalid base64 with 400 ERR_FILE_INVALID', async () => {
        const uploads = [
          { filename: 'empty.txt', content: '' },
          { filename: 'a.txt', content: 'abc', encoding: 'hex' },
          { filename: 'a.bin', content: '!!not base64!!', encoding: 'base64' },
        ]
        for (const upload of uploads)
          assertError(await uploadJson(app, me.headers, upload), 400, 'ERR_FILE_INVALID')
        const emptyPart = await uploadMultipart(app, me.headers, 'empty.bin', Buffer.alloc(0))
        assertError(emptyPart, 400, 'ERR_FILE_INVALID')
        assert.deepEqual(await listFileIds(app, me.headers), [])
      })

      it('takes multipart on the upload route alone: elsewhere it is 415 ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
        const { payload, headers } = multipart('a.txt', Buffer.from('hello'))
        const res = await app.inject({
          method: 'POST',
          url: '/api/users',
          headers: { ...me.headers, ...headers },
          payload,
        })
        assertError(res, 415, 'ERR_UNSUPPORTED_MEDIA_TYPE')
        const upload = await uploadMultipart(app, me.headers, 'a.txt', Buffer.from('hello'))
        assert.equal(upload.statusCode, 201, upload.body)
      })

      it('answers an unknown route with 404 ERR_NOT_FOUND', async () => {
        assertError(await app.inject({ method: 'GET', url: '/api/nowhere' }), 404, 'ERR_NOT_FOUND')
      })

      it("answers another user's file and a non-UUID id with 404 ERR_FILE_NOT_FOUND", async () => {
        const owner = await signIn(harness, api)
        const uploaded = await uploadJson(app, owner.headers, { filename: 'mine.txt', content: 'private' })
        assert.equal(uploaded.statusCode, 201, uploaded.body)
        const fileId: string = uploaded.json().file_id
        for (const method of ['GET', 'DELETE'] as const) {
          for (const id of [fileId, 'not-a-uuid', '..%2F..%2Fetc%2Fpasswd']) {
            const res = await app.inject({ method, url: `/api/files/${id}`, headers: me.headers })
            assertError(res, 404, 'ERR_FILE_NOT_FOUND')
          }
        }
        const own = await app.inject({ method: 'GET', url: `/api/files/${fileId}`, headers: owner.headers })
        assert.equal(own.body, 'private')
      })

      it('stores a traversal or NUL filename sanitized, under a generated name inside the data directory', async () => {
        for (const filename of ['../../etc/passwd', '..\\..\\win.ini', 'a\u0000b.txt']) {
          const responses = [
            await uploadJson(app, me.headers, { filename, content: 'payload' }),
            await uploadMultipart(app, me.headers, filename, Buffer.from('payload')),
          ]
          for (const res of responses) {
            assert.equal(res.statusCode, 201, `${JSON.stringify(filename)}: ${res.body}`)
            const stored: string = res.json().filename
            assert.ok(stored !== '' && !/[/\\\0]/.test(stored) && !stored.startsWith('..'), stored)
          }
        }
        // All the server may write: its database, and blobs under generated names directly in files/.
        const allowed = [
          /^data$/,
          /^data\/statelab\.db(-wal|-shm|-journal)?$/,
          /^data\/files(\/\.tmp)?$/,
          /^data\/files\/[0-9a-f]{32}(\.[a-z0-9]+)?$/,
        ]
        for (const path of await readdir(outer, { recursive: true })) {
          assert.ok(
            allowed.some((pattern) => pattern.test(path)),
            `unexpected ${path}`,
          )
        }
      })

      it('answers headers over 16 KiB with 431 and a JSON ERR_HEADERS_TOO_LARGE', async () => {
        const head = requestHead('GET', '/health', { 'x-big': 'a'.repeat(20 * KiB) })
        const { status, body } = await exchange(app, head)
        assertErrorBody(status, body, 431, 'ERR_HEADERS_TOO_LARGE')
      })

      it('answers garbage on the socket with 400 ERR_BAD_REQUEST', async () => {
        const { status, body } = await exchange(app, 'NOT HTTP\r\n\r\n')
        assertErrorBody(status, body, 400, 'ERR_BAD_REQUEST')
      })

      it('never publishes part of an upload whose client disconnects', async () => {
        const client = await signIn(harness, api)
        const before = await filesOnDisk(harness.dataDir)
        const { payload, headers } = multipart('big.bin', Buffer.alloc(100 * KiB))
        const staged = async () => (await filesOnDisk(harness.dataDir)).temp.length
        const socket = connect(portOf(app), '127.0.0.1')
        socket.on('error', () => {})
        const length = { 'content-length': payload.length }
        socket.write(requestHead('POST', '/api/upload', { ...client.headers, ...headers, ...length }))
        socket.write(payload.subarray(0, 10 * KiB))
        await until('the server stages the upload', async () => (await staged()) > 0)
        socket.destroy()
        await until('the server drops the staged upload', async () => (await staged()) === 0)
        assert.deepEqual(await listFileIds(app, client.headers), [])
        assert.deepEqual((await filesOnDisk(harness.dataDir)).published, before.published)
      })
    })
  }

  it('is still alive afterwards: /health answers 200 on both APIs', async () => {
    for (const api of APIS) {
      const res = await fetch(`http://127.0.0.1:${portOf(harness[api])}/health`)
      assert.equal(res.status, 200)
      assert.equal(((await res.json()) as { status: string }).status, 'ok')
    }
  })
})

describe('uploads over maxFileSize (1 KiB)', () => {
  let harness: Harness
  after(() => harness.dispose())
  before(async () => {
    harness = await startHarness({ overrides: { maxFileSize: KiB } })
  })

  for (const api of APIS) {
    it(`${api} API: refuses a 2 KiB file, JSON or multipart, with 413 ERR_FILE_TOO_LARGE and keeps nothing`, async () => {
      const me = await signIn(harness, api)
      const content = randomBytes(2 * KiB)
      const json = await uploadJson(me.app, me.headers, {
        filename: 'big.bin',
        content: content.toString('base64'),
        encoding: 'base64',
      })
      assertError(json, 413, 'ERR_FILE_TOO_LARGE')
      assertError(await uploadMultipart(me.app, me.headers, 'big.bin', content), 413, 'ERR_FILE_TOO_LARGE')
      assert.deepEqual(await listFileIds(me.app, me.headers), [])
      assert.deepEqual(await filesOnDisk(harness.dataDir), { published: [], temp: [] })
    })
  }
})

describe('slow headers (headersTimeout 1 s)', () => {
  let harness: Harness
  after(() => harness.dispose())
  before(async () => {
    harness = await startHarness({ overrides: { headersTimeout: 1 } })
  })

  for (const api of APIS) {
    it(`${api} API: answers 408 ERR_REQUEST_TIMEOUT and closes the socket`, async () => {
      await harness[api].listen({ port: 0, host: '127.0.0.1' })
      const { status, body } = await exchange(harness[api], 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n')
      assertErrorBody(status, body, 408, 'ERR_REQUEST_TIMEOUT')
    })
  }
})

describe('temporary files left by a crash', () => {
  it('sweeps on restart what dead or long-silent writers left, and keeps an upload still being written', async (t) => {
    let restarted: Harness | undefined
    const first = await startHarness()
    t.after(async () => {
      await restarted?.close()
      await first.dispose()
    })
    // FsBlobStore names temp files "<host>~<pid>~<random>.part" after the process writing them, and
    // treats one untouched for over an hour as abandoned whoever wrote it.
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_')
    const tempName = (pid: number) => `${host}~${pid}~${randomBytes(16).toString('hex')}.part`
    const deadWriter = tempName(spawnSync(process.execPath, ['-e', '']).pid)
    const [live, silent] = [tempName(process.pid), tempName(process.pid)]
    const temp = join(first.dataDir, 'files', '.tmp')
    for (const name of [deadWriter, live, silent]) await writeFile(join(temp, name), 'part of an upload')
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
    await utimes(join(temp, silent), twoHoursAgo, twoHoursAgo)
    await first.close()

    restarted = await startHarness({ dataDir: first.dataDir })
    assert.deepEqual(await readdir(temp), [live])
  })
})
