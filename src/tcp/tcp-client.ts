import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Clock, systemClock } from '../core/clock.ts'
import { AppError, isAppError } from '../core/errors.ts'
import type { TcpStoredFile } from '../core/sessions/session.ts'
import { type PayloadInput, type PayloadSource, resolvePayload } from './client/file-source.ts'
import {
  type ConnectionOptions,
  expectReply,
  FrameConnection,
  type Reply,
  type RequestBody,
  replyError,
} from './client/frame-connection.ts'
import { isTransportError, TcpClientError } from './client/tcp-client-error.ts'
import { type Action, frameMac, type RequestHeader } from './frames.ts'

export type { PayloadInput } from './client/file-source.ts'
export type { TcpClientErrorCode } from './client/tcp-client-error.ts'
export { isTransportError, TcpClientError }

export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_PORT = 65432
const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_RECONNECT: ReconnectPolicy = Object.freeze({ retries: 5, baseDelayMs: 100, maxDelayMs: 5_000 })
const NO_PAYLOAD_TYPE = 'application/octet-stream'

/** Where the server is and how long to wait for it; shared by both modes. */
export interface TcpClientOptions {
  /** `127.0.0.1` by default. */
  readonly host?: string
  /** 65432 by default. */
  readonly port?: number
  /** The server's `hmac_key`: every version 2.0 frame then carries an HMAC (docs/protocol.md 3.4). */
  readonly hmacKey?: string | Buffer
  /** Longest silence while connecting or while a reply is due, in ms (10 s by default). */
  readonly timeoutMs?: number
}

export interface StatelessOptions extends TcpClientOptions {
  /** `'1'` sends week 01 frames (`{"mime_type", "size"}`, no HMAC); `'2.0'` by default. */
  readonly version?: '1' | '2.0'
  readonly onProgress?: (name: string, sent: number, total: number) => void
  /** Called as each file is done, before the next one starts. */
  readonly onResult?: (result: TransferResult) => void
}

/** The server's `ack`, checked against what was sent. */
export interface TransferAck {
  readonly name: string
  /** Payload bytes sent (and, as the matching sha256 shows, stored). */
  readonly bytes: number
  readonly mimeType: string
  readonly fileId: string
  /** Path relative to the server's storage root. */
  readonly storedAs: string
  /** Hex sha256 of the stored bytes; equal to that of the bytes sent, or the transfer fails. */
  readonly sha256: string
  /** Stateful transfers only. */
  readonly sequence?: number
}

/** One file of a batch: its ack, or why it failed. */
export type TransferResult =
  | { readonly name: string; readonly ok: true; readonly ack: TransferAck }
  | { readonly name: string; readonly ok: false; readonly error: AppError | TcpClientError }

/**
 * Sends each file as a stateless transfer and reports each outcome; a failed file does not stop the rest.
 * Version 2.0 frames share one connection (a new one is opened after a server closes it); version 1 frames
 * get a connection each, as a week 01 client did. A transfer cut off by a lost connection is reported, not
 * retried: a stateless frame has no sequence number, so re-sending one whose ack was lost would store it twice.
 *
 * @example
 * const results = await sendStateless({ port: 65432 }, ['a.txt', 'b.png'])
 * for (const r of results) console.log(r.name, r.ok ? r.ack.storedAs : r.error.code)
 */
export async function sendStateless(
  options: StatelessOptions,
  files: readonly PayloadInput[],
): Promise<TransferResult[]> {
  const settings = resolveOptions(options, 'sendStateless')
  const version = options.version ?? '2.0'
  if (version !== '1' && version !== '2.0')
    throw new TypeError(`sendStateless options.version must be '1' or '2.0'; got ${String(version)}`)
  if (version === '1' && settings.hmacKey !== undefined)
    throw new TypeError(
      'sendStateless options.hmacKey cannot be used with version 1: its frames carry no HMAC',
    )
  const results: TransferResult[] = []
  let connection: FrameConnection | undefined
  let unreachable: TcpClientError | undefined
  try {
    for (const input of files) {
      let result: TransferResult
      try {
        const source = await resolvePayload(input)
        const header = await sign(
          version === '1'
            ? { version, mimeType: source.mimeType, size: source.size }
            : {
                version,
                mimeType: source.mimeType,
                size: source.size,
                filename: source.name,
                session: { id: null, mode: 'stateless', action: 'transfer', sequence: null },
              },
          source,
          settings.hmacKey,
        )
        // Once the server could not be reached, the other files fail the same way at once.
        if (unreachable) throw unreachable
        if (!connection?.usable) {
          connection?.destroy()
          connection = await FrameConnection.open(settings).catch((err: unknown) => {
            if (isTransportError(err)) unreachable = err
            throw err
          })
        }
        const onProgress = options.onProgress
        const { reply, sha256 } = await connection.request(header, {
          source,
          onProgress: onProgress && ((sent, total) => onProgress(source.name, sent, total)),
        })
        result = { name: source.name, ok: true, ack: parseAck(expectReply(reply, 'ack'), source, sha256) }
      } catch (err) {
        if (!(err instanceof AppError || err instanceof TcpClientError)) throw err
        result = { name: nameOf(input), ok: false, error: err }
      }
      if (version === '1') {
        await connection?.close()
        connection = undefined
      }
      results.push(result)
      options.onResult?.(result)
    }
  } finally {
    await connection?.close()
  }
  return results
}

/** How a session rides out a dropped connection: up to `retries` reconnects per request, backing off. */
export interface ReconnectPolicy {
  readonly retries: number
  /** Delay before the second reconnect (the first is immediate); doubled each time, with jitter, up to `maxDelayMs`. */
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

export interface TcpSessionOptions extends TcpClientOptions {
  /**
   * Idle time after which the session sends a `heartbeat` by itself; 0 turns that off. By default a third of
   * the session timeout the server announced.
   */
  readonly heartbeatMs?: number
  /** 5 retries (the first at once, then 100 ms doubling up to 5 s) by default; 0 retries fails at the first drop. */
  readonly reconnect?: ReconnectPolicy
  /** Measures idle time for heartbeats. */
  readonly clock?: Clock
  /** Told about what happens behind the caller's back: heartbeats, reconnects, re-sent frames. */
  readonly onEvent?: (event: TcpSessionEvent) => void
}

export type TcpSessionEvent =
  | { readonly type: 'heartbeat'; readonly expiresIn: number | undefined }
  | {
      readonly type: 'reconnecting'
      readonly attempt: number
      readonly delayMs: number
      readonly error: TcpClientError
    }
  /** The server's last accepted sequence, which decides what is re-sent. */
  | { readonly type: 'resumed'; readonly lastSequence: number }
  /** A frame the server had not accepted, sent again under this sequence. */
  | { readonly type: 'resent'; readonly action: Action; readonly name?: string; readonly sequence: number }
  /** A frame the server had accepted though its reply was lost: not sent again. */
  | { readonly type: 'recovered'; readonly action: Action; readonly name?: string; readonly sequence: number }
  /** A background heartbeat failed; the next call will meet the same problem. */
  | { readonly type: 'error'; readonly error: Error }

/** A file of the session, as `list` reports it. */
export type StoredFile = TcpStoredFile

export interface Pong {
  readonly sequence: number
  /** Seconds until the session expires without activity; unknown when the pong itself was lost. */
  readonly expiresIn: number | undefined
}

/** What the server counted when the session closed (`session_closed`). */
export interface SessionSummary {
  readonly id: string
  readonly messageCount: number
  readonly totalBytes: number
  readonly files: number
  /** Connections lost and resumed on the client's side. */
  readonly reconnects: number
}

interface SessionSettings extends ClientSettings {
  readonly heartbeatMs: number | undefined
  readonly reconnect: ReconnectPolicy
  readonly clock: Clock
  readonly onEvent: ((event: TcpSessionEvent) => void) | undefined
}

/** The reply to one stateful frame, or word that the server had accepted it before its reply was lost. */
type CallOutcome =
  | { readonly accepted: false; readonly sequence: number; readonly reply: Reply; readonly sha256: string }
  | { readonly accepted: true; readonly sequence: number }

/**
 * A stateful session over TCP: `connect` once, then transfers, lists and heartbeats that the server counts
 * under one id, until `close`. Calls run one at a time, in call order. When the connection drops, the next
 * frame reconnects with backoff and sends `resume`; the server's `last_sequence` says whether the frame in
 * flight had been accepted (its ack is then recovered from `list`) or must be sent again, so nothing is
 * stored twice. Payloads are streamed from their files, never held in memory.
 *
 * @example
 * const session = await TcpSession.connect({ port: 65432 })
 * const ack = await session.send('report.pdf')
 * console.log(ack.storedAs, await session.list())
 * console.log(await session.close())
 */
export class TcpSession {
  readonly #settings: SessionSettings
  readonly #id: string
  readonly #timeoutSeconds: number
  #connection: FrameConnection | undefined
  /** The last sequence the server accepted, as far as this side knows. */
  #lastSequence = 0
  #tail: Promise<unknown> = Promise.resolve()
  #pending = 0
  #lastActivity: number
  #heartbeat: NodeJS.Timeout | undefined
  /** Set when reconnecting gave up or the server's state contradicts ours: every later call fails with it. */
  #broken: Error | undefined
  #closed: SessionSummary | undefined
  #reconnects = 0
  #files = 0
  #bytes = 0

  /** Opens a connection and sends `connect`. Not retried: a lost `session_created` would leave a stray session. */
  static async connect(options: TcpSessionOptions = {}): Promise<TcpSession> {
    const settings = resolveSessionOptions(options)
    const connection = await FrameConnection.open(settings)
    try {
      const header = await sign(
        {
          version: '2.0',
          mimeType: NO_PAYLOAD_TYPE,
          size: 0,
          session: { id: null, mode: 'stateful', action: 'connect', sequence: null },
        },
        undefined,
        settings.hmacKey,
      )
      const { reply } = await connection.request(header)
      const session = sessionOf(expectReply(reply, 'session_created'))
      const { id, timeout } = session
      if (typeof id !== 'string' || id === '') throw malformed('session_created', 'session.id')
      return new TcpSession(settings, connection, id, typeof timeout === 'number' ? timeout : 300)
    } catch (err) {
      connection.destroy()
      throw err
    }
  }

  private constructor(settings: SessionSettings, connection: FrameConnection, id: string, timeout: number) {
    this.#settings = settings
    this.#connection = connection
    this.#id = id
    this.#timeoutSeconds = timeout
    this.#lastActivity = settings.clock.now()
    const heartbeatMs = settings.heartbeatMs ?? Math.max(1, Math.floor((timeout * 1000) / 3))
    if (heartbeatMs > 0) {
      // Ticks twice per period, so an idle session sends its heartbeat between 1 and 1.5 periods of silence.
      this.#heartbeat = setInterval(() => this.#tick(heartbeatMs), Math.max(1, heartbeatMs / 2))
      this.#heartbeat.unref()
    }
  }

  /** The id the server issued: a bearer secret, so not for logs. */
  get id(): string {
    return this.#id
  }

  /** The server's session timeout, in seconds. */
  get timeoutSeconds(): number {
    return this.#timeoutSeconds
  }

  /** The last sequence the server accepted, as far as this side knows. */
  get lastSequence(): number {
    return this.#lastSequence
  }

  /** Connections lost and resumed so far. */
  get reconnects(): number {
    return this.#reconnects
  }

  /** Transfers one file (streamed) and returns the server's ack, whose sha256 matches the bytes sent. */
  send(
    input: PayloadInput,
    options: { onProgress?: (sent: number, total: number) => void } = {},
  ): Promise<TransferAck> {
    return this.#serial(async () => {
      const source = await resolvePayload(input)
      const outcome = await this.#call('transfer', { source, onProgress: options.onProgress })
      const ack = outcome.accepted
        ? await this.#recoverAck(source, outcome.sequence)
        : parseAck(expectReply(outcome.reply, 'ack'), source, outcome.sha256, outcome.sequence)
      this.#files++
      this.#bytes += ack.bytes
      return ack
    })
  }

  /** The session's files, as the server lists them. */
  list(): Promise<StoredFile[]> {
    return this.#serial(() => this.#list())
  }

  /** Keeps the session alive; sent by itself while idle (see `heartbeatMs`). */
  heartbeat(): Promise<Pong> {
    return this.#serial(async () => {
      const outcome = await this.#call('heartbeat')
      if (outcome.accepted) return { sequence: outcome.sequence, expiresIn: undefined }
      const { expires_in: expiresIn } = sessionOf(expectReply(outcome.reply, 'pong'))
      const pong = {
        sequence: outcome.sequence,
        expiresIn: typeof expiresIn === 'number' ? expiresIn : undefined,
      }
      this.#emit({ type: 'heartbeat', expiresIn: pong.expiresIn })
      return pong
    })
  }

  /** Sends `disconnect`: the server forgets the session. Returns its summary; a second call returns it again. */
  close(): Promise<SessionSummary> {
    return this.#serial(
      async () => {
        try {
          const outcome = await this.#call('disconnect')
          const session = outcome.accepted ? {} : sessionOf(expectReply(outcome.reply, 'session_closed'))
          const count = (value: unknown, local: number) => (typeof value === 'number' ? value : local)
          this.#closed = {
            id: this.#id,
            messageCount: count(session.message_count, this.#lastSequence + 1),
            totalBytes: count(session.total_bytes, this.#bytes),
            files: count(session.files, this.#files),
            reconnects: this.#reconnects,
          }
          return this.#closed
        } catch (err) {
          this.#fail(err as Error)
          throw err
        } finally {
          this.#stop()
          await this.#connection?.close()
          this.#connection = undefined
        }
      },
      (summary) => summary,
    )
  }

  /** Drops the connection without `disconnect` (the server keeps the session until it times out). */
  destroy(): void {
    this.#fail(new AppError('ERR_SESSION_UNKNOWN', 'this client destroyed the session'))
  }

  /** Runs `task` after every call made before it; `close` runs on a closed session too, to repeat its summary. */
  #serial<T>(task: () => Promise<T>, whenClosed?: (summary: SessionSummary) => T): Promise<T> {
    this.#pending++
    const run = this.#tail.then(() => {
      if (this.#closed) {
        if (whenClosed) return whenClosed(this.#closed)
        throw new AppError('ERR_SESSION_UNKNOWN', 'this session was closed')
      }
      if (this.#broken) throw this.#broken
      return task()
    })
    this.#tail = run.then(
      () => this.#pending--,
      () => this.#pending--,
    )
    return run
  }

  #tick(heartbeatMs: number): void {
    if (this.#pending > 0 || this.#closed || this.#broken) return
    if (this.#settings.clock.now() - this.#lastActivity < heartbeatMs) return
    this.heartbeat().catch((error: Error) => this.#emit({ type: 'error', error }))
  }

  #stop(): void {
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
  }

  /** From now on every call fails with `err`; returns it, to be thrown. */
  #fail(err: Error): Error {
    this.#broken ??= err
    this.#stop()
    this.#connection?.destroy()
    this.#connection = undefined
    return err
  }

  #emit(event: TcpSessionEvent): void {
    this.#settings.onEvent?.(event)
  }

  async #list(): Promise<StoredFile[]> {
    const outcome = await this.#call('list')
    // A list the server answered on a lost connection changed nothing: ask again.
    if (outcome.accepted) return this.#list()
    expectReply(outcome.reply, 'files')
    let body: unknown
    try {
      body = JSON.parse(outcome.reply.payload.toString('utf8'))
    } catch {
      throw malformed('files', 'payload (not JSON)')
    }
    const files = (body as { files?: unknown } | null)?.files
    if (!Array.isArray(files)) throw malformed('files', 'files')
    return files.map((file: Record<string, unknown>) => ({
      fileId: stringField(file, 'file_id', 'files'),
      storedAs: stringField(file, 'stored_as', 'files'),
      size: numberField(file, 'size', 'files'),
      sha256: stringField(file, 'sha256', 'files'),
      mimeType: stringField(file, 'mime_type', 'files'),
      sequence: numberField(file, 'sequence', 'files'),
    }))
  }

  /** The ack of a transfer the server accepted on a connection that was lost before the ack arrived. */
  async #recoverAck(source: PayloadSource, sequence: number): Promise<TransferAck> {
    const file = (await this.#list()).find((f) => f.sequence === sequence)
    if (!file) {
      throw new AppError(
        'ERR_SESSION_CONFLICT',
        `the server accepted frame ${sequence} (${source.name}) but lists no file for it`,
      )
    }
    // The file under that sequence must be ours: read it once more to compare (a stream cannot be).
    if (source.reopenable && file.sha256 !== (await hashPayload(source))) {
      throw new AppError(
        'ERR_SESSION_CONFLICT',
        `the server stored other bytes than ${source.name} under frame ${sequence}: is another client using this session?`,
      )
    }
    this.#emit({ type: 'recovered', action: 'transfer', name: source.name, sequence })
    return {
      name: source.name,
      bytes: file.size,
      mimeType: file.mimeType,
      fileId: file.fileId,
      storedAs: file.storedAs,
      sha256: file.sha256,
      sequence,
    }
  }

  /**
   * Sends one stateful frame under the next sequence number and returns its reply; an `error` reply is thrown
   * as an `AppError`. When the connection fails, reconnects and resumes (up to `reconnect.retries` times):
   * if the server had accepted the frame, says so instead of sending it again, else sends it again.
   */
  async #call(action: Action, body?: RequestBody): Promise<CallOutcome> {
    const { retries } = this.#settings.reconnect
    /** The sequence this frame last went out under; the server may have accepted it. */
    let sentAs: number | undefined
    let cannotResend: TcpClientError | undefined
    for (let failures = 0; ; ) {
      try {
        if (!this.#connection?.usable) {
          this.#connection?.destroy()
          this.#connection = undefined
          await this.#resume(sentAs)
          if (sentAs !== undefined && this.#lastSequence >= sentAs) return this.#accepted(action, sentAs)
        }
        if (sentAs !== undefined && body && !body.source.reopenable) {
          cannotResend = new TcpClientError(
            'ERR_CONNECTION_LOST',
            `the connection was lost while "${body.source.name}" was being sent; the server does not have it, and a stream cannot be read again`,
          )
          throw cannotResend
        }
        const sequence = this.#lastSequence + 1
        const header = await sign(
          statefulHeader(this.#id, action, sequence, body?.source),
          body?.source,
          this.#settings.hmacKey,
        )
        if (sentAs !== undefined) this.#emit({ type: 'resent', action, name: body?.source.name, sequence })
        sentAs = sequence
        const { reply, sha256 } = await this.#connection!.request(header, body)
        this.#lastActivity = this.#settings.clock.now()
        if (reply.header.type === 'error') {
          // The frame went out before the drop and its first connection's handler committed it meanwhile.
          if (failures > 0 && reply.header.code === 'ERR_REPLAY') {
            this.#lastSequence = sequence
            return this.#accepted(action, sequence)
          }
          throw replyError(reply)
        }
        this.#lastSequence = sequence
        return { accepted: false, sequence, reply, sha256 }
      } catch (err) {
        if (!isTransportError(err) || err === cannotResend) {
          const gone = isAppError(err, 'ERR_SESSION_UNKNOWN') || isAppError(err, 'ERR_SESSION_EXPIRED')
          // A disconnect the server carried out before the connection dropped: the session is gone, as asked.
          if (gone && action === 'disconnect' && failures > 0)
            return { accepted: true, sequence: sentAs ?? 0 }
          // No later frame can succeed (and heartbeats would only repeat the error).
          throw gone || isAppError(err, 'ERR_SESSION_CONFLICT') ? this.#fail(err) : err
        }
        this.#connection?.destroy()
        this.#connection = undefined
        failures++
        if (failures > retries) {
          const plural = retries === 1 ? '' : 's'
          throw this.#fail(
            new TcpClientError(err.code, `${err.message} (gave up after ${retries} reconnect${plural})`, {
              cause: err,
            }),
          )
        }
        const delayMs = backoff(this.#settings.reconnect, failures)
        this.#emit({ type: 'reconnecting', attempt: failures, delayMs, error: err })
        await sleep(delayMs)
      }
    }
  }

  /** A transfer's ack is recovered (and reported) by `send`; other actions are reported here. */
  #accepted(action: Action, sequence: number): CallOutcome {
    if (action !== 'transfer') this.#emit({ type: 'recovered', action, sequence })
    return { accepted: true, sequence }
  }

  /**
   * A new connection attached to this session by `resume`. The server's `last_sequence` may be one above
   * ours only when a frame was in flight (`sentAs`); anything else means the two sides disagree.
   */
  async #resume(sentAs: number | undefined): Promise<void> {
    const connection = await FrameConnection.open(this.#settings)
    try {
      const header = await sign(
        statefulHeader(this.#id, 'resume', this.#lastSequence),
        undefined,
        this.#settings.hmacKey,
      )
      const { reply } = await connection.request(header)
      const { last_sequence: last } = sessionOf(expectReply(reply, 'session_resumed'))
      if (typeof last !== 'number') throw malformed('session_resumed', 'session.last_sequence')
      const highest = sentAs ?? this.#lastSequence
      if (last < this.#lastSequence || last > highest) {
        throw new AppError(
          'ERR_SESSION_CONFLICT',
          `the server's last sequence is ${last}, but this client had ${this.#lastSequence} acknowledged and sent up to ${highest}`,
        )
      }
      this.#lastSequence = last
      this.#connection = connection
      this.#reconnects++
      this.#lastActivity = this.#settings.clock.now()
      this.#emit({ type: 'resumed', lastSequence: last })
    } catch (err) {
      connection.destroy()
      throw err
    }
  }
}

interface ClientSettings extends ConnectionOptions {
  readonly hmacKey: string | Buffer | undefined
}

function resolveOptions(options: TcpClientOptions, owner: string): ClientSettings {
  const { host = DEFAULT_HOST, port = DEFAULT_PORT, hmacKey, timeoutMs = DEFAULT_TIMEOUT_MS } = options
  if (typeof host !== 'string' || host === '')
    throw new TypeError(`${owner} options.host must be a host name`)
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new TypeError(`${owner} options.port must be a port number from 1 to 65535; got ${port}`)
  if (!(timeoutMs > 0)) throw new TypeError(`${owner} options.timeoutMs must be a positive number of ms`)
  if (hmacKey !== undefined && hmacKey.length === 0)
    throw new TypeError(`${owner} options.hmacKey must not be empty`)
  return { host, port, hmacKey, timeoutMs }
}

function resolveSessionOptions(options: TcpSessionOptions): SessionSettings {
  const owner = 'TcpSession.connect'
  const { heartbeatMs, reconnect = DEFAULT_RECONNECT, clock = systemClock, onEvent } = options
  if (heartbeatMs !== undefined && !(Number.isFinite(heartbeatMs) && heartbeatMs >= 0))
    throw new TypeError(`${owner} options.heartbeatMs must be a non-negative number of ms`)
  const { retries, baseDelayMs, maxDelayMs } = reconnect
  if (!Number.isInteger(retries) || retries < 0)
    throw new TypeError(`${owner} options.reconnect.retries must be a non-negative integer`)
  if (!(baseDelayMs >= 0) || !(maxDelayMs >= baseDelayMs))
    throw new TypeError(`${owner} options.reconnect needs 0 <= baseDelayMs <= maxDelayMs`)
  if (typeof clock?.now !== 'function') throw new TypeError(`${owner} options.clock must be a Clock`)
  return Object.freeze({
    ...resolveOptions(options, owner),
    heartbeatMs,
    reconnect: Object.freeze({ retries, baseDelayMs, maxDelayMs }),
    clock,
    onEvent,
  })
}

/**
 * The first reconnect is immediate (an idle connection the server closed is only noticed when used); then
 * exponential backoff with jitter: half the delay fixed, half random, so that clients do not retry in step.
 */
function backoff(policy: ReconnectPolicy, attempt: number): number {
  if (attempt === 1) return 0
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 2))
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

function statefulHeader(id: string, action: Action, sequence: number, source?: PayloadSource): RequestHeader {
  return {
    version: '2.0',
    mimeType: source?.mimeType ?? NO_PAYLOAD_TYPE,
    size: source?.size ?? 0,
    ...(source && { filename: source.name }),
    session: { id, mode: 'stateful', action, sequence },
  }
}

/** `header` with its HMAC when a key is set: a first pass over the payload, which is then read again to send. */
async function sign(
  header: RequestHeader,
  source: PayloadSource | undefined,
  key: string | Buffer | undefined,
): Promise<RequestHeader> {
  if (key === undefined || header.version === '1') return header
  const mac = frameMac(key, header)
  if (source && source.size > 0) {
    if (!source.reopenable) {
      throw new TypeError(
        `payload "${source.name}" is a one-shot stream, but an HMAC needs to read it twice: pass a path or open()`,
      )
    }
    for await (const chunk of source.open()) mac.update(chunk)
  }
  return { ...header, hmac: mac.hex() }
}

function parseAck(
  header: Readonly<Record<string, unknown>>,
  source: PayloadSource,
  sentSha256: string,
  sequence?: number,
): TransferAck {
  const sha256 = stringField(header, 'sha256', 'ack')
  if (sha256 !== sentSha256) {
    throw new AppError(
      'ERR_FILE_INVALID',
      `${source.name}: the server stored bytes with sha256 ${sha256}, but the bytes sent have ${sentSha256}`,
    )
  }
  // The spec names the stored size `size`, which is the frame's payload length (0); servers send `file_size`.
  const stored = header.file_size
  if (typeof stored === 'number' && stored !== source.size) {
    throw new AppError(
      'ERR_FILE_INVALID',
      `${source.name}: the server stored ${stored} bytes, but ${source.size} were sent`,
    )
  }
  return {
    name: source.name,
    bytes: source.size,
    mimeType: stringField(header, 'mime_type', 'ack'),
    fileId: stringField(header, 'file_id', 'ack'),
    storedAs: stringField(header, 'stored_as', 'ack'),
    sha256,
    ...(sequence !== undefined && { sequence }),
  }
}

async function hashPayload(source: PayloadSource): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of source.open()) hash.update(chunk)
  return hash.digest('hex')
}

function sessionOf(header: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { session } = header
  if (typeof session !== 'object' || session === null) throw malformed(String(header.type), 'session')
  return session as Record<string, unknown>
}

function stringField(fields: Readonly<Record<string, unknown>>, name: string, reply: string): string {
  const value = fields[name]
  if (typeof value !== 'string') throw malformed(reply, name)
  return value
}

function numberField(fields: Readonly<Record<string, unknown>>, name: string, reply: string): number {
  const value = fields[name]
  if (typeof value !== 'number') throw malformed(reply, name)
  return value
}

function malformed(reply: string, field: string): AppError {
  return new AppError('ERR_PROTOCOL', `the server's "${reply}" reply lacks a valid "${field}"`)
}

function nameOf(input: PayloadInput): string {
  return typeof input === 'string' ? input : 'path' in input ? (input.name ?? input.path) : input.name
}
