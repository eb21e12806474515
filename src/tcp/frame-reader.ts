import { AppError } from '../core/errors.ts'

const EMPTY = Buffer.alloc(0)

/**
 * Bytes received and not yet read, from which header lines and payload bytes are taken whatever the chunking:
 * frames split at any byte or many in one chunk read the same. Chunks are kept as they came (payload bytes are
 * handed on without copying); only a header line that spans chunks is joined.
 */
export class FrameBuffer {
  readonly #chunks: Buffer[] = []
  #length = 0
  /** Bytes at the front already searched for a newline without finding one. */
  #scanned = 0

  get length(): number {
    return this.#length
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.#chunks.push(chunk)
    this.#length += chunk.length
  }

  /**
   * The next header line without its newline, or undefined while no newline has arrived. Throws
   * `ERR_HEADER_TOO_LARGE` when no newline comes within `maxBytes`.
   */
  takeLine(maxBytes: number): string | undefined {
    let offset = 0
    for (const chunk of this.#chunks) {
      const from = Math.max(0, this.#scanned - offset)
      const at = from < chunk.length ? chunk.indexOf(0x0a, from) : -1
      if (at !== -1) {
        if (offset + at >= maxBytes) break
        const line = this.#takeJoined(offset + at).toString('utf8')
        this.take(1)
        this.#scanned = 0
        return line
      }
      offset += chunk.length
      if (offset >= maxBytes) break
    }
    if (this.#length >= maxBytes) {
      throw new AppError('ERR_HEADER_TOO_LARGE', `no end of header within ${maxBytes} bytes`)
    }
    this.#scanned = offset
    return undefined
  }

  /** Up to `max` bytes from the front, without copying: a part of one chunk, empty when nothing is buffered. */
  take(max: number): Buffer {
    const head = this.#chunks[0]
    if (head === undefined || max <= 0) return EMPTY
    let taken: Buffer
    if (head.length <= max) {
      taken = head
      this.#chunks.shift()
      // An empty array gives its storage back, so an idle connection keeps none.
      if (this.#chunks.length === 0) this.#chunks.length = 0
    } else {
      taken = head.subarray(0, max)
      this.#chunks[0] = head.subarray(max)
    }
    this.#length -= taken.length
    this.#scanned = Math.max(0, this.#scanned - taken.length)
    return taken
  }

  /** Exactly `size` bytes from the front (which holds them), joined when they span chunks. */
  #takeJoined(size: number): Buffer {
    const first = this.take(size)
    if (first.length === size) return first
    const parts = [first]
    for (let left = size - first.length; left > 0; left -= parts.at(-1)!.length) parts.push(this.take(left))
    return Buffer.concat(parts, size)
  }
}

/**
 * Yields exactly `size` bytes of `buffer` in chunks as they arrive, calling `more()` to wait whenever it is
 * empty. Throws `ERR_PAYLOAD_INCOMPLETE` when `more()` says the stream ended first.
 */
export async function* readPayload(
  buffer: FrameBuffer,
  size: number,
  more: () => Promise<boolean>,
): AsyncGenerator<Buffer> {
  let remaining = size
  while (remaining > 0) {
    if (buffer.length === 0 && !(await more())) {
      throw new AppError(
        'ERR_PAYLOAD_INCOMPLETE',
        `the connection ended ${remaining} bytes before the payload did`,
      )
    }
    const chunk = buffer.take(remaining)
    remaining -= chunk.length
    yield chunk
  }
}

/** The error for a stream that ends after part of a header line. */
export function headerCutShort(): AppError {
  return new AppError('ERR_PROTOCOL', 'the connection ended in the middle of a header')
}

/**
 * Pulls header lines and exact-length payloads out of a byte stream (a socket), whatever the chunking:
 * frames split at any byte or many in one chunk read the same. Reading is pull-based, so a slow consumer
 * of a payload slows the sender down (TCP backpressure) instead of filling memory.
 */
export class FrameReader {
  readonly #source: AsyncIterator<Buffer>
  readonly #buffer = new FrameBuffer()
  #ended = false

  constructor(source: AsyncIterable<Buffer>) {
    this.#source = source[Symbol.asyncIterator]()
  }

  /**
   * The next header line without its newline, or undefined when the stream ended cleanly between frames.
   * Throws `ERR_HEADER_TOO_LARGE` when no newline comes within `maxBytes`, and `ERR_PROTOCOL` when the stream
   * ends in the middle of a header.
   */
  async readLine(maxBytes: number): Promise<string | undefined> {
    for (;;) {
      const line = this.#buffer.takeLine(maxBytes)
      if (line !== undefined) return line
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return undefined
        throw headerCutShort()
      }
    }
  }

  /**
   * Yields exactly `size` bytes in chunks as they arrive. Throws `ERR_PAYLOAD_INCOMPLETE` when the stream
   * ends first. The caller must consume it entirely (or call {@link skip}) before reading the next frame.
   */
  payload(size: number): AsyncGenerator<Buffer> {
    return readPayload(this.#buffer, size, () => this.#fill())
  }

  /** Reads and drops `size` bytes of payload, keeping the framing. */
  async skip(size: number): Promise<void> {
    for await (const _ of this.payload(size));
  }

  async #fill(): Promise<boolean> {
    if (this.#ended) return false
    let next: IteratorResult<Buffer>
    try {
      next = await this.#source.next()
    } catch {
      // A reset or a timeout: an early end, reported by whichever read was waiting.
      this.#ended = true
      return false
    }
    if (next.done) {
      this.#ended = true
      return false
    }
    this.#buffer.push(next.value)
    return true
  }
}
