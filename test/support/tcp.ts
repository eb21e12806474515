import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { FrameReader } from '../../src/tcp/frame-reader.ts'
import { encodeFrame } from '../../src/tcp/frames.ts'

/** A reply frame as the server sent it. */
export interface RawReply {
  readonly header: Record<string, unknown>
  readonly payload: Buffer
}

const WAIT_MS = 3000

/**
 * A raw TCP client for tests: writes whatever bytes a test wants (valid frames or not) and reads reply frames,
 * every wait bounded so that a server that never answers fails the test instead of hanging it.
 */
export class RawClient {
  readonly socket: Socket
  readonly #reader: FrameReader
  readonly #closed: Promise<void>

  private constructor(socket: Socket) {
    this.socket = socket
    this.#reader = new FrameReader(socket)
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()))
    socket.on('error', () => {})
  }

  /** Connects to 127.0.0.1:`port`, optionally from another loopback address (`localAddress: '127.0.0.2'`). */
  static async connect(port: number, options: { localAddress?: string } = {}): Promise<RawClient> {
    const socket = connect({ port, host: '127.0.0.1', ...options })
    await bounded(once(socket, 'connect'), 'connect')
    return new RawClient(socket)
  }

  /** Writes raw bytes. */
  send(bytes: string | Uint8Array): void {
    this.socket.write(bytes)
  }

  /** Writes one frame: `header` as a JSON line, then `payload`. */
  frame(header: Record<string, unknown>, payload?: string | Uint8Array): void {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload
    this.send(encodeFrame(header, bytes))
  }

  /** Sends a frame and returns the reply. */
  async request(header: Record<string, unknown>, payload?: string | Uint8Array): Promise<RawReply> {
    this.frame(header, payload)
    return this.reply()
  }

  /** The next reply frame. */
  async reply(): Promise<RawReply> {
    const line = await bounded(this.#reader.readLine(1 << 20), 'a reply header')
    if (line === undefined) throw new Error('the server closed the connection instead of replying')
    const header = JSON.parse(line) as Record<string, unknown>
    const chunks: Buffer[] = []
    await bounded(
      (async () => {
        for await (const chunk of this.#reader.payload(Number(header.size ?? 0))) chunks.push(chunk)
      })(),
      'a reply payload',
    )
    return { header, payload: Buffer.concat(chunks) }
  }

  /** Resolves once the server has ended the connection with nothing more to say; fails on any other frame. */
  async assertClosedByServer(): Promise<void> {
    const line = await bounded(this.#reader.readLine(1 << 20), 'the server to close the connection')
    if (line !== undefined) throw new Error(`expected the connection to close, got ${line}`)
    this.socket.end()
    await bounded(this.#closed, 'the socket to close')
  }

  /** Half-closes our side (the server still replies). */
  end(): void {
    this.socket.end()
  }

  /** Closes the connection and waits until it is closed. */
  async close(): Promise<void> {
    this.socket.destroy()
    await bounded(this.#closed, 'the socket to close')
  }
}

/** `promise`, or a failure naming `what` after a few seconds. */
export async function bounded<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits (polling every 10 ms, 3 s at most) until `check` holds; fails the test saying `what` otherwise. */
export async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (await check()) return
    await delay(10)
  }
  assert.fail(`timed out waiting until ${what}`)
}
