import type { Socket } from 'node:net'

interface Waiter {
  resolve(result: IteratorResult<Buffer>): void
  reject(err: Error): void
}

/**
 * A socket's incoming bytes as the pull-based chunk source a `FrameReader` reads, with what the socket's own
 * async iterator lacks: a bounded wait for each chunk (a stalled peer ends the stream instead of hanging the
 * reader), and a way to stop reading while still writing a last reply.
 *
 * The socket is paused whenever a chunk waits unread, so a peer cannot make the server buffer more than one
 * chunk (TCP backpressure does the rest).
 */
export class SocketSource implements AsyncIterable<Buffer> {
  readonly #socket: Socket
  readonly #chunks: Buffer[] = []
  #waiter: Waiter | undefined
  #timer: NodeJS.Timeout | undefined
  #ended = false
  #failure: Error | undefined
  #discarding = false
  #idle = true
  #timedOut = false
  readonly #idleTimeoutMs: number
  readonly #frameTimeoutMs: number

  /**
   * `idleTimeoutMs` bounds the wait for the first byte of a frame, `frameTimeoutMs` every wait after it
   * (the rest of a header, a payload).
   */
  constructor(socket: Socket, timeouts: { idleTimeoutMs: number; frameTimeoutMs: number }) {
    this.#socket = socket
    this.#idleTimeoutMs = timeouts.idleTimeoutMs
    this.#frameTimeoutMs = timeouts.frameTimeoutMs
    socket.pause()
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('end', () => this.#finish())
    socket.on('close', () => this.#finish())
  }

  /** True once a wait ran out of time (the stream then ended early). */
  get timedOut(): boolean {
    return this.#timedOut
  }

  /** Between frames: the next wait may last the idle timeout, until a byte arrives. */
  expectFrame(): void {
    this.#idle = true
  }

  /** A frame has begun: waits are bounded by the frame timeout. */
  frameStarted(): void {
    this.#idle = false
  }

  /** Stops delivering bytes and drops whatever arrives, so the peer can finish sending and see our FIN. */
  discard(): void {
    this.#discarding = true
    this.#chunks.length = 0
    this.#finish()
    if (!this.#socket.destroyed) this.#socket.resume()
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return { next: () => this.#next() }
  }

  #next(): Promise<IteratorResult<Buffer>> {
    const chunk = this.#chunks.shift()
    if (chunk) return Promise.resolve({ value: chunk, done: false })
    if (this.#failure) return Promise.reject(this.#failure)
    if (this.#ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject }
      const ms = this.#idle ? this.#idleTimeoutMs : this.#frameTimeoutMs
      this.#timer = setTimeout(() => {
        this.#timedOut = true
        this.#failure = new Error(`no data for ${ms} ms`)
        this.#settle((waiter) => waiter.reject(this.#failure!))
      }, ms)
      this.#socket.resume()
    })
  }

  #onData(chunk: Buffer): void {
    if (this.#discarding || this.#ended) return
    this.#idle = false
    if (this.#waiter) {
      this.#settle((waiter) => waiter.resolve({ value: chunk, done: false }))
      return
    }
    this.#chunks.push(chunk)
    this.#socket.pause()
  }

  #finish(): void {
    this.#ended = true
    this.#settle((waiter) => waiter.resolve({ value: undefined, done: true }))
  }

  #settle(action: (waiter: Waiter) => void): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const waiter = this.#waiter
    this.#waiter = undefined
    if (waiter) action(waiter)
  }
}
