import { AppError } from '../core/errors.ts'

const EMPTY = Buffer.alloc(0)

/**
 * Pulls header lines and exact-length payloads out of a byte stream (a socket), whatever the chunking:
 * frames split at any byte or many in one chunk read the same. Reading is pull-based, so a slow consumer
 * of a payload slows the sender down (TCP backpressure) instead of filling memory.
 */
export class FrameReader {
  readonly #source: AsyncIterator<Buffer>
  #buffer: Buffer = EMPTY
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
    let scanned = 0
    for (;;) {
      const newline = this.#buffer.indexOf(0x0a, scanned)
      if (newline !== -1 && newline < maxBytes) {
        const line = this.#buffer.subarray(0, newline).toString('utf8')
        this.#buffer = this.#buffer.subarray(newline + 1)
        return line
      }
      if (this.#buffer.length >= maxBytes) {
        throw new AppError('ERR_HEADER_TOO_LARGE', `no end of header within ${maxBytes} bytes`)
      }
      scanned = this.#buffer.length
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return undefined
        throw new AppError('ERR_PROTOCOL', 'the connection ended in the middle of a header')
      }
    }
  }

  /**
   * Yields exactly `size` bytes in chunks as they arrive. Throws `ERR_PAYLOAD_INCOMPLETE` when the stream
   * ends first. The caller must consume it entirely (or call {@link skip}) before reading the next frame.
   */
  async *payload(size: number): AsyncGenerator<Buffer> {
    let remaining = size
    while (remaining > 0) {
      if (this.#buffer.length === 0 && !(await this.#fill())) {
        throw new AppError(
          'ERR_PAYLOAD_INCOMPLETE',
          `the connection ended ${remaining} bytes before the payload did`,
        )
      }
      const take = Math.min(remaining, this.#buffer.length)
      const chunk = this.#buffer.subarray(0, take)
      this.#buffer = this.#buffer.subarray(take)
      remaining -= take
      yield chunk
    }
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
    this.#buffer = this.#buffer.length === 0 ? next.value : Buffer.concat([this.#buffer, next.value])
    return true
  }
}
