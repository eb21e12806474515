import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { FakeClock } from '../../../src/core/clock.ts'
import { isAppError } from '../../../src/core/errors.ts'
import { createLogger } from '../../../src/runtime.ts'
import type { SessionStore } from '../../../src/stores/session-store.ts'
import { SqliteSessionStore } from '../../../src/stores/sqlite/index.ts'
import {
  sendStateless,
  TcpClientError,
  TcpSession,
  type TcpSessionEvent,
  type TcpSessionOptions,
} from '../../../src/tcp/tcp-client.ts'
import { loadTcpConfig, type TcpConfigOverrides } from '../../../src/tcp/tcp-config.ts'
import { startTcpServer, type TcpServer } from '../../../src/tcp/tcp-server.ts'

const REPO = join(import.meta.dirname, '../../..')
const MINUTE = 60_000
const HMAC_KEY = 'test-hmac-key-of-32-characters!!'
/** Reconnects fast enough for a test, patient enough for a server restart. */
const FAST_RECONNECT = { retries: 20, baseDelayMs: 10, maxDelayMs: 100 }

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
const PNG = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), randomBytes(300)])

/** A temporary directory with the files to send and the server's storage. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'statelab-tcp-client-'))
  const storage = join(dir, 'storage')
  mkdirSync(join(dir, 'in'))
  return {
    dir,
    storage,
    /** Writes a file to send and returns its path. */
    file(name: string, content: Uint8Array | string): string {
      const path = join(dir, 'in', name)
      writeFileSync(path, content)
      return path
    },
    /** The bytes the server stored under `storedAs`. */
    stored(storedAs: string): Buffer {
      return readFileSync(join(storage, storedAs))
    },
    /** Every file published in the storage directory (temporary files excluded), relative paths. */
    published(): string[] {
      return readdirSync(storage, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile() && !entry.parentPath.includes('.tmp'))
        .map((entry) => join(entry.parentPath, entry.name).slice(storage.length + 1))
        .sort()
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  }
}

type Workspace = ReturnType<typeof workspace>

function startServer(
  storage: string,
  overrides: TcpConfigOverrides = {},
  options: { clock?: FakeClock; store?: SessionStore } = {},
): Promise<TcpServer> {
  const config = loadTcpConfig({
    overrides: {
      host: '127.0.0.1',
      port: 0,
      adminPort: 0,
      storagePath: storage,
      connectRate: 10_000,
      ...overrides,
    },
  })
  return startTcpServer({ config, log: createLogger('silent'), ...options })
}

/**
 * A relay between the client and the real server that a test can cut at a chosen byte: the way to lose a
 * connection, or only the reply on it, at a known point. It forwards bytes; the protocol is the server's.
 */
class Relay {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  /** Seen for every chunk; true drops that chunk and cuts the connection (once: it is then cleared). */
  cutWhen: ((direction: 'up' | 'down', chunk: Buffer) => boolean) | undefined
  /** When true, the server's replies are swallowed (the client's bytes still go through). */
  blackHole = false
  connections = 0

  static async start(targetPort: number): Promise<Relay> {
    const relay = new Relay(targetPort)
    await once(relay.#server.listen(0, '127.0.0.1'), 'listening')
    return relay
  }

  private constructor(targetPort: number) {
    this.#server = createServer((client) => {
      this.connections++
      const upstream = connect(targetPort, '127.0.0.1')
      const pair = [client, upstream]
      const cut = () => {
        for (const socket of pair) socket.destroy()
      }
      for (const socket of pair) {
        this.#sockets.add(socket)
        socket.on('error', () => {})
        socket.on('close', () => {
          this.#sockets.delete(socket)
          cut()
        })
      }
      const forward = (direction: 'up' | 'down', to: Socket) => (chunk: Buffer) => {
        if (this.cutWhen?.(direction, chunk)) {
          this.cutWhen = undefined
          cut()
        } else if (!(direction === 'down' && this.blackHole)) {
          to.write(chunk)
        }
      }
      client.on('data', forward('up', upstream))
      upstream.on('data', forward('down', client))
    })
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise((resolve) => this.#server.close(resolve))
  }
}

/** Collects a session's events; `next(type)` resolves at the next event of that type. */
function eventLog() {
  const events: TcpSessionEvent[] = []
  const waiters: { type: TcpSessionEvent['type']; resolve: (event: TcpSessionEvent) => void }[] = []
  return {
    events,
    onEvent(event: TcpSessionEvent) {
      events.push(event)
      for (const waiter of waiters.filter((w) => w.type === event.type)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(event)
      }
    },
    next(type: TcpSessionEvent['type']): Promise<TcpSessionEvent> {
      return new Promise((resolve) => waiters.push({ type, resolve }))
    },
    types: () => events.map((e) => e.type),
  }
}

describe('TCP client against the real server', () => {
  let ws: Workspace
  let server: TcpServer
  let clock: FakeClock
  after(() => ws.dispose())
  after(() => server.close())
  before(async () => {
    ws = workspace()
    clock = new FakeClock(Date.now())
    server = await startServer(ws.storage, {}, { clock })
  })
  const session = (options: TcpSessionOptions = {}) =>
    TcpSession.connect({ port: server.port, heartbeatMs: 0, reconnect: FAST_RECONNECT, ...options })

  it('sends several files statelessly on one connection: bytes and sha256 on disk match', async () => {
    const big = randomBytes(3 * 1024 * 1024)
    const files = {
      'hello.txt': Buffer.from('hello\n'),
      'image.png': PNG,
      'empty.dat': Buffer.alloc(0),
      'big.dat': big,
    }
    const paths = Object.entries(files).map(([name, content]) => ws.file(name, content))
    const progress: number[] = []
    const results = await sendStateless(
      { port: server.port, onProgress: (name, sent) => name === 'big.dat' && progress.push(sent) },
      paths,
    )
    assert.deepEqual(
      results.map((r) => r.name),
      Object.keys(files),
    )
    for (const [i, content] of Object.values(files).entries()) {
      const result = results[i]!
      assert.ok(result.ok, `${result.name}: ${!result.ok && result.error.message}`)
      assert.equal(result.ack.bytes, content.length)
      assert.equal(result.ack.sha256, sha256(content))
      assert.match(result.ack.storedAs, /^received_[0-9a-f]+\.[a-z]+$/)
      assert.equal(sha256(ws.stored(result.ack.storedAs)), sha256(content))
    }
    const [text, png] = results.map((r) => (r.ok ? r.ack : undefined))
    assert.equal(text?.mimeType, 'text/plain')
    assert.equal(png?.mimeType, 'image/png')
    assert.match(png?.storedAs ?? '', /\.png$/)
    assert.equal(progress.at(-1), big.length, 'progress reaches the whole file')
  })

  it('sends week 01 (version 1) frames', async () => {
    const a = ws.file('v1-a.txt', 'week one\n')
    const b = ws.file('v1-b.png', PNG)
    const results = await sendStateless({ port: server.port, version: '1' }, [a, b])
    for (const [result, content] of [
      [results[0], 'week one\n'],
      [results[1], PNG],
    ] as const) {
      assert.ok(result?.ok, result && !result.ok ? result.error.message : 'no result')
      assert.equal(sha256(ws.stored(result.ack.storedAs)), sha256(Buffer.from(content)))
    }
  })

  it('reports a refused file with the server code and goes on with the next on a new connection', async () => {
    const limited = await startServer(ws.storage, { maxRequestSize: 1024 })
    after(() => limited.close())
    const results = await sendStateless({ port: limited.port }, [
      ws.file('too-big.dat', randomBytes(4096)),
      ws.file('fits.txt', 'small\n'),
      join(ws.dir, 'missing.txt'),
    ])
    assert.deepEqual(
      results.map((r) => (r.ok ? 'ok' : r.error.code)),
      ['ERR_PAYLOAD_TOO_LARGE', 'ok', 'ERR_FILE_NOT_FOUND'],
    )
  })

  it('never hangs: a reply that does not come is ERR_REPLY_TIMEOUT', async () => {
    const relay = await Relay.start(server.port)
    after(() => relay.close())
    relay.blackHole = true
    const started = performance.now()
    const [result] = await sendStateless({ port: relay.port, timeoutMs: 200 }, [ws.file('lost.txt', 'x')])
    assert.ok(result && !result.ok && result.error instanceof TcpClientError)
    assert.equal(result.error.code, 'ERR_REPLY_TIMEOUT')
    assert.ok(performance.now() - started < 2000)
  })

  it('sends several files in one session: acks in sequence, list, and the summary', async () => {
    const contents = [Buffer.from('first\n'), PNG, randomBytes(100_000)]
    const paths = contents.map((content, i) => ws.file(`session-${i}.${i === 1 ? 'png' : 'txt'}`, content))
    const s = await session()
    const acks = []
    for (const path of paths) acks.push(await s.send(path))
    assert.deepEqual(
      acks.map((a) => a.sequence),
      [1, 2, 3],
    )
    for (const [i, ack] of acks.entries()) {
      assert.equal(ack.sha256, sha256(contents[i]!))
      assert.match(ack.storedAs, /^session_[0-9a-f]{16}\/file_\d+_\d+\.[a-z]+$/)
      assert.equal(sha256(ws.stored(ack.storedAs)), sha256(contents[i]!))
    }
    const listed = await s.list()
    assert.deepEqual(
      listed.map((f) => [f.sequence, f.storedAs, f.sha256, f.size]),
      acks.map((a) => [a.sequence, a.storedAs, a.sha256, a.bytes]),
    )
    const summary = await s.close()
    assert.equal(summary.files, 3)
    assert.equal(
      summary.totalBytes,
      contents.reduce((n, c) => n + c.length, 0),
    )
    assert.equal(summary.reconnects, 0)
    assert.deepEqual(await s.close(), summary, 'a second close returns the same summary')
    await assert.rejects(s.list(), (err) => isAppError(err, 'ERR_SESSION_UNKNOWN'))
  })

  it('heartbeats keep a session alive past its timeout; without them it expires', async () => {
    const s = await session()
    after(() => s.destroy())
    assert.equal(s.timeoutSeconds, 300)
    for (let i = 0; i < 3; i++) {
      clock.advance(200_000)
      const pong = await s.heartbeat()
      assert.equal(pong.expiresIn, 300)
    }
    // 600 s after connect, 200 s after the last heartbeat: alive.
    const ack = await s.send(ws.file('alive.txt', 'still here\n'))
    assert.equal(ack.sequence, 4)
    clock.advance(5 * MINUTE + 1000)
    await assert.rejects(s.send(ws.file('late.txt', 'too late\n')), (err) =>
      isAppError(err, 'ERR_SESSION_EXPIRED'),
    )
  })

  it('heartbeats by itself while idle', async () => {
    const log = eventLog()
    const s = await session({ heartbeatMs: 20, onEvent: log.onEvent })
    after(() => s.destroy())
    for (let i = 0; i < 3; i++) {
      clock.advance(200_000)
      await log.next('heartbeat')
    }
    const ack = await s.send(ws.file('idle.txt', 'kept alive\n'))
    assert.equal(sha256(ws.stored(ack.storedAs)), sha256(Buffer.from('kept alive\n')))
    await s.close()
  })

  it('resumes after the connection drops mid-payload and re-sends only the file the server lacks', async () => {
    const relay = await Relay.start(server.port)
    after(() => relay.close())
    const log = eventLog()
    const s = await session({ port: relay.port, onEvent: log.onEvent })
    const a = await s.send(ws.file('drop-a.txt', 'before the drop\n'))
    const big = randomBytes(2 * 1024 * 1024)
    let up = 0
    relay.cutWhen = (direction, chunk) => {
      if (direction === 'up') up += chunk.length
      return up > 512 * 1024
    }
    const b = await s.send(ws.file('drop-b.dat', big))
    const c = await s.send(ws.file('drop-c.txt', 'after the drop\n'))
    assert.deepEqual(
      [a, b, c].map((ack) => ack.sequence),
      [1, 2, 3],
    )
    assert.deepEqual(log.types(), ['reconnecting', 'resumed', 'resent'])
    assert.deepEqual(log.events[1], { type: 'resumed', lastSequence: 1 })
    assert.equal(relay.connections, 2)
    assert.equal(sha256(ws.stored(b.storedAs)), sha256(big))
    const listed = await s.list()
    assert.deepEqual(
      listed.map((f) => f.sequence),
      [1, 2, 3],
    )
    const folder = a.storedAs.split('/')[0]!
    assert.equal(ws.published().filter((p) => p.startsWith(`${folder}/`)).length, 3, 'each file stored once')
    assert.equal((await s.close()).reconnects, 1)
  })

  it('resumes after an ack is lost: the file the server stored is not sent again', async () => {
    const relay = await Relay.start(server.port)
    after(() => relay.close())
    const log = eventLog()
    const s = await session({ port: relay.port, onEvent: log.onEvent })
    await s.send(ws.file('ack-a.txt', 'one\n'))
    relay.cutWhen = (direction, chunk) => {
      const text = chunk.toString('latin1')
      return direction === 'down' && text.includes('"type":"ack"') && text.includes('"sequence":2')
    }
    const b = await s.send(ws.file('ack-b.txt', 'two\n'))
    assert.equal(b.sequence, 2)
    assert.equal(b.sha256, sha256(Buffer.from('two\n')))
    assert.deepEqual(log.types(), ['reconnecting', 'resumed', 'recovered'])
    assert.deepEqual(log.events[1], { type: 'resumed', lastSequence: 2 })
    const c = await s.send(ws.file('ack-c.txt', 'three\n'))
    const listed = await s.list()
    assert.deepEqual(
      listed.map((f) => f.storedAs),
      [listed[0]!.storedAs, b.storedAs, c.storedAs],
    )
    const folder = b.storedAs.split('/')[0]!
    assert.equal(ws.published().filter((p) => p.startsWith(`${folder}/`)).length, 3, 'each file stored once')
    const summary = await s.close()
    assert.equal(summary.files, 3)
  })

  it('gives up after its retries with the transport error, and says so on every later call', async () => {
    const relay = await Relay.start(server.port)
    const s = await session({ port: relay.port, reconnect: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 } })
    await relay.close()
    const failed = (err: unknown) => err instanceof TcpClientError && err.code === 'ERR_UNREACHABLE'
    await assert.rejects(s.send(ws.file('nowhere.txt', 'x')), failed)
    await assert.rejects(s.list(), failed)
  })

  it('refuses a wrong HMAC key with ERR_BAD_HMAC, and works with the right one', async () => {
    const signed = await startServer(ws.storage, { hmacKey: HMAC_KEY })
    after(() => signed.close())
    const file = ws.file('signed.txt', 'signed\n')
    const wrong = 'not-the-server-key-0123456789abc'
    await assert.rejects(TcpSession.connect({ port: signed.port, hmacKey: wrong }), (err) =>
      isAppError(err, 'ERR_BAD_HMAC'),
    )
    const [refused] = await sendStateless({ port: signed.port, hmacKey: wrong }, [file])
    assert.equal(refused && !refused.ok && refused.error.code, 'ERR_BAD_HMAC')
    const [unsigned] = await sendStateless({ port: signed.port }, [file])
    assert.equal(unsigned && !unsigned.ok && unsigned.error.code, 'ERR_BAD_HMAC')

    const [ok] = await sendStateless({ port: signed.port, hmacKey: HMAC_KEY }, [file])
    assert.ok(ok?.ok)
    const s = await TcpSession.connect({ port: signed.port, hmacKey: HMAC_KEY, heartbeatMs: 0 })
    const ack = await s.send(file)
    assert.equal(ack.sha256, sha256(Buffer.from('signed\n')))
    assert.equal((await s.list()).length, 1)
    assert.equal((await s.close()).files, 1)
  })

  describe('statelab tcp send (a child process)', () => {
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['bin/statelab.mjs', 'tcp', 'send', ...args], {
        cwd: REPO,
        env: { ...process.env, NO_COLOR: '1' },
      })

    it('prints one line per file and exits 0', async () => {
      const a = ws.file('cli-a.txt', 'from the command line\n')
      const b = ws.file('cli-b.png', PNG)
      const { stdout } = await cli('--port', String(server.port), a, b)
      const lines = stdout.trim().split('\n')
      assert.equal(lines.length, 2, stdout)
      assert.match(lines[0]!, /^cli-a\.txt\s+22 bytes\s+sha256 [0-9a-f]{12}\s+→ received_[0-9a-f]+\.txt$/)
      assert.match(
        lines[1]!,
        new RegExp(`^cli-b\\.png\\s+${PNG.length} bytes .* → received_[0-9a-f]+\\.png$`),
      )
    })

    it('in a session with --json, and exits 1 when a file fails', async () => {
      const a = ws.file('cli-c.txt', 'in a session\n')
      const failed = await cli(
        '--port',
        String(server.port),
        '--mode',
        'stateful',
        '--json',
        a,
        'missing.txt',
      )
        .then(() => assert.fail('expected exit code 1'))
        .catch((err: { code: number; stdout: string }) => err)
      assert.equal(failed.code, 1)
      const report = JSON.parse(failed.stdout)
      assert.equal(report.mode, 'stateful')
      assert.deepEqual(
        report.files.map((f: { ok: boolean; sequence?: number }) => [f.ok, f.sequence]),
        [
          [true, 1],
          [false, undefined],
        ],
      )
      assert.equal(report.files[0].sha256, sha256(Buffer.from('in a session\n')))
      assert.equal(report.files[1].error.code, 'ERR_FILE_NOT_FOUND')
      assert.equal(report.session.files, 1)
    })
  })
})

describe('TCP client across a server restart (SQLite session store)', () => {
  it('reconnects to the new server, resumes, and the session has every file exactly once', async () => {
    const ws = workspace()
    after(() => ws.dispose())
    const clock = new FakeClock(Date.now())
    const storePath = join(ws.dir, 'sessions.db')
    const stores: SqliteSessionStore[] = []
    const servers: TcpServer[] = []
    after(async () => {
      for (const server of servers) await server.close()
      for (const store of stores) store.close()
    })
    const start = async (port: number) => {
      const store = SqliteSessionStore.open({ path: storePath, clock })
      stores.push(store)
      const server = await startServer(ws.storage, { port, persistence: 'sqlite' }, { clock, store })
      servers.push(server)
      return server
    }
    const first = await start(0)
    const log = eventLog()
    const s = await TcpSession.connect({
      port: first.port,
      heartbeatMs: 0,
      reconnect: FAST_RECONNECT,
      onEvent: log.onEvent,
    })
    const contents = ['one\n', 'two\n', 'three\n'].map((text) => Buffer.from(text))
    const paths = contents.map((content, i) => ws.file(`restart-${i}.txt`, content))
    const acks = [await s.send(paths[0]!), await s.send(paths[1]!)]

    await first.close()
    stores[0]!.close()
    // The client meets a dead server and backs off until the new one listens on the same port.
    const third = s.send(paths[2]!)
    await log.next('reconnecting')
    await start(first.port)
    acks.push(await third)

    assert.ok(log.types().includes('resumed'))
    assert.deepEqual(
      acks.map((a) => a.sequence),
      [1, 2, 3],
    )
    const listed = await s.list()
    assert.deepEqual(
      listed.map((f) => [f.sequence, f.sha256]),
      contents.map((c, i) => [i + 1, sha256(c)]),
    )
    const folder = acks[0]!.storedAs.split('/')[0]!
    assert.deepEqual(
      ws.published().filter((p) => p.startsWith(`${folder}/`)),
      acks.map((a) => a.storedAs).sort(),
    )
    for (const [i, ack] of acks.entries()) assert.equal(sha256(ws.stored(ack.storedAs)), sha256(contents[i]!))
    const summary = await s.close()
    assert.equal(summary.files, 3)
    assert.ok(summary.reconnects >= 1)
  })
})
