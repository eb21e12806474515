import { createHmac, timingSafeEqual } from 'node:crypto'
import { AppError, type ErrorCode } from '../core/errors.ts'

/** Header line plus its newline, at most. */
export const MAX_HEADER_BYTES = 8 * 1024
export const SUPPORTED_VERSIONS = ['1', '2.0'] as const
export const ACTIONS = ['connect', 'transfer', 'heartbeat', 'list', 'resume', 'disconnect'] as const

export type ProtocolVersion = (typeof SUPPORTED_VERSIONS)[number]
export type Action = (typeof ACTIONS)[number]
export type Mode = 'stateless' | 'stateful'

/** The `session` object of a version 2.0 request. */
export interface SessionField {
  readonly id: string | null
  readonly mode: Mode
  readonly action: Action
  readonly sequence: number | null
}

/** A validated request header (docs/protocol.md, section 3). */
export interface RequestHeader {
  readonly version: ProtocolVersion
  readonly mimeType: string
  readonly size: number
  readonly filename?: string
  /** Absent for version 1 and for a stateless 2.0 transfer that sends none. */
  readonly session?: SessionField
  readonly hmac?: string
}

/** Errors after which the next frame cannot be found: the server replies, then closes the connection. */
const FATAL: ReadonlySet<ErrorCode> = new Set([
  'ERR_HEADER_TOO_LARGE',
  'ERR_PROTOCOL',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_PAYLOAD_INCOMPLETE',
  'ERR_TOO_MANY_CONNECTIONS',
])

/** True when the connection must close after replying with this error. */
export function isFatal(code: ErrorCode): boolean {
  return FATAL.has(code)
}

/** A header that could be parsed, or an error after which its payload (of `size` bytes) is to be skipped. */
export type ParsedHeader =
  | { readonly header: RequestHeader }
  | { readonly error: AppError; readonly size: number }

/**
 * Validates one header line (without its newline). Throws a fatal `AppError` (see {@link isFatal}) when the
 * frame boundary cannot be trusted; returns a non-fatal error with the size of the payload to skip.
 */
export function parseRequestHeader(line: string, maxPayloadBytes: number): ParsedHeader {
  let raw: unknown
  try {
    raw = JSON.parse(line)
  } catch {
    throw protocol('the header is not valid JSON')
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw protocol('the header must be a JSON object')
  const fields = raw as Record<string, unknown>
  const { size } = fields
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw protocol(`"size" must be a non-negative integer; got ${JSON.stringify(size ?? null)}`)
  }
  if (size > maxPayloadBytes) {
    throw new AppError(
      'ERR_PAYLOAD_TOO_LARGE',
      `"size" ${size} is above this server's limit of ${maxPayloadBytes} bytes`,
    )
  }
  const version = fields.version === undefined ? '1' : fields.version
  if (version !== '1' && version !== '2.0') {
    const error = new AppError(
      'ERR_VERSION_UNSUPPORTED',
      `version ${JSON.stringify(version)} is not supported; this server speaks ${SUPPORTED_VERSIONS.join(', ')}`,
    )
    return { error, size }
  }
  const mimeType = fields.mime_type
  if (typeof mimeType !== 'string' || mimeType === '' || mimeType.length > 255) {
    throw protocol('"mime_type" must be a string of 1 to 255 characters')
  }
  if (version === '1') return { header: { version, mimeType, size } }
  const filename = optionalString(fields.filename, 'filename', 1024)
  const hmac = optionalString(fields.hmac, 'hmac', 64)
  if (hmac !== undefined && !/^[0-9a-f]{64}$/.test(hmac))
    throw protocol('"hmac" must be 64 lower-case hex digits')
  const session =
    fields.session === undefined || fields.session === null ? undefined : parseSession(fields.session)
  return {
    header: {
      version,
      mimeType,
      size,
      ...(filename !== undefined && { filename }),
      ...(session && { session }),
      ...(hmac && { hmac }),
    },
  }
}

function parseSession(value: unknown): SessionField {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw protocol('"session" must be an object')
  const { id = null, mode, action, sequence = null } = value as Record<string, unknown>
  if (mode !== 'stateless' && mode !== 'stateful')
    throw protocol('"session.mode" must be "stateless" or "stateful"')
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
    throw protocol(`"session.action" must be one of ${ACTIONS.join(', ')}`)
  }
  if (id !== null && (typeof id !== 'string' || id.length > 128)) {
    throw protocol('"session.id" must be null or a string the server issued')
  }
  if (
    sequence !== null &&
    (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 0)
  ) {
    throw protocol('"session.sequence" must be a non-negative integer')
  }
  return { id, mode, action: action as Action, sequence }
}

function optionalString(value: unknown, name: string, max: number): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.length > max)
    throw protocol(`"${name}" must be a string of at most ${max} characters`)
  return value
}

function protocol(message: string): AppError {
  return new AppError('ERR_PROTOCOL', message)
}

/** One frame on the wire: the header as one JSON line, then the payload. */
export function encodeFrame(header: Readonly<Record<string, unknown>>, payload?: Uint8Array): Buffer {
  const line = Buffer.from(`${JSON.stringify({ ...header, size: payload?.length ?? header.size ?? 0 })}\n`)
  return payload && payload.length > 0 ? Buffer.concat([line, payload]) : line
}

/** The request header as it goes on the wire (snake_case, docs/protocol.md 3.1). */
export function wireHeader(header: RequestHeader): Record<string, unknown> {
  if (header.version === '1') return { mime_type: header.mimeType, size: header.size }
  return {
    version: header.version,
    mime_type: header.mimeType,
    size: header.size,
    ...(header.filename !== undefined && { filename: header.filename }),
    ...(header.session && { session: header.session }),
    ...(header.hmac !== undefined && { hmac: header.hmac }),
  }
}

/** An incremental HMAC over a frame (docs/protocol.md 3.4): feed the payload, then compare or read the digest. */
export function frameMac(key: string | Buffer, header: RequestHeader) {
  const s = header.session
  const mac = createHmac('sha256', key).update(
    `${JSON.stringify([header.version, header.mimeType, header.size, s?.mode ?? null, s?.action ?? null, s?.id ?? null, s?.sequence ?? null])}\n`,
  )
  return {
    update(chunk: Uint8Array): void {
      mac.update(chunk)
    },
    hex(): string {
      return mac.digest('hex')
    },
    /** Constant-time comparison with the frame's `hmac` field. */
    matches(expected: string | undefined): boolean {
      const actual = mac.digest()
      return (
        expected !== undefined &&
        expected.length === 64 &&
        timingSafeEqual(actual, Buffer.from(expected, 'hex'))
      )
    },
  }
}
