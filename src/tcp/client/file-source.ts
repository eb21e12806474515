import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Readable } from 'node:stream'
import { AppError } from '../../core/errors.ts'
import { detectMimeType } from '../../core/files/mime.ts'

/** Bytes read to sniff a type: enough for every signature in mime.ts (tar's is at 257) and zip entry names. */
const SNIFF_BYTES = 4096

/**
 * What `send` accepts: a file path, or a payload with its name and exact size. A path or an `open` factory
 * can be read again (to compute an HMAC first, or to re-send after a reconnect); a `stream` only once.
 */
export type PayloadInput =
  | string
  | {
      readonly path: string
      /** The name sent as `filename`; the path's base name by default. */
      readonly name?: string
      readonly mimeType?: string
    }
  | {
      readonly name: string
      readonly size: number
      /** `application/octet-stream` by default: the bytes cannot be sniffed without consuming them. */
      readonly mimeType?: string
      readonly open: () => Readable | AsyncIterable<Uint8Array>
    }
  | {
      readonly name: string
      readonly size: number
      readonly mimeType?: string
      readonly stream: Readable | AsyncIterable<Uint8Array>
    }

/** A payload ready to be framed: its size and type are known, its bytes are read when sent. */
export interface PayloadSource {
  readonly name: string
  /** The file it comes from, when it comes from one. */
  readonly path: string | undefined
  readonly size: number
  readonly mimeType: string
  /** False for a one-shot stream: it cannot be re-sent or read twice. */
  readonly reopenable: boolean
  /** The bytes from the start; throws `TypeError` on a second call when not {@link reopenable}. */
  open(): AsyncIterable<Uint8Array>
}

/**
 * Resolves `input` to a {@link PayloadSource}: a path is stat'ed and its first bytes sniffed for a MIME type
 * (`detectMimeType`), but never read whole. Throws `ERR_FILE_NOT_FOUND` when there is no such regular file.
 */
export async function resolvePayload(input: PayloadInput): Promise<PayloadSource> {
  if (typeof input === 'string') return fromPath(input, undefined, undefined)
  if ('path' in input) return fromPath(input.path, input.name, input.mimeType)
  if (!Number.isSafeInteger(input.size) || input.size < 0) {
    throw new TypeError(`payload "${input.name}": size must be a non-negative integer; got ${input.size}`)
  }
  const mimeType = input.mimeType ?? 'application/octet-stream'
  if ('open' in input) {
    return {
      name: input.name,
      path: undefined,
      size: input.size,
      mimeType,
      reopenable: true,
      open: input.open,
    }
  }
  let used = false
  return {
    name: input.name,
    path: undefined,
    size: input.size,
    mimeType,
    reopenable: false,
    open() {
      if (used) throw new TypeError(`payload "${input.name}" is a stream and cannot be read twice`)
      used = true
      return input.stream
    },
  }
}

async function fromPath(
  path: string,
  name: string | undefined,
  mimeType: string | undefined,
): Promise<PayloadSource> {
  let size: number
  try {
    const info = await stat(path)
    if (!info.isFile()) throw new AppError('ERR_FILE_NOT_FOUND', `${path} is not a regular file`)
    size = info.size
  } catch (err) {
    if (err instanceof AppError) throw err
    throw new AppError('ERR_FILE_NOT_FOUND', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  const filename = name ?? basename(path)
  return {
    name: filename,
    path,
    size,
    mimeType: mimeType ?? detectMimeType(await readHead(path, Math.min(size, SNIFF_BYTES)), filename),
    reopenable: true,
    // `end` bounds the read to the size announced in the header, even if the file grows meanwhile.
    open: () => (size === 0 ? emptyPayload() : createReadStream(path, { start: 0, end: size - 1 })),
  }
}

async function readHead(path: string, length: number): Promise<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(length)
    const { bytesRead } = await handle.read(buffer, 0, length, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

async function* emptyPayload(): AsyncGenerator<Uint8Array> {}
