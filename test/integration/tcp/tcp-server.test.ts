import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { createClient } from 'redis'
import { type Config, loadConfig } from '../../../src/config.ts'
import { FakeClock } from '../../../src/core/clock.ts'
import type { ErrorCode } from '../../../src/core/errors.ts'
import { MemorySessionStore } from '../../../src/stores/memory/index.ts'
import type { SessionStore } from '../../../src/stores/session-store.ts'
import { frameMac, parseRequestHeader } from '../../../src/tcp/frames.ts'
import { loadTcpConfig, type TcpConfigOverrides } from '../../../src/tcp/tcp-config.ts'
import { startTcpServer, type TcpServer } from '../../../src/tcp/tcp-server.ts'
import { service, uniqueName } from '../../support/services.ts'
import { RawClient, type RawReply, until } from '../../support/tcp.ts'

const root = mkdtempSync(join(tmpdir(), 'statelab-tcp-'))
const servers = new Set<TcpServer>()
const clients = new Set<RawClient>()
after(async () => {
  await Promise.all([...clients].map((client) => client.close()))
  await Promise.all([...servers].map((server) => server.close()))
  rmSync(root, { recursive: true, force: true })
})

interface Running {
  readonly server: TcpServer
  readonly clock: FakeClock
  readonly storage: string
  /** Every log line the server wrote, at debug level. */
  readonly logs: string[]
  connect(options?: { localAddress?: string }): Promise<RawClient>
  admin(path: string, init?: RequestInit): Promise<Response>
}

let started = 0

/** A server on port 0 (TCP and admin) over a fresh storage directory, a fake clock and captured logs. */
async function start(
  overrides: TcpConfigOverrides = {},
  options: { clock?: FakeClock; store?: SessionStore; settings?: Config; storage?: string } = {},
): Promise<Running> {
  const storage = options.storage ?? join(root, `storage-${++started}`)
  const clock = options.clock ?? new FakeClock(Date.now())
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk))
      done()
    },
  })
  const config = loadTcpConfig({
    overrides: { port: 0, adminPort: 0, storagePath: storage, maxRequestSize: 1 << 20, ...overrides },
  })
  const server = await startTcpServer({
    config,
    clock,
    log: pino({ level: 'debug' }, sink),
    store: options.store,
    settings: options.settings,
  })
  servers.add(server)
  return {
    server,
    clock,
    storage,
    logs,
    async connect(connectOptions) {
      const client = await RawClient.connect(server.port, connectOptions)
      clients.add(client)
      return client
    },
    admin: (path, init) => fetch(`http://127.0.0.1:${server.adminPort}${path}`, init),
  }
}

// Request headers, as a client puts them on the wire.
const v1 = (size: number, mime = 'text/plain') => ({ mime_type: mime, size })
const stateless = (size: number, mime = 'text/plain') => ({
  version: '2.0',
  mime_type: mime,
  size,
  session: { id: null, mode: 'stateless', action: 'transfer' },
})
const stateful = (
  action: string,
  id: string | null,
  sequence: number | null,
  size = 0,
  mime = 'text/plain',
) => ({
  version: '2.0',
  mime_type: mime,
  size,
  session: { id, mode: 'stateful', action, sequence },
})

/** The header plus its HMAC (docs/protocol.md 3.4), computed the way a client does. */
function sign(header: Record<string, unknown>, payload: string, key: string): Record<string, unknown> {
  const parsed = parseRequestHeader(JSON.stringify(header), 1 << 30)
  assert.ok('header' in parsed)
  const mac = frameMac(key, parsed.header)
  mac.update(Buffer.from(payload))
  return { ...header, hmac: mac.hex() }
}

function assertError(reply: RawReply, code: ErrorCode): Record<string, unknown> {
  assert.equal(reply.header.type, 'error', JSON.stringify(reply.header))
  assert.equal(reply.header.code, code, JSON.stringify(reply.header))
  assert.equal(typeof reply.header.message, 'string')
  return reply.header
}

function assertAck(reply: RawReply, storage: string, bytes: string | Buffer): Record<string, unknown> {
  const { header } = reply
  assert.equal(header.type, 'ack', JSON.stringify(header))
  const expected = Buffer.from(bytes)
  assert.equal(header.file_size, expected.length)
  assert.equal(header.sha256, createHash('sha256').update(expected).digest('hex'))
  assert.equal(typeof header.file_id, 'string')
  assert.deepEqual(readFileSync(join(storage, String(header.stored_as))), expected)
  return header
}

async function openSession(client: RawClient): Promise<string> {
  const reply = await client.request(stateful('connect', null, null))
  assert.equal(reply.header.type, 'session_created', JSON.stringify(reply.header))
  const session = reply.header.session as { id: string; sequence: number }
  assert.match(session.id, /^[\w-]{43}$/)
  assert.equal(session.sequence, 0)
  return session.id
}

/** The store id, and the storage folder, of a client's session id. */
const storeIdOf = (token: string) => createHash('sha256').update(token).digest('base64url')
const folderOf = (token: string) => `session_${createHash('sha256').update(token).digest('hex').slice(0, 16)}`

const tempFiles = (storage: string) => readdirSync(join(storage, '.tmp'))
/** Published files under the storage root, folders included (`session_x/file_1_...`). */
function publishedFiles(storage: string): string[] {
  return readdirSync(storage, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.parentPath.includes('.tmp'))
    .map((entry) => join(entry.parentPath, entry.name).slice(storage.length + 1))
    .sort()
}

/** Polls `check` until it holds; fails after about 3 s. */
describe('a dual-mode TCP server with the memory store', () => {
  let main: Running
  /** Every session id handed to a client of `main`: none may ever reach the logs. */
  const tokens: string[] = []
  before(async () => {
    main = await start()
  })

  it('stores a week 01 frame statelessly and answers in version 1', async () => {
    const client = await main.connect()
    const reply = await client.request(v1(6), 'hello\n')
    assert.equal(reply.header.version, '1')
    const ack = assertAck(reply, main.storage, 'hello\n')
    assert.match(String(ack.stored_as), /^received_[0-9a-f]{32}\.txt$/)
    assert.equal(ack.mime_type, 'text/plain')
    assert.equal(ack.size, 0)
  })

  it('stores a version 2.0 stateless transfer, with or without a session object', async () => {
    const client = await main.connect()
    const png = randomBytes(300)
    const ack = assertAck(await client.request(stateless(png.length, 'image/png'), png), main.storage, png)
    assert.equal(ack.version, '2.0')
    assert.match(String(ack.stored_as), /^received_[0-9a-f]{32}\.png$/)
    const bare = { version: '2.0', mime_type: 'application/x-unknown', size: 3 }
    const other = assertAck(await client.request(bare, 'abc'), main.storage, 'abc')
    assert.match(String(other.stored_as), /^received_[0-9a-f]{32}\.bin$/)
  })

  it('parses the bytes after a payload as the next frame, however they are packed', async () => {
    const client = await main.connect()
    const frames = Buffer.concat([
      Buffer.from(`${JSON.stringify(v1(4))}\n`),
      Buffer.from('a\nb\n'),
      Buffer.from(`${JSON.stringify(stateless(0))}\n`),
      Buffer.from(`${JSON.stringify(v1(2))}\nzz`),
    ])
    client.send(frames)
    assertAck(await client.reply(), main.storage, 'a\nb\n')
    assertAck(await client.reply(), main.storage, '')
    assertAck(await client.reply(), main.storage, 'zz')
  })

  it('runs a stateful session: connect, transfer, heartbeat, list, disconnect', async () => {
    const client = await main.connect()
    const id = await openSession(client)
    tokens.push(id)

    const ack = assertAck(
      await client.request(stateful('transfer', id, 1, 6), 'hello\n'),
      main.storage,
      'hello\n',
    )
    assert.equal(ack.sequence, 1)
    assert.equal(ack.stored_as, `${folderOf(id)}/file_1_${main.clock.now()}.txt`)

    const pong = await client.request(stateful('heartbeat', id, 2))
    assert.equal(pong.header.type, 'pong')
    assert.deepEqual(pong.header.session, { id, sequence: 2, expires_in: 300 })

    const list = await client.request(stateful('list', id, 3))
    assert.equal(list.header.type, 'files')
    assert.equal(list.header.size, list.payload.length)
    assert.deepEqual(JSON.parse(list.payload.toString()), {
      files: [
        {
          file_id: ack.file_id,
          stored_as: ack.stored_as,
          size: 6,
          sha256: ack.sha256,
          mime_type: 'text/plain',
          sequence: 1,
        },
      ],
    })

    const closed = await client.request(stateful('disconnect', id, 4))
    assert.equal(closed.header.type, 'session_closed')
    assert.deepEqual(closed.header.session, { id, message_count: 4, total_bytes: 6, files: 1 })
    assertError(await client.request(stateful('heartbeat', id, 5)), 'ERR_SESSION_UNKNOWN')
  })

  it('answers an unsupported version with the supported ones, and keeps the connection', async () => {
    const client = await main.connect()
    const reply = await client.request({ version: '3.0', mime_type: 'text/plain', size: 4 }, 'skip')
    assert.deepEqual(assertError(reply, 'ERR_VERSION_UNSUPPORTED').supported_versions, ['1', '2.0'])
    assert.equal(reply.header.version, '2.0')
    assertAck(await client.request(v1(2), 'ok'), main.storage, 'ok')
  })

  it('refuses a frame before connect, and unknown session ids, keeping the connection', async () => {
    const client = await main.connect()
    assertError(await client.request(stateful('transfer', null, 1, 5), 'bytes'), 'ERR_NO_SESSION')
    assertError(await client.request(stateful('heartbeat', null, 1)), 'ERR_NO_SESSION')
    const unknown = randomBytes(32).toString('base64url')
    assertError(await client.request(stateful('transfer', unknown, 1, 5), 'bytes'), 'ERR_SESSION_UNKNOWN')
    assertError(await client.request(stateful('resume', 'not-an-id', 0)), 'ERR_SESSION_UNKNOWN')
    assertError(
      await client.request({ ...stateless(0), session: { mode: 'stateless', action: 'list' } }),
      'ERR_MODE',
    )
    assertAck(await client.request(v1(2), 'ok'), main.storage, 'ok')
  })

  it('refuses replayed and skipped sequence numbers without storing anything', async () => {
    const client = await main.connect()
    const id = await openSession(client)
    tokens.push(id)
    assertAck(await client.request(stateful('transfer', id, 1, 3), 'one'), main.storage, 'one')
    const before = publishedFiles(main.storage)

    const replay = assertError(await client.request(stateful('transfer', id, 1, 3), 'one'), 'ERR_REPLAY')
    assert.equal(replay.sequence, 1)
    assertError(await client.request(stateful('heartbeat', id, 0)), 'ERR_REPLAY')
    const gap = assertError(await client.request(stateful('transfer', id, 3, 5), 'three'), 'ERR_SEQUENCE_GAP')
    assert.equal(gap.sequence, 1)
    assert.deepEqual(publishedFiles(main.storage), before)

    assertAck(await client.request(stateful('transfer', id, 2, 3), 'two'), main.storage, 'two')
    const resumed = await client.request(stateful('resume', id, 2))
    assert.deepEqual(resumed.header.session, { id, last_sequence: 2, message_count: 2, total_bytes: 6 })
  })

  it('closes the connection after a framing error, storing nothing', async () => {
    // What is sent, the error, and the version of the reply: "1" for a header that looks like week 01's.
    const bad: [string, string, ErrorCode, '1' | '2.0'][] = [
      ['a header without newline beyond 8 KiB', 'a'.repeat(8 * 1024 + 1), 'ERR_HEADER_TOO_LARGE', '2.0'],
      ['a header that is not JSON', 'hello there\n', 'ERR_PROTOCOL', '2.0'],
      ['a JSON array', '[1,2,3]\n', 'ERR_PROTOCOL', '2.0'],
      ['a JSON string', '"text"\n', 'ERR_PROTOCOL', '2.0'],
      ['JSON null', 'null\n', 'ERR_PROTOCOL', '2.0'],
      ['no mime_type', '{"size":0}\n', 'ERR_PROTOCOL', '1'],
      ['no size', '{"mime_type":"text/plain"}\n', 'ERR_PROTOCOL', '1'],
      ['a numeric mime_type', '{"mime_type":5,"size":0}\n', 'ERR_PROTOCOL', '1'],
      [
        'a string session',
        '{"version":"2.0","mime_type":"a/b","size":0,"session":"x"}\n',
        'ERR_PROTOCOL',
        '2.0',
      ],
      ['an unknown action', `${JSON.stringify(stateful('fly', null, null))}\n`, 'ERR_PROTOCOL', '2.0'],
      [
        'a string sequence',
        `${JSON.stringify(stateful('heartbeat', 'x', '1' as never))}\n`,
        'ERR_PROTOCOL',
        '2.0',
      ],
      ['a negative size', '{"version":"2.0","mime_type":"a/b","size":-1}\n', 'ERR_PROTOCOL', '2.0'],
      ['a fractional size', '{"mime_type":"a/b","size":1.5}\n', 'ERR_PROTOCOL', '1'],
      ['a huge size', '{"mime_type":"a/b","size":1e300}\n', 'ERR_PROTOCOL', '1'],
      ['a string size', '{"mime_type":"a/b","size":"5"}\n12345', 'ERR_PROTOCOL', '1'],
      [
        'a size above the limit',
        `{"mime_type":"a/b","size":${(1 << 20) + 1}}\n`,
        'ERR_PAYLOAD_TOO_LARGE',
        '1',
      ],
    ]
    const before = publishedFiles(main.storage)
    for (const [what, bytes, code, version] of bad) {
      const client = await main.connect()
      client.send(bytes)
      const reply = await client.reply()
      assertError(reply, code)
      assert.equal(reply.header.version, version, what)
      await client.assertClosedByServer()
    }
    // A stateful frame that must carry a sequence and does not.
    const client = await main.connect()
    const id = await openSession(client)
    tokens.push(id)
    assertError(await client.request(stateful('transfer', id, null, 4), 'data'), 'ERR_PROTOCOL')
    await client.assertClosedByServer()

    assert.deepEqual(publishedFiles(main.storage), before)
    assert.deepEqual(tempFiles(main.storage), [])
  })

  it('stores nothing from a payload cut short by the end of the connection', async () => {
    const before = publishedFiles(main.storage)
    const client = await main.connect()
    client.frame(v1(100))
    client.send('only ten b')
    client.end()
    assertError(await client.reply(), 'ERR_PAYLOAD_INCOMPLETE')
    await client.assertClosedByServer()

    // Mid-session too, and the session is unchanged: the sequence was not consumed.
    const again = await main.connect()
    const id = await openSession(again)
    tokens.push(id)
    again.frame(stateful('transfer', id, 1, 50))
    again.send('short')
    again.end()
    assertError(await again.reply(), 'ERR_PAYLOAD_INCOMPLETE')
    await again.assertClosedByServer()
    const resumed = await (await main.connect()).request(stateful('resume', id, 0))
    assert.equal((resumed.header.session as { last_sequence: number }).last_sequence, 0)

    assert.deepEqual(publishedFiles(main.storage), before)
    assert.deepEqual(tempFiles(main.storage), [])
  })

  it('serves /health, /metrics and /sessions, and ends a session on DELETE', async () => {
    const client = await main.connect()
    const id = await openSession(client)
    tokens.push(id)
    assertAck(await client.request(stateful('transfer', id, 1, 4), 'data'), main.storage, 'data')

    const health = await main.admin('/health')
    assert.equal(health.status, 200)
    const status = (await health.json()) as Record<string, unknown>
    assert.equal(status.status, 'ok')
    assert.equal(status.mode, 'dual')
    assert.equal(status.session_store, 'memory')
    assert.ok(Number(status.connections) >= 1)

    const metrics = await main.admin('/metrics')
    assert.equal(metrics.status, 200)
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const text = await metrics.text()
    assert.match(text, /^# TYPE statelab_tcp_connections_total counter$/m)
    assert.match(text, /^statelab_tcp_connections_total \d+$/m)
    assert.match(text, /^statelab_tcp_errors_total\{code="ERR_PROTOCOL"\} \d+$/m)
    assert.match(text, /^statelab_tcp_files_stored_total\{mode="stateful"\} \d+$/m)
    assert.match(text, /^statelab_tcp_sessions_live [1-9]\d*$/m)

    const listing = await main.admin('/sessions')
    assert.equal(listing.status, 200)
    const body = await listing.text()
    assert.ok(!body.includes(id), 'the admin API never shows the id the client holds')
    const { sessions } = JSON.parse(body) as { sessions: Record<string, unknown>[] }
    const mine = sessions.find((session) => session.id === storeIdOf(id))
    assert.ok(mine, body)
    assert.equal(mine.client_address, '127.0.0.1')
    assert.equal(mine.message_count, 1)
    assert.equal(mine.total_bytes, 4)
    assert.equal(mine.files, 1)
    assert.equal(mine.last_sequence, 1)
    assert.equal(mine.created_at, new Date(main.clock.now()).toISOString())
    assert.equal(typeof mine.last_activity_at, 'string')

    const detail = (await (await main.admin(`/sessions/${storeIdOf(id)}`)).json()) as Record<string, unknown>
    assert.equal((detail.stored_files as unknown[]).length, 1)

    assert.equal((await main.admin(`/sessions/${storeIdOf(id)}`, { method: 'DELETE' })).status, 204)
    assertError(await client.request(stateful('heartbeat', id, 2)), 'ERR_SESSION_UNKNOWN')
    const again = await main.admin(`/sessions/${storeIdOf(id)}`, { method: 'DELETE' })
    assert.equal(again.status, 404)
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'ERR_SESSION_UNKNOWN')
    const missing = await main.admin('/nothing-here')
    assert.equal(missing.status, 404)
    assert.deepEqual(Object.keys((await missing.json()) as object), ['error'])
  })

  it('leaks no file descriptor over a batch of bad connections', async () => {
    const fds = () => readdirSync('/proc/self/fd').length
    const connections = async () =>
      ((await (await main.admin('/health')).json()) as { connections: number }).connections
    const before = fds()
    const openBefore = await connections()
    for (let round = 0; round < 5; round++) {
      const noNewline = await main.connect()
      noNewline.send('x'.repeat(9000))
      assertError(await noNewline.reply(), 'ERR_HEADER_TOO_LARGE')
      await noNewline.assertClosedByServer()

      const cut = await main.connect()
      cut.frame(v1(1000))
      cut.send('partial')
      cut.end()
      assertError(await cut.reply(), 'ERR_PAYLOAD_INCOMPLETE')
      await cut.assertClosedByServer()

      const vanishing = await main.connect()
      vanishing.frame(v1(1000))
      vanishing.send('the client goes away mid-payload')
      await vanishing.close()

      const garbage = await main.connect()
      garbage.send(randomBytes(64))
      garbage.send('\n')
      assertError(await garbage.reply(), 'ERR_PROTOCOL')
      await garbage.assertClosedByServer()

      for (const client of [noNewline, cut, vanishing, garbage]) clients.delete(client)
    }
    // The server counts a connection until its socket is closed and its last frame cleaned up.
    await until('the server is done with every connection', async () => (await connections()) <= openBefore)
    assert.deepEqual(tempFiles(main.storage), [])
    await until('the file descriptors are back', () => fds() <= before + 2)
  })

  it('never logs the session ids clients hold, nor payloads', async () => {
    const logs = main.logs.join('')
    assert.match(logs, /session created/)
    for (const token of tokens) assert.ok(!logs.includes(token), 'a session id reached the logs')
    assert.ok(!logs.includes('hello\\n') && !logs.includes('only ten b'))
  })

  it('has left no temporary file, and still answers', async () => {
    assert.deepEqual(tempFiles(main.storage), [])
    const client = await main.connect()
    assertAck(await client.request(v1(3), 'end'), main.storage, 'end')
  })
})

describe('TCP server limits', () => {
  it('answers a stalled payload with ERR_PAYLOAD_INCOMPLETE after request_timeout', async () => {
    const running = await start({ requestTimeout: 0.3 })
    const client = await running.connect()
    client.frame(v1(100))
    client.send('ten bytes.')
    const error = assertError(await client.reply(), 'ERR_PAYLOAD_INCOMPLETE')
    assert.match(String(error.message), /request_timeout/)
    await client.assertClosedByServer()
    assert.deepEqual(tempFiles(running.storage), [])
    assert.deepEqual(publishedFiles(running.storage), [])
  })

  it('sends ERR_TOO_MANY_CONNECTIONS to the connection over max_connections, then closes it', async () => {
    const running = await start({ maxConnections: 2 })
    const ping = async (client: RawClient) =>
      assertError(
        await client.request({ version: '9', mime_type: 'a/b', size: 0 }),
        'ERR_VERSION_UNSUPPORTED',
      )
    const first = await running.connect()
    const second = await running.connect()
    await ping(first)
    await ping(second)
    const third = await running.connect()
    third.frame(v1(2), 'no')
    assertError(await third.reply(), 'ERR_TOO_MANY_CONNECTIONS')
    await third.assertClosedByServer()

    await first.close()
    await until('the server counts one connection', async () => {
      const health = (await (await running.admin('/health')).json()) as { connections: number }
      return health.connections === 1
    })
    await ping(await running.connect())
    assert.match(
      await (await running.admin('/metrics')).text(),
      /^statelab_tcp_connections_rejected_total 1$/m,
    )
  })

  it('refuses sessions over max_sessions, and frees the slot of a closed one', async () => {
    const running = await start({ maxSessions: 2 })
    const client = await running.connect()
    const first = await openSession(client)
    await openSession(client)
    assertError(await client.request(stateful('connect', null, null)), 'ERR_SESSION_LIMIT')
    assert.equal((await client.request(stateful('disconnect', first, 1))).header.type, 'session_closed')
    await openSession(client)
  })

  it('rate-limits session creation per client address, on the injected clock', async () => {
    const running = await start({ connectRate: 2 })
    const client = await running.connect()
    await openSession(client)
    await openSession(client)
    const limited = assertError(await client.request(stateful('connect', null, null)), 'ERR_RATE_LIMITED')
    assert.equal(limited.retry_after, 60)
    running.clock.advance(30_000)
    assert.equal(
      assertError(await client.request(stateful('connect', null, null)), 'ERR_RATE_LIMITED').retry_after,
      30,
    )
    running.clock.advance(30_000)
    await openSession(client)
  })

  it('expires idle sessions (heartbeats keep them alive) and frees their slot', async () => {
    const running = await start({ sessionTimeout: 60, maxSessions: 1 })
    const client = await running.connect()
    const id = await openSession(client)
    running.clock.advance(40_000)
    assert.equal((await client.request(stateful('heartbeat', id, 1))).header.type, 'pong')
    running.clock.advance(40_000)
    assert.equal((await client.request(stateful('heartbeat', id, 2))).header.type, 'pong')
    const listed = async () =>
      ((await (await running.admin('/sessions')).json()) as { sessions: { id: string }[] }).sessions.map(
        (s) => s.id,
      )
    assert.deepEqual(await listed(), [storeIdOf(id)])

    running.clock.advance(60_001)
    assert.deepEqual(await listed(), [])
    assertError(await client.request(stateful('heartbeat', id, 3, 4), 'data'), 'ERR_SESSION_EXPIRED')
    assertError(await client.request(stateful('heartbeat', id, 3)), 'ERR_SESSION_UNKNOWN')
    // max_sessions is 1: the expired session no longer holds the slot.
    await openSession(client)
  })

  it('binds a session to the address that created it when bind_to_ip is on', async () => {
    const running = await start({ bindToIp: true })
    const owner = await running.connect({ localAddress: '127.0.0.1' })
    const id = await openSession(owner)
    const thief = await running.connect({ localAddress: '127.0.0.2' })
    assertError(await thief.request(stateful('heartbeat', id, 1)), 'ERR_SESSION_BOUND')
    assertError(await thief.request(stateful('resume', id, 0)), 'ERR_SESSION_BOUND')
    assertError(await thief.request(stateful('transfer', id, 1, 5), 'stole'), 'ERR_SESSION_BOUND')
    assert.equal((await owner.request(stateful('heartbeat', id, 1))).header.type, 'pong')
    // Another connection from the owner's address may resume it.
    const back = await running.connect({ localAddress: '127.0.0.1' })
    assert.equal((await back.request(stateful('resume', id, 1))).header.type, 'session_resumed')
  })

  it('accepts only frames with a correct HMAC when a key is set', async () => {
    const key = 'a-test-hmac-key-of-decent-length'
    const running = await start({ hmacKey: key })
    const client = await running.connect()
    assertAck(await client.request(sign(stateless(5), 'hello', key), 'hello'), running.storage, 'hello')
    const before = publishedFiles(running.storage)
    assertError(await client.request(sign(stateless(5), 'hello', key), 'HELLO'), 'ERR_BAD_HMAC')
    assertError(
      await client.request(sign(stateless(5), 'hello', 'another-key-entirely!'), 'hello'),
      'ERR_BAD_HMAC',
    )
    assertError(await client.request(stateless(5), 'hello'), 'ERR_BAD_HMAC')
    assertError(await client.request(v1(5), 'hello'), 'ERR_BAD_HMAC')
    assert.deepEqual(publishedFiles(running.storage), before)

    const created = await client.request(sign(stateful('connect', null, null), '', key))
    assert.equal(created.header.type, 'session_created')
    const id = (created.header.session as { id: string }).id
    assertAck(
      await client.request(sign(stateful('transfer', id, 1, 3), 'one', key), 'one'),
      running.storage,
      'one',
    )
    // A bad MAC does not consume the sequence number.
    assertError(await client.request(sign(stateful('transfer', id, 2, 3), 'two', key), 'TWO'), 'ERR_BAD_HMAC')
    assertError(await client.request(sign(stateful('transfer', id, 1, 3), 'one', key), 'one'), 'ERR_REPLAY')
    assertAck(
      await client.request(sign(stateful('transfer', id, 2, 3), 'two', key), 'two'),
      running.storage,
      'two',
    )
    assert.deepEqual(tempFiles(running.storage), [])
  })

  it('serves only its mode: ERR_MODE otherwise, and the connection stays usable', async () => {
    const statefulOnly = await start({ mode: 'stateful' })
    const client = await statefulOnly.connect()
    assertError(await client.request(stateless(4), 'data'), 'ERR_MODE')
    assertError(await client.request(v1(4), 'data'), 'ERR_MODE')
    assertError(await client.request(stateful('transfer', null, 1, 4), 'data'), 'ERR_NO_SESSION')
    const id = await openSession(client)
    assertAck(await client.request(stateful('transfer', id, 1, 4), 'data'), statefulOnly.storage, 'data')

    const statelessOnly = await start({ mode: 'stateless' })
    const other = await statelessOnly.connect()
    assertError(await other.request(stateful('connect', null, null)), 'ERR_MODE')
    assertAck(await other.request(v1(4), 'data'), statelessOnly.storage, 'data')
  })

  it('stores stateful files flat with naming: simple', async () => {
    const running = await start({ naming: 'simple' })
    const client = await running.connect()
    const id = await openSession(client)
    const ack = assertAck(
      await client.request(stateful('transfer', id, 1, 4), 'data'),
      running.storage,
      'data',
    )
    assert.match(String(ack.stored_as), /^received_[0-9a-f]{32}\.txt$/)
  })

  it('accepts exactly one of two frames racing with one sequence number', async () => {
    // Counts session reads, to know when both frames have passed the first sequence check.
    const clock = new FakeClock(Date.now())
    const inner = new MemorySessionStore({ clock })
    let reads = 0
    const store: SessionStore = {
      kind: 'memory',
      get: (id) => {
        reads++
        return inner.get(id)
      },
      create: (session) => inner.create(session),
      compareAndSwap: (next, version) => inner.compareAndSwap(next, version),
      touch: (id, at, expiresAt) => inner.touch(id, at, expiresAt),
      destroy: (id) => inner.destroy(id),
      listByUser: (userId) => inner.listByUser(userId),
      destroyByUser: (userId, except) => inner.destroyByUser(userId, except),
    }
    after(() => inner.close())
    const running = await start({}, { clock, store })
    const id = await openSession(await running.connect())
    const [a, b] = [await running.connect(), await running.connect()]
    const readsBefore = reads
    a.frame(stateful('transfer', id, 1, 4))
    b.frame(stateful('transfer', id, 1, 4))
    await until('both frames passed the first check', () => reads >= readsBefore + 2)
    a.send('AAAA')
    b.send('BBBB')
    const replies = [await a.reply(), await b.reply()]
    const types = replies.map((reply) => (reply.header.type === 'ack' ? 'ack' : reply.header.code)).sort()
    assert.deepEqual(types, ['ERR_REPLAY', 'ack'])
    const ack = replies.find((reply) => reply.header.type === 'ack')!
    assert.deepEqual(publishedFiles(running.storage), [String(ack.header.stored_as)])
    assert.deepEqual(tempFiles(running.storage), [])
  })
})

const redis = service('REDIS_URL')

describe('stateful sessions that outlive the server process', () => {
  const variants = [
    { name: 'SQLite', skip: false as const, settings: (dataDir: string) => ({ dataDir }) },
    {
      name: 'Redis',
      skip: redis.skip,
      settings: (dataDir: string) => ({
        dataDir,
        redisUrl: redis.url,
        redisPrefix: uniqueName('statelab_tcp'),
      }),
    },
  ]
  for (const variant of variants) {
    it(`resumes a ${variant.name} session after a restart and on a second instance`, {
      skip: variant.skip,
    }, async () => {
      const dataDir = join(root, `data-${variant.name}`)
      const overrides: Partial<Config> = { logLevel: 'silent', ...variant.settings(dataDir) }
      const settings = loadConfig({ env: {}, overrides })
      const persistence = variant.name === 'SQLite' ? 'sqlite' : 'redis'
      const storage = join(root, `storage-${variant.name}`)
      const clock = new FakeClock(Date.now())
      try {
        const first = await start({ persistence }, { settings, storage, clock })
        const client = await first.connect()
        const id = await openSession(client)
        assertAck(await client.request(stateful('transfer', id, 1, 5), 'first'), storage, 'first')
        await first.server.close()
        await client.assertClosedByServer()

        const second = await start({ persistence }, { settings, storage, clock })
        const third = await start({ persistence }, { settings, storage, clock })
        const again = await second.connect()
        const resumed = await again.request(stateful('resume', id, 1))
        assert.deepEqual(resumed.header.session, { id, last_sequence: 1, message_count: 1, total_bytes: 5 })
        assertAck(await again.request(stateful('transfer', id, 2, 6), 'second'), storage, 'second')

        // The other instance sees the same session, and the sequence numbers hold across instances.
        const elsewhere = await third.connect()
        assertError(await elsewhere.request(stateful('transfer', id, 2, 6), 'second'), 'ERR_REPLAY')
        const list = await elsewhere.request(stateful('list', id, 3))
        const files = (JSON.parse(list.payload.toString()) as { files: { stored_as: string }[] }).files
        assert.deepEqual(
          files.map((file) => readFileSync(join(storage, file.stored_as), 'utf8')),
          ['first', 'second'],
        )
        assert.equal((await again.request(stateful('heartbeat', id, 4))).header.type, 'pong')
        const sessions = ((await (await third.admin('/sessions')).json()) as { sessions: { id: string }[] })
          .sessions
        assert.deepEqual(
          sessions.map((session) => session.id),
          [storeIdOf(id)],
        )
        assert.deepEqual(tempFiles(storage), [])
        assert.ok(existsSync(join(storage, folderOf(id))))
      } finally {
        if (overrides.redisPrefix && redis.url) {
          const client = createClient({ url: redis.url })
          await client.connect()
          for await (const keys of client.scanIterator({
            MATCH: `${overrides.redisPrefix}:*`,
            COUNT: 1000,
          })) {
            if (keys.length > 0) await client.unlink(keys)
          }
          await client.close()
        }
      }
    })
  }
})
