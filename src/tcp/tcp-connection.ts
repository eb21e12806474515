import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { AppError } from '../core/errors.ts'
import type { ConnectionSet, SweptConnection } from './connection-set.ts'
import {
  errorReply,
  type Frame,
  type FrameHandler,
  type FrameSource,
  type LogLevel,
  type Reply,
  toAppError,
} from './frame-handler.ts'
import { FrameBuffer, headerCutShort, readPayload } from './frame-reader.ts'
import { encodeFrame, isFatal, MAX_HEADER_BYTES, parseRequestHeader } from './frames.ts'
import type { TcpConfig } from './tcp-config.ts'
import type { TcpMetrics } from './tcp-metrics.ts'

/** What every connection of one server shares. */
export interface ConnectionShared {
  readonly config: TcpConfig
  readonly metrics: TcpMetrics
  readonly handler: FrameHandler
  readonly connections: ConnectionSet<TcpConnection>
  /** The server's logger: a connection makes its own child of it only once it has something to log. */
  readonly log: Logger
  /** Longest wait for the first byte of a frame. */
  readonly idleTimeoutMs: number
  /** Longest wait for each next byte once a frame has begun (the rest of a header, a payload, a drain). */
  readonly frameTimeoutMs: number
}

/** How long a connection that was refused, failed or finished may take to read its last reply before it is cut. */
const LINGER_MS = 2000
/**
 * Bytes a connection buffers while it is busy with a frame before it stops reading (TCP then holds the rest):
 * as much as the file store writes at once, so the socket keeps filling while a write is on its way to disk.
 */
const HIGH_WATER_BYTES = 1024 * 1024

/** The connection a socket carries, for the listeners below: shared by every socket, not made per connection. */
const CONNECTION = Symbol('statelab.tcpConnection')
type ServedSocket = Socket & { [CONNECTION]: TcpConnection }

function onData(this: ServedSocket, chunk: Buffer): void {
  this[CONNECTION].receive(chunk)
}
function onEnd(this: ServedSocket): void {
  this[CONNECTION].inputEnded()
}
function onClose(this: ServedSocket): void {
  this[CONNECTION].closed()
}
function onError(this: ServedSocket, err: Error): void {
  this[CONNECTION].log('debug', 'socket error', { err: err.message })
}

/**
 * Serves frames on one socket (docs/protocol.md) until the peer stops sending, stalls, or sends something after
 * which the next frame cannot be found.
 *
 * Between frames a connection is only a `data` listener and a buffer: no promise, no timer (the
 * {@link ConnectionSet} sweep compares its deadline with the time), no logger until it logs. Once a header
 * line is complete the frame is handled asynchronously, its payload pulled from the socket as it arrives
 * (and streamed on, never buffered whole); the connection is back to listening when the reply is sent.
 * It leaves its set once its socket is closed and its last frame cleaned up (no temporary file open).
 */
export class TcpConnection implements FrameSource, SweptConnection {
  readonly socket: Socket
  readonly clientAddress: string
  deadline = Number.POSITIVE_INFINITY
  readonly #shared: ConnectionShared
  readonly #id: number
  /** Bytes received and not yet read; none is kept while the connection waits with nothing buffered. */
  #buffer: FrameBuffer | undefined
  #log: Logger | undefined
  /** Resolves the wait of a payload read for more bytes: true when some arrived, false when none will. */
  #waiter: ((more: boolean) => void) | undefined
  /** A frame is being handled (or a last error reply sent). */
  #busy = false
  /** No more bytes will be read: the peer finished sending, or a wait timed out, or the socket closed. */
  #ended = false
  /** A wait ran out of time. */
  #timedOut = false
  /** Our side is ended (or being ended after an error): what arrives is dropped, the socket lingers. */
  #closing = false
  #socketClosed = false
  #released = false

  /** Serves `socket` from now on (its reading is paused until then); `id` names it in logs. */
  static serve(socket: Socket, shared: ConnectionShared, id: number): TcpConnection {
    return new TcpConnection(socket, shared, id)
  }

  private constructor(socket: Socket, shared: ConnectionShared, id: number) {
    this.socket = socket
    this.clientAddress = normalizeAddress(socket.remoteAddress)
    this.#shared = shared
    this.#id = id
    ;(socket as ServedSocket)[CONNECTION] = this
    socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('close', onClose)
    socket.on('error', onError)
    shared.connections.add(this)
    this.log('debug', 'connection opened')
    this.#next()
  }

  /** Logs through the connection's child logger, made on first use: never for a level that is off. */
  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    const base = this.#shared.log
    if (!base.isLevelEnabled(level)) return
    this.#log ??= base.child({ conn: this.#id, remote: this.clientAddress })
    this.#log[level](fields, message)
  }

  /** The current frame's payload, `size` bytes as they arrive (see {@link FrameSource}). */
  payload(size: number): AsyncGenerator<Buffer> {
    this.#buffer ??= new FrameBuffer()
    return readPayload(this.#buffer, size, () => this.#more())
  }

  /** The socket's `data`: bytes for the current payload, or towards the next header. */
  receive(chunk: Buffer): void {
    if (this.#closing || this.#ended) return
    this.#buffer ??= new FrameBuffer()
    this.#buffer.push(chunk)
    if (this.#waiter) {
      this.#wake(true)
      return
    }
    if (!this.#busy) this.#next()
    else if (this.#buffer.length >= HIGH_WATER_BYTES) this.socket.pause()
  }

  /** The socket's `end`: the peer will send nothing more. */
  inputEnded(): void {
    this.#ended = true
    this.#wake(false)
    if (!this.#busy) this.#next()
  }

  /** The socket's `close`: the connection lets go of its slot once its last frame is cleaned up. */
  closed(): void {
    this.#socketClosed = true
    this.#ended = true
    this.deadline = Number.POSITIVE_INFINITY
    this.#wake(false)
    if (!this.#busy) this.#release()
  }

  /** Called by the sweep once `deadline` has passed: the wait in progress gave up. */
  expire(): void {
    this.deadline = Number.POSITIVE_INFINITY
    if (this.#closing) {
      this.socket.destroy()
      return
    }
    this.#timedOut = true
    this.#ended = true
    if (this.#busy) {
      // A payload read is waiting: it ends early, and the frame fails with ERR_PAYLOAD_INCOMPLETE.
      this.#wake(false)
      return
    }
    if (!this.#buffer?.length) this.log('debug', 'closing a connection idle between frames')
    this.#next()
  }

  /** Cuts the connection at once. */
  destroy(): void {
    this.socket.destroy()
  }

  /** Starts the next frame if its header line is complete, or waits for more bytes (or finishes). */
  #next(): void {
    if (this.#closing || this.#socketClosed) return
    let line: string | undefined
    try {
      line = this.#buffer?.takeLine(MAX_HEADER_BYTES)
    } catch (err) {
      this.#run(() => this.#fail(toAppError(err, this), '2.0'))
      return
    }
    if (line !== undefined) {
      const header = line
      this.#run(() => this.#serve(header))
    } else if (!this.#ended) {
      const { idleTimeoutMs, frameTimeoutMs } = this.#shared
      const idle = !this.#buffer?.length
      if (idle) this.#buffer = undefined
      this.deadline = performance.now() + (idle ? idleTimeoutMs : frameTimeoutMs)
      this.socket.resume()
    } else if (this.#buffer?.length) {
      this.#run(() => this.#fail(headerCutShort(), '2.0'))
    } else {
      // The peer finished sending (or stayed silent past the idle timeout): finish our side too.
      this.#end()
    }
  }

  /** Runs `task` as the connection's one piece of work; then goes on with the next frame, or lets go. */
  #run(task: () => Promise<boolean>): void {
    this.#busy = true
    this.deadline = Number.POSITIVE_INFINITY
    task().then(
      (goOn) => {
        this.#busy = false
        if (this.#socketClosed) this.#release()
        else if (goOn) this.#next()
      },
      (err: unknown) => {
        this.log('error', 'connection handler failed', { err })
        this.#busy = false
        this.socket.destroy()
        if (this.#socketClosed) this.#release()
      },
    )
  }

  /** Handles the frame whose header is `line`; false when the connection is to stop reading frames. */
  async #serve(line: string): Promise<boolean> {
    const { config, metrics, handler } = this.#shared
    const version = replyVersion(line)
    let parsed: ReturnType<typeof parseRequestHeader>
    try {
      parsed = parseRequestHeader(line, config.maxRequestSize)
    } catch (err) {
      return this.#fail(toAppError(err, this), version)
    }
    if ('error' in parsed) {
      try {
        await this.#skip(parsed.size)
      } catch (err) {
        return this.#fail(toAppError(err, this), version)
      }
      metrics.frames.inc({ action: 'unknown', mode: 'unknown' })
      await this.#send(errorReply(parsed.error, version))
      return !this.socket.destroyed
    }
    const frame: Frame = { header: parsed.header, remaining: parsed.header.size, source: this }
    const session = frame.header.session
    metrics.frames.inc({ action: session?.action ?? 'transfer', mode: session?.mode ?? 'stateless' })
    let reply: Reply
    try {
      reply = await handler.handle(frame)
    } catch (err) {
      const error = toAppError(err, this)
      if (isFatal(error.code)) return this.#fail(error, version)
      try {
        // A refused frame's payload is read and dropped, so that the next frame is found where it starts.
        await this.#skip(frame.remaining)
      } catch (skipErr) {
        return this.#fail(toAppError(skipErr, this), version)
      }
      this.log('debug', 'frame refused', { code: error.code, action: session?.action })
      reply = errorReply(error, version)
    }
    await this.#send(reply)
    return !this.socket.destroyed
  }

  async #skip(size: number): Promise<void> {
    for await (const _ of this.payload(size));
  }

  /** Waits for more payload bytes; false when none will come (the peer ended, stalled, or is gone). */
  #more(): Promise<boolean> {
    if (this.#ended) return Promise.resolve(false)
    this.deadline = performance.now() + this.#shared.frameTimeoutMs
    this.socket.resume()
    return new Promise((resolve) => {
      this.#waiter = resolve
    })
  }

  #wake(more: boolean): void {
    const waiter = this.#waiter
    if (!waiter) return
    this.#waiter = undefined
    this.deadline = Number.POSITIVE_INFINITY
    waiter(more)
  }

  async #send(reply: Reply): Promise<void> {
    const socket = this.socket
    if (socket.destroyed || socket.writableEnded) return
    if (reply.header.type === 'error') this.#shared.metrics.errors.inc({ code: String(reply.header.code) })
    if (!socket.write(encodeFrame(reply.header, reply.payload)))
      await drained(socket, this.#shared.frameTimeoutMs)
  }

  /** Replies, then closes: after this error the next frame cannot be found. */
  async #fail(err: AppError, version: string): Promise<false> {
    const error = this.#timedOut ? timeoutError(err, this.#shared.config.requestTimeout) : err
    this.log('info', 'closing the connection after a framing error', {
      code: error.code,
      reason: error.message,
    })
    // What the peer still sends is read and dropped, so that it can finish sending and see our FIN.
    this.#closing = true
    this.#ended = true
    this.#buffer = undefined
    if (!this.socket.destroyed) this.socket.resume()
    await this.#send(errorReply(error, version))
    this.#end()
    return false
  }

  /** Ends our side; the socket is cut if the peer has not closed it within the linger time. */
  #end(): void {
    this.#closing = true
    this.socket.end()
    this.socket.resume()
    this.deadline = performance.now() + LINGER_MS
  }

  #release(): void {
    if (this.#released) return
    this.#released = true
    const { connections, metrics } = this.#shared
    connections.delete(this)
    metrics.openConnections.set(connections.size)
    this.log('debug', 'connection closed')
  }
}

/** A framing error caused by a stall rather than an early end, said so. */
function timeoutError(err: AppError, seconds: number): AppError {
  if (err.code === 'ERR_PAYLOAD_INCOMPLETE') {
    return new AppError(
      err.code,
      `No payload bytes arrived for ${seconds} s (request_timeout); nothing was stored`,
    )
  }
  if (err.code === 'ERR_PROTOCOL') {
    return new AppError(err.code, `The header did not end within ${seconds} s (request_timeout)`)
  }
  return err
}

/** The version to answer a header line in: "1" for a week 01 header (an object without `version`). */
function replyVersion(line: string): string {
  try {
    const raw: unknown = JSON.parse(line)
    return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !('version' in raw) ? '1' : '2.0'
  } catch {
    return '2.0'
  }
}

/** `::ffff:127.0.0.1` (IPv4 on a dual-stack socket) as `127.0.0.1`, so that binding compares like with like. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown'
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

function drained(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      socket.off('drain', done)
      socket.off('close', done)
      resolve()
    }
    // A peer that stops reading our replies holds its connection no longer than a stalled request would.
    const timer = setTimeout(() => {
      socket.destroy()
      done()
    }, timeoutMs)
    socket.on('drain', done)
    socket.on('close', done)
  })
}
