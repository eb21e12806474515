// The bench's own client of the session protocol (docs/protocol.md): frames written with the server's codec
// (`encodeFrame`), replies read with its `FrameReader`. No retries, no HMAC and no hashing on this side, so
// that it costs what the baselines' raw sockets cost and the figures are the server's.
import { connect, type Socket } from 'node:net'
import { FrameReader } from '../../src/tcp/frame-reader.ts'
import { encodeFrame, MAX_HEADER_BYTES } from '../../src/tcp/frames.ts'

/** A reply's header, as the server sent it (snake_case). */
export type ReplyHeader = Readonly<Record<string, unknown>>

/** An `error` reply, or a connection that failed while a reply was due. */
export class BenchClientError extends Error {
  readonly code: string

  constructor(code: string, message: string) {
    super(message)
    this.name = this.constructor.name
    this.code = code
  }
}

/** A connection silent this long while the bench waits on it is cut: every phase stays bounded in time. */
const SILENCE_MS = 30_000
const HOST = '127.0.0.1'

/** A connected socket to 127.0.0.1:`port`, without Nagle (every frame waits for its reply). */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port, noDelay: true })
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
  })
}

/** Writes `size` bytes as `chunk` over and over (never more in memory), waiting whenever the socket is full. */
export async function writeRepeated(socket: Socket, chunk: Uint8Array, size: number): Promise<void> {
  for (let left = size; left > 0; ) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left)
    left -= piece.length
    if (!socket.write(piece)) await drained(socket)
  }
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      socket.off('close', onClose)
      resolve()
    }
    const onClose = () => {
      socket.off('drain', onDrain)
      reject(new BenchClientError('ERR_CONNECTION_LOST', 'the connection closed while sending'))
    }
    socket.once('drain', onDrain)
    socket.once('close', onClose)
  })
}

/** One connection, one request at a time. */
export class FrameClient {
  readonly socket: Socket
  readonly #reader: FrameReader
  #error: Error | undefined

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('error', (err) => {
      this.#error = err
    })
    // Armed only while a reply is due: a held session may stay silent for as long as the bench likes.
    socket.on('timeout', () =>
      socket.destroy(new Error(`nothing moved for ${SILENCE_MS} ms while a reply was due`)),
    )
    this.#reader = new FrameReader(socket)
  }

  static async open(port: number): Promise<FrameClient> {
    return new FrameClient(await openSocket(port))
  }

  /** Sends one frame and returns its reply; throws a `BenchClientError` for an `error` reply. */
  async request(header: Readonly<Record<string, unknown>>, payload?: Uint8Array): Promise<ReplyHeader> {
    const reply = this.#reply()
    this.socket.write(encodeFrame(header, payload))
    return reply
  }

  /** Sends a header announcing `size` bytes, then `size` bytes as repeats of `chunk`; returns the reply. */
  async stream(
    header: Readonly<Record<string, unknown>>,
    chunk: Uint8Array,
    size: number,
  ): Promise<ReplyHeader> {
    const reply = this.#reply()
    // Read while writing: a refusal arrives (and the connection closes) before the payload is all sent.
    reply.catch(() => {})
    this.socket.write(encodeFrame({ ...header, size }))
    await writeRepeated(this.socket, chunk, size)
    return reply
  }

  /** Closes the connection at once (the server sees its end and drops it). */
  destroy(): void {
    this.socket.destroy()
  }

  async #reply(): Promise<ReplyHeader> {
    this.socket.setTimeout(SILENCE_MS)
    try {
      return await this.#readReply()
    } finally {
      this.socket.setTimeout(0)
    }
  }

  async #readReply(): Promise<ReplyHeader> {
    const line = await this.#reader.readLine(MAX_HEADER_BYTES)
    if (line === undefined) {
      const cause = this.#error ? `: ${this.#error.message}` : ''
      throw new BenchClientError('ERR_CONNECTION_LOST', `the server closed the connection${cause}`)
    }
    const header = JSON.parse(line) as ReplyHeader
    // Only a `files` reply has a payload; the bench never asks for one, but the framing must hold.
    await this.#reader.skip(typeof header.size === 'number' ? header.size : 0)
    if (header.type === 'error') throw new BenchClientError(String(header.code), String(header.message))
    return header
  }
}

const NO_PAYLOAD = 'application/octet-stream'

/** A stateless `transfer` header (version 2.0) for a payload of `size` bytes. */
export function statelessHeader(mimeType: string, size: number, filename?: string): Record<string, unknown> {
  return {
    version: '2.0',
    mime_type: mimeType,
    size,
    ...(filename !== undefined && { filename }),
    session: { id: null, mode: 'stateless', action: 'transfer' },
  }
}

/** A stateful session on one connection: `connect`, then each frame under the next sequence number. */
export class BenchSession {
  readonly client: FrameClient
  readonly #id: string
  #sequence = 0

  private constructor(client: FrameClient, id: string) {
    this.client = client
    this.#id = id
  }

  /** Sends `connect` on `client`. */
  static async connect(client: FrameClient): Promise<BenchSession> {
    const reply = await client.request({
      version: '2.0',
      mime_type: NO_PAYLOAD,
      size: 0,
      session: { id: null, mode: 'stateful', action: 'connect' },
    })
    const id = (reply.session as { id?: unknown } | undefined)?.id
    if (reply.type !== 'session_created' || typeof id !== 'string')
      throw new BenchClientError('ERR_PROTOCOL', `expected session_created, got ${JSON.stringify(reply)}`)
    return new BenchSession(client, id)
  }

  heartbeat(): Promise<ReplyHeader> {
    return this.#send('heartbeat', 'pong', NO_PAYLOAD)
  }

  transfer(payload: Uint8Array, mimeType: string, filename?: string): Promise<ReplyHeader> {
    return this.#send('transfer', 'ack', mimeType, payload, filename)
  }

  disconnect(): Promise<ReplyHeader> {
    return this.#send('disconnect', 'session_closed', NO_PAYLOAD)
  }

  async #send(
    action: string,
    expected: string,
    mimeType: string,
    payload?: Uint8Array,
    filename?: string,
  ): Promise<ReplyHeader> {
    const sequence = this.#sequence + 1
    const reply = await this.client.request(
      {
        version: '2.0',
        mime_type: mimeType,
        size: payload?.length ?? 0,
        ...(filename !== undefined && { filename }),
        session: { id: this.#id, mode: 'stateful', action, sequence },
      },
      payload,
    )
    if (reply.type !== expected)
      throw new BenchClientError('ERR_PROTOCOL', `expected ${expected}, got ${JSON.stringify(reply)}`)
    this.#sequence = sequence
    return reply
  }
}

/**
 * The baselines' client: `size` bytes (repeats of `chunk`) on a plain connection, then FIN; resolves with the
 * one line the receiver answers once it has closed its file.
 */
export async function sendRaw(port: number, chunk: Uint8Array, size: number): Promise<string> {
  const socket = await openSocket(port)
  try {
    socket.setTimeout(SILENCE_MS, () => socket.destroy(new Error(`nothing moved for ${SILENCE_MS} ms`)))
    const answer = new Promise<string>((resolve, reject) => {
      let text = ''
      socket.setEncoding('utf8')
      socket.on('data', (data: string) => {
        text += data
      })
      socket.once('end', () => resolve(text.trim()))
      socket.once('error', reject)
      socket.once('close', () =>
        reject(new BenchClientError('ERR_CONNECTION_LOST', 'closed without an answer')),
      )
    })
    answer.catch(() => {})
    await writeRepeated(socket, chunk, size)
    socket.end()
    return await answer
  } finally {
    socket.destroy()
  }
}
