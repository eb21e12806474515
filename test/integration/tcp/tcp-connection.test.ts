import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { pino } from 'pino'
import { FakeClock } from '../../../src/core/clock.ts'
import { FsBlobStore } from '../../../src/stores/blobs/fs/index.ts'
import { MemorySessionStore } from '../../../src/stores/memory/index.ts'
import { ConnectionSet } from '../../../src/tcp/connection-set.ts'
import { FrameHandler } from '../../../src/tcp/frame-handler.ts'
import { loadTcpConfig } from '../../../src/tcp/tcp-config.ts'
import { type ConnectionShared, TcpConnection } from '../../../src/tcp/tcp-connection.ts'
import { TcpMetrics } from '../../../src/tcp/tcp-metrics.ts'
import { TcpSessions } from '../../../src/tcp/tcp-sessions.ts'
import { RawClient, type RawReply, until } from '../../support/tcp.ts'

// Connections served by `TcpConnection` directly, so that a test can run the timeout sweep itself at any
// time it likes instead of waiting for the timer.
const IDLE_MS = 300_000
const FRAME_MS = 30_000
const storage = mkdtempSync(join(tmpdir(), 'statelab-tcp-connection-'))
const clock = new FakeClock(Date.now())
const store = new MemorySessionStore({ clock })
const connections = new ConnectionSet<TcpConnection>(FRAME_MS)
const clients = new Set<RawClient>()
const server = createServer({ allowHalfOpen: true, pauseOnConnect: true })
let port = 0

before(async () => {
  const config = loadTcpConfig({
    overrides: {
      port: 0,
      storagePath: storage,
      requestTimeout: FRAME_MS / 1000,
      sessionTimeout: IDLE_MS / 1000,
    },
    env: {},
  })
  const metrics = new TcpMetrics()
  const sessions = new TcpSessions({
    store,
    clock,
    sessionTimeoutMs: IDLE_MS,
    maxSessions: 100,
    connectRate: 1000,
    bindToIp: false,
  })
  const blobs = await FsBlobStore.open(storage)
  const handler = new FrameHandler({ config, clock, sessions, blobs, metrics, claimedNames: new Set() })
  const shared: ConnectionShared = {
    config,
    metrics,
    handler,
    connections,
    log: pino({ level: 'silent' }),
    idleTimeoutMs: IDLE_MS,
    frameTimeoutMs: FRAME_MS,
  }
  let id = 0
  server.on('connection', (socket) => TcpConnection.serve(socket, shared, ++id))
  await once(server.listen(0, '127.0.0.1'), 'listening')
  port = (server.address() as { port: number }).port
})
after(async () => {
  await Promise.all([...clients].map((client) => client.close()))
  await connections.close(1000)
  await new Promise((resolve) => server.close(resolve))
  await store.close()
  rmSync(storage, { recursive: true, force: true })
})

async function connect(): Promise<RawClient> {
  const client = await RawClient.connect(port)
  clients.add(client)
  return client
}

/** Polls `check` until it holds; fails after about 3 s. */
/**
 * The next reply, sweeping as if `aheadMs` had passed until it comes: the server only starts a frame's shorter
 * wait once the bytes sent before have reached it, which the test cannot see.
 */
async function replyAfterSweeps(client: RawClient, aheadMs: number): Promise<RawReply> {
  let replied = false
  const reply = client.reply().finally(() => {
    replied = true
  })
  while (!replied) {
    connections.sweep(performance.now() + aheadMs)
    await delay(5)
  }
  return reply
}

const v1 = (size: number) => ({ mime_type: 'text/plain', size })
const tempFiles = () => readdirSync(join(storage, '.tmp'))

describe('TcpConnection between frames', () => {
  it('holds no timer of its own while idle', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length
    const before = timers()
    const idle = await Promise.all(Array.from({ length: 50 }, () => connect()))
    await until('the server holds every connection', () => connections.size === 50)
    assert.ok(timers() <= before, `${timers() - before} more timers with 50 idle connections`)
    await Promise.all(idle.map((client) => client.close()))
    await until('the server let every connection go', () => connections.size === 0)
  })

  it('is closed by the sweep once idle past its idle timeout, and not before', async () => {
    const client = await connect()
    assert.equal((await client.request(v1(2), 'hi')).header.type, 'ack')
    connections.sweep(performance.now() + IDLE_MS - 5000)
    assert.equal((await client.request(v1(2), 'ok')).header.type, 'ack')
    connections.sweep(performance.now() + IDLE_MS + 1)
    await client.assertClosedByServer()
  })

  it('answers a header that stalls past request_timeout with ERR_PROTOCOL, and closes', async () => {
    const client = await connect()
    client.send('{"mime_type":"text/plain",')
    const reply = await replyAfterSweeps(client, FRAME_MS + 1)
    assert.equal(reply.header.code, 'ERR_PROTOCOL')
    assert.match(String(reply.header.message), /did not end within 30 s/)
    await client.assertClosedByServer()
  })

  it('answers a payload that stalls past request_timeout with ERR_PAYLOAD_INCOMPLETE, storing nothing', async () => {
    const client = await connect()
    client.frame(v1(10))
    client.send('abc')
    const reply = await replyAfterSweeps(client, FRAME_MS + 1)
    assert.equal(reply.header.code, 'ERR_PAYLOAD_INCOMPLETE')
    await client.assertClosedByServer()
    await until('no temporary file is left', () => tempFiles().length === 0)
  })

  it('answers frames sent faster than it stores them, in order, holding back the rest', async () => {
    // Three payloads of 200 KiB in one write: more than the connection buffers while it is busy.
    const client = await connect()
    const payloads = ['a', 'b', 'c'].map((letter) => Buffer.alloc(200 * 1024, letter))
    for (const payload of payloads) client.frame(v1(payload.length), payload)
    for (const payload of payloads) {
      const { header } = await client.reply()
      assert.equal(header.type, 'ack', JSON.stringify(header))
      assert.equal(header.file_size, payload.length)
    }
    client.end()
    await client.assertClosedByServer()
  })
})
