import { createHash } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { AppError, type ErrorCode } from '../../core/errors.ts'
import { FrameReader } from '../frame-reader.ts'
import { encodeFrame, isFatal, MAX_HEADER_BYTES, type RequestHeader, wireHeader } from '../frames.ts'
import type { PayloadSource } from './file-source.ts'
import { TcpClientError } from './tcp-client-error.ts'

/** A `files` listing is the only reply with a payload; anything near this size is not one. */
const MAX_REPLY_PAYLOAD_BYTES = 64 * 1024 * 1024

/** A reply frame: its header as sent (snake_case) and its payload (empty unless `size` > 0). */
export interface Reply {
  readonly header: Readonly<Record<string, unknown>>
  readonly payload: Buffer
}

export interface ConnectionOptions {
  readonly host: string
  readonly port: number
  /** Longest silence while connecting or while a reply is due. */
  readonly timeoutMs: number
}

/** A payload to stream after the header, and who to tell as it goes. */
export interface RequestBody {
  readonly source: PayloadSource
  readonly onProgress?: ((sent: number, total: number) => void) | undefined
}

/**
 * One TCP connection speaking frames, one request at a time: write a header and stream its payload, read
 * the one reply. Every wait is bounded by `timeoutMs` of silence, after which the socket is destroyed.
 */
export class FrameConnection {
  readonly #socket: Socket
  readonly #reader: FrameReader
  readonly #where: string
  readonly #timeoutMs: number
  /** Why the socket was destroyed on purpose (a timeout), reported instead of a bare "connection lost". */
  #failure: TcpClientError | undefined
  #socketError: Error | undefined
  #closed = false

  /** Connects, or throws `ERR_UNREACHABLE`. */
  static open(options: ConnectionOptions): Promise<FrameConnection> {
    const where = `${options.host}:${options.port}`
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port })
      const fail = (err: Error) => {
        socket.destroy()
        reject(new TcpClientError('ERR_UNREACHABLE', `cannot reach ${where}: ${err.message}`, { cause: err }))
      }
      const onTimeout = () => fail(new Error(`no connection within ${options.timeoutMs} ms`))
      socket.setTimeout(options.timeoutMs)
      socket.once('timeout', onTimeout)
      socket.once('error', fail)
      socket.once('connect', () => {
        socket.off('error', fail)
        socket.off('timeout', onTimeout)
        socket.setTimeout(0)
        resolve(new FrameConnection(socket, where, options.timeoutMs))
      })
    })
  }

  private constructor(socket: Socket, where: string, timeoutMs: number) {
    this.#socket = socket
    this.#where = where
    this.#timeoutMs = timeoutMs
    // Headers are small and each waits for a reply: Nagle would only add latency.
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 10_000)
    socket.on('error', (err) => {
      this.#socketError = err
    })
    socket.on('close', () => {
      this.#closed = true
    })
    socket.on('timeout', () => {
      this.#failure = new TcpClientError(
        'ERR_REPLY_TIMEOUT',
        `nothing moved on the connection to ${where} for ${timeoutMs} ms while a reply was due`,
      )
      socket.destroy()
    })
    this.#reader = new FrameReader(socket)
  }

  /** False once either side ended the connection, as far as this side has seen. */
  get usable(): boolean {
    return !this.#closed && !this.#socket.destroyed && this.#socket.writable
  }

  /**
   * Sends one frame and returns its reply (an `error` reply included: see {@link expectReply}) and the sha256
   * of the payload bytes sent. Throws a `TcpClientError` when the connection fails first, and an `AppError`
   * when the payload source fails (the connection is then destroyed: its framing is lost).
   */
  async request(header: RequestHeader, body?: RequestBody): Promise<{ reply: Reply; sha256: string }> {
    if (!this.usable) throw this.#lost()
    this.#socket.setTimeout(this.#timeoutMs)
    try {
      const hash = createHash('sha256')
      const written = this.#write(encodeFrame(wireHeader(header)))
      // Read while writing: a server refusing a frame may answer (and close) before the payload is all sent.
      const reply = this.#readReply()
      // After a fatal refusal the server closes the connection: the rest of the payload would go nowhere.
      const refused = { early: false }
      reply.then(
        (r) => {
          refused.early = isFatalReply(r)
        },
        () => {},
      )
      let writeError: unknown
      try {
        await written
        if (body) await this.#writePayload(body, hash, refused)
      } catch (err) {
        if (!(err instanceof TcpClientError)) {
          this.destroy()
          throw err
        }
        writeError = err
      }
      try {
        const result = { reply: await reply, sha256: hash.digest('hex') }
        if (isFatalReply(result.reply)) this.destroy()
        return result
      } catch (err) {
        throw writeError ?? err
      }
    } finally {
      if (!this.#socket.destroyed) this.#socket.setTimeout(0)
    }
  }

  /** Ends the connection: flushes what was written, sends FIN, and lets go without waiting for the server. */
  async close(): Promise<void> {
    if (this.#socket.destroyed) return
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()))
    this.#socket.end(() => this.#socket.destroy())
    // A server that stopped reading would keep 'finish' from ever coming.
    const timer = setTimeout(() => this.#socket.destroy(), this.#timeoutMs).unref()
    await closed
    clearTimeout(timer)
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#socket.destroy()
  }

  async #writePayload(
    body: RequestBody,
    hash: ReturnType<typeof createHash>,
    refused: { readonly early: boolean },
  ): Promise<void> {
    const { source, onProgress } = body
    let sent = 0
    try {
      for await (const chunk of source.open()) {
        if (refused.early) return
        if (sent + chunk.byteLength > source.size) {
          throw new AppError(
            'ERR_FILE_INVALID',
            `${source.name} has more than the ${source.size} bytes announced: it changed while being sent`,
          )
        }
        hash.update(chunk)
        await this.#write(chunk)
        sent += chunk.byteLength
        onProgress?.(sent, source.size)
      }
    } catch (err) {
      if (err instanceof TcpClientError || err instanceof AppError) throw err
      throw new AppError('ERR_FILE_INVALID', `cannot read ${source.name}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    if (sent !== source.size) {
      throw new AppError(
        'ERR_FILE_INVALID',
        `${source.name} ended after ${sent} of the ${source.size} bytes announced: it changed while being sent`,
      )
    }
  }

  /** Writes with backpressure: waits for `drain`, or fails when the socket closes first. */
  #write(chunk: Uint8Array): Promise<void> {
    if (!this.usable) return Promise.reject(this.#lost())
    if (this.#socket.write(chunk)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const settle = (err?: TcpClientError) => {
        this.#socket.off('drain', onDrain)
        this.#socket.off('close', onClose)
        if (err) reject(err)
        else resolve()
      }
      const onDrain = () => settle()
      const onClose = () => settle(this.#lost())
      this.#socket.on('drain', onDrain)
      this.#socket.on('close', onClose)
    })
  }

  async #readReply(): Promise<Reply> {
    let line: string | undefined
    try {
      line = await this.#reader.readLine(MAX_HEADER_BYTES)
    } catch (err) {
      if ((err as AppError).code === 'ERR_HEADER_TOO_LARGE') throw this.#malformed('a reply header too long')
      throw this.#lost(err)
    }
    if (line === undefined) throw this.#lost()
    let header: unknown
    try {
      header = JSON.parse(line)
    } catch {
      throw this.#malformed('a reply header that is not JSON')
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header))
      throw this.#malformed('a reply header that is not a JSON object')
    const { size = 0 } = header as Record<string, unknown>
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_REPLY_PAYLOAD_BYTES)
      throw this.#malformed(`a reply with an impossible size ${JSON.stringify(size)}`)
    const chunks: Buffer[] = []
    try {
      for await (const chunk of this.#reader.payload(size)) chunks.push(Buffer.from(chunk))
    } catch (err) {
      throw this.#lost(err)
    }
    return { header: header as Record<string, unknown>, payload: Buffer.concat(chunks) }
  }

  #lost(cause?: unknown): TcpClientError {
    if (this.#failure) return this.#failure
    const why = this.#socketError ? `: ${this.#socketError.message}` : ''
    return new TcpClientError('ERR_CONNECTION_LOST', `the connection to ${this.#where} was lost${why}`, {
      cause: this.#socketError ?? cause,
    })
  }

  #malformed(what: string): AppError {
    this.destroy()
    return new AppError('ERR_PROTOCOL', `${this.#where} sent ${what}`)
  }
}

/** An `error` reply after which the server closes the connection. */
function isFatalReply(reply: Reply): boolean {
  const { type, code } = reply.header
  return type === 'error' && typeof code === 'string' && isFatal(code as ErrorCode)
}

/**
 * The reply's header when its `type` is `type`. An `error` reply becomes an `AppError` with the server's code
 * (and `retry_after`); any other type is an `ERR_PROTOCOL`.
 */
export function expectReply(reply: Reply, type: string): Readonly<Record<string, unknown>> {
  const { header } = reply
  if (header.type === type) return header
  if (header.type === 'error') throw replyError(reply)
  throw new AppError('ERR_PROTOCOL', `expected a "${type}" reply, got ${JSON.stringify(header.type)}`)
}

/** An `error` reply as an `AppError` with the server's code, message and `retry_after`. */
export function replyError(reply: Reply): AppError {
  const { header } = reply
  const code = typeof header.code === 'string' ? (header.code as ErrorCode) : 'ERR_PROTOCOL'
  const message = typeof header.message === 'string' ? header.message : `the server refused: ${code}`
  const retryAfter = typeof header.retry_after === 'number' ? header.retry_after : undefined
  return new AppError(code, message, retryAfter === undefined ? {} : { retryAfter })
}
