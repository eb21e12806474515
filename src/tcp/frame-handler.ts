import { randomUUID } from 'node:crypto'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import type { Clock } from '../core/clock.ts'
import { AppError } from '../core/errors.ts'
import { generateStoredName } from '../core/files/filenames.ts'
import { extensionForMimeType } from '../core/files/mime.ts'
import type { TcpStoredFile } from '../core/sessions/session.ts'
import type { BlobStore } from '../stores/blobs/blob-store.ts'
import { frameMac, type RequestHeader, type SessionField, SUPPORTED_VERSIONS } from './frames.ts'
import type { TcpConfig } from './tcp-config.ts'
import type { TcpMetrics } from './tcp-metrics.ts'
import {
  listedFileFields,
  SequenceError,
  storedFileFields,
  type TcpSession,
  type TcpSessions,
} from './tcp-sessions.ts'

/** What the frames of every connection of one server share. */
export interface ConnectionContext {
  readonly config: TcpConfig
  readonly clock: Clock
  readonly sessions: TcpSessions
  readonly blobs: BlobStore
  readonly metrics: TcpMetrics
  /** Stored names being committed right now, so two racing frames never pick the same one. */
  readonly claimedNames: Set<string>
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** What a frame needs of the connection it arrived on. */
export interface FrameSource {
  /** The peer's address, as `bind_to_ip` compares it. */
  readonly clientAddress: string
  /** Logs on the connection's behalf (nothing is made for a level that is off). */
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void
  /** Exactly `size` bytes of payload as they arrive; throws `ERR_PAYLOAD_INCOMPLETE` when they stop short. */
  payload(size: number): AsyncIterable<Buffer>
}

/** A reply frame: its header (without `size`, which the payload decides) and payload. */
export interface Reply {
  readonly header: Record<string, unknown>
  readonly payload?: Buffer
}

/** A request being handled: its header, how many payload bytes are still to be read, and from where. */
export interface Frame {
  readonly header: RequestHeader
  remaining: number
  readonly source: FrameSource
}

/**
 * The protocol's actions, one frame at a time. One handler serves every connection of a server: what is
 * particular to a connection comes with each frame (its {@link FrameSource}).
 */
export class FrameHandler {
  readonly #context: ConnectionContext

  constructor(context: ConnectionContext) {
    this.#context = context
  }

  /** The reply to `frame`; throws an `AppError` the caller turns into an error reply. */
  async handle(frame: Frame): Promise<Reply> {
    const { config } = this.#context
    const { header } = frame
    if (config.hmacKey !== undefined) {
      if (header.version === '1') {
        throw new AppError(
          'ERR_BAD_HMAC',
          'This server requires an HMAC, which version 1 frames cannot carry',
        )
      }
      if (header.hmac === undefined)
        throw new AppError('ERR_BAD_HMAC', 'This server requires "hmac" on every frame')
    }
    const session = header.session
    if (session?.mode !== 'stateful') {
      if (session && session.action !== 'transfer') {
        throw new AppError(
          'ERR_MODE',
          `"${session.action}" needs "mode": "stateful"; stateless frames only transfer`,
        )
      }
      if (config.mode === 'stateful') {
        throw new AppError(
          'ERR_MODE',
          'This server is stateful only: connect, then transfer within the session',
        )
      }
      return this.#transferStateless(frame)
    }
    if (config.mode === 'stateless') {
      throw new AppError('ERR_MODE', 'This server is stateless only: send transfers without a session')
    }
    switch (session.action) {
      case 'connect':
        return this.#connect(frame)
      case 'resume':
        return this.#resume(frame, session)
      default:
        return this.#sequenced(frame, session)
    }
  }

  async #transferStateless(frame: Frame): Promise<Reply> {
    const { header } = frame
    const file = await this.#store(frame)
    this.#context.metrics.filesStored.inc({ mode: 'stateless' })
    return reply(header.version, 'ack', storedFileFields(file, 'file_size'))
  }

  async #connect(frame: Frame): Promise<Reply> {
    await this.#consume(frame)
    const { token, session } = await this.#context.sessions.connect(frame.source.clientAddress)
    this.#context.metrics.sessionsCreated.inc()
    frame.source.log('info', 'session created', { session: session.id })
    return reply('2.0', 'session_created', {
      session: { id: token, mode: 'stateful', sequence: 0, timeout: this.#context.config.sessionTimeout },
    })
  }

  async #resume(frame: Frame, field: SessionField): Promise<Reply> {
    const session = await this.#session(frame, field)
    await this.#consume(frame)
    const touched = await this.#context.sessions.touch(session)
    frame.source.log('info', 'session resumed', { session: session.id })
    return reply('2.0', 'session_resumed', {
      session: {
        id: field.id,
        last_sequence: touched.data.tcp.lastSequence,
        message_count: touched.data.messageCount,
        total_bytes: touched.data.totalBytes,
      },
    })
  }

  /** `transfer`, `heartbeat`, `list`, `disconnect`: the frames that must carry the next sequence number. */
  async #sequenced(frame: Frame, field: SessionField): Promise<Reply> {
    const { sessions, clock } = this.#context
    const session = await this.#session(frame, field)
    const sequence = field.sequence
    if (sequence === null) {
      throw new AppError('ERR_PROTOCOL', `"session.sequence" is required for ${field.action}`)
    }
    // Checked before the payload is read (a refused transfer never touches the disk), and again inside
    // the compare-and-swap that records the frame.
    sessions.checkSequence(session, sequence)
    const id = field.id
    switch (field.action) {
      case 'transfer': {
        const directory = `session_${Buffer.from(session.id, 'base64url').toString('hex').slice(0, 16)}`
        const file = await this.#store(frame, {
          session,
          sequence,
          directory,
        })
        this.#context.metrics.filesStored.inc({ mode: 'stateful' })
        return reply('2.0', 'ack', { ...storedFileFields(file, 'file_size'), sequence })
      }
      case 'heartbeat': {
        await this.#consume(frame)
        const next = await sessions.accept(session, sequence)
        const expiresIn = Math.max(0, Math.floor((next.expiresAt - clock.now()) / 1000))
        return reply('2.0', 'pong', { session: { id, sequence, expires_in: expiresIn } })
      }
      case 'list': {
        await this.#consume(frame)
        const next = await sessions.accept(session, sequence)
        const files = { files: next.data.tcp.files.map(listedFileFields) }
        return { header: { version: '2.0', type: 'files' }, payload: Buffer.from(JSON.stringify(files)) }
      }
      case 'disconnect': {
        await this.#consume(frame)
        const next = await sessions.accept(session, sequence)
        await sessions.end(next.id)
        frame.source.log('info', 'session closed by its client', { session: next.id })
        return reply('2.0', 'session_closed', {
          session: {
            id,
            message_count: next.data.messageCount,
            total_bytes: next.data.totalBytes,
            files: next.data.tcp.fileCount,
          },
        })
      }
      default:
        throw new AppError('ERR_PROTOCOL', `"${field.action}" is not a sequenced action`)
    }
  }

  /** The session a frame names; `ERR_NO_SESSION` when it names none. */
  async #session(frame: Frame, field: SessionField): Promise<TcpSession> {
    if (field.id === null) {
      throw new AppError('ERR_NO_SESSION', `"${field.action}" needs the session id that "connect" returned`)
    }
    try {
      return await this.#context.sessions.resolve(field.id, frame.source.clientAddress)
    } catch (err) {
      if (err instanceof AppError && err.code === 'ERR_SESSION_EXPIRED')
        frame.source.log('info', 'session expired')
      throw err
    }
  }

  /** Reads a payload that is not stored (actions other than transfer), through the HMAC, and checks it. */
  async #consume(frame: Frame): Promise<void> {
    const mac = this.#mac(frame.header)
    for await (const _ of this.#payload(frame, mac));
    if (mac && !mac.matches(frame.header.hmac)) throw badHmac()
  }

  /**
   * Streams the payload to a temporary file, checks the HMAC, and publishes the file: in the session's folder
   * (recording it there with compare-and-swap, and unpublishing it if that fails) or under a random name.
   */
  async #store(
    frame: Frame,
    stateful?: { session: TcpSession; sequence: number; directory: string },
  ): Promise<TcpStoredFile> {
    const { blobs, config, sessions, claimedNames, metrics } = this.#context
    const { header } = frame
    const mac = this.#mac(header)
    const staged = await blobs.stage(this.#payload(frame, mac), { maxBytes: header.size })
    try {
      if (mac && !mac.matches(header.hmac)) throw badHmac()
      const sessionAware = stateful !== undefined && config.naming === 'session_aware'
      const name = sessionAware
        ? await this.#claim(
            `${stateful.directory}/file_${stateful.sequence}_`,
            extensionForMimeType(header.mimeType),
          )
        : `received_${generateStoredName(header.mimeType)}`
      try {
        await staged.commit(name)
        const file: TcpStoredFile = {
          fileId: randomUUID(),
          storedAs: name,
          size: staged.size,
          sha256: staged.sha256,
          mimeType: header.mimeType,
          sequence: stateful?.sequence ?? 0,
        }
        if (stateful) {
          try {
            await sessions.recordFile(stateful.session, file)
          } catch (err) {
            // Another frame won the sequence, or the store failed: the client was not told, so unpublish.
            await blobs
              .remove(name)
              .catch((removeErr) => frame.source.log('error', 'unpublish failed', { err: removeErr }))
            throw err
          }
        }
        metrics.bytesStored.inc({}, file.size)
        return file
      } finally {
        claimedNames.delete(name)
      }
    } finally {
      await staged.discard()
    }
  }

  /** `<prefix><unix ms><extension>`, moving the milliseconds on until no file and no racing frame has it. */
  async #claim(prefix: string, extension: string): Promise<string> {
    const { claimedNames, clock, config } = this.#context
    for (let ms = clock.now(); ; ms++) {
      const name = `${prefix}${ms}${extension}`
      if (claimedNames.has(name)) continue
      claimedNames.add(name)
      if (!(await exists(join(config.storagePath, name)))) return name
      claimedNames.delete(name)
    }
  }

  #mac(header: RequestHeader) {
    const key = this.#context.config.hmacKey
    return key === undefined ? undefined : frameMac(key, header)
  }

  /** The frame's payload, counted as it is read so that a failure part-way can skip exactly the rest. */
  async *#payload(
    frame: Frame,
    mac: { update(chunk: Uint8Array): void } | undefined,
  ): AsyncGenerator<Buffer> {
    for await (const chunk of frame.source.payload(frame.remaining)) {
      frame.remaining -= chunk.length
      mac?.update(chunk)
      yield chunk
    }
  }
}

function reply(version: string, type: string, fields: Record<string, unknown>): Reply {
  return { header: { version, type, ...fields } }
}

/** The `error` reply for `err` (docs/protocol.md, section 4). */
export function errorReply(err: AppError, version: string): Reply {
  return reply(version, 'error', {
    code: err.code,
    message: err.message,
    ...(err instanceof SequenceError && { sequence: err.lastSequence }),
    ...(err.code === 'ERR_VERSION_UNSUPPORTED' && { supported_versions: [...SUPPORTED_VERSIONS] }),
    ...(err.retryAfter !== undefined && { retry_after: err.retryAfter }),
  })
}

function badHmac(): AppError {
  return new AppError('ERR_BAD_HMAC', 'The frame\'s "hmac" does not match its header and payload')
}

/** Anything thrown that is not an `AppError` is a bug or an I/O failure: logged, and answered generically. */
export function toAppError(err: unknown, source: Pick<FrameSource, 'log'>): AppError {
  if (err instanceof AppError) return err
  source.log('error', 'handling a frame failed', { err })
  return new AppError('ERR_INTERNAL', 'The server failed to handle this frame; see its log', { cause: err })
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
