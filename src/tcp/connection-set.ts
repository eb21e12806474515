/** What the sweep needs of a connection. */
export interface SweptConnection {
  /** When its current wait runs out, on the `performance.now()` scale; `Infinity` while it waits for nothing. */
  readonly deadline: number
  /** Called once `deadline` has passed. */
  expire(): void
  /** Cuts the connection at once (the server is closing). */
  destroy(): void
}

/** The sweep runs this many times per shortest timeout, so a wait lasts at most about a tenth longer than set. */
const SWEEPS_PER_TIMEOUT = 10
const MIN_SWEEP_MS = 10
const MAX_SWEEP_MS = 1000

/**
 * The open connections of one server, and the one timer that times them all out: an idle connection holds no
 * timer of its own, only a deadline that a periodic sweep compares with the time. The timer runs only while
 * there are connections.
 */
export class ConnectionSet<T extends SweptConnection> {
  readonly #connections = new Set<T>()
  readonly #sweepMs: number
  #timer: NodeJS.Timeout | undefined
  #emptied: (() => void) | undefined

  /** `shortestTimeoutMs`: the shortest wait a connection may be given, which sets how often the sweep runs. */
  constructor(shortestTimeoutMs: number) {
    this.#sweepMs = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, shortestTimeoutMs / SWEEPS_PER_TIMEOUT))
  }

  get size(): number {
    return this.#connections.size
  }

  add(connection: T): void {
    this.#connections.add(connection)
    this.#timer ??= setInterval(() => this.sweep(performance.now()), this.#sweepMs).unref()
  }

  delete(connection: T): void {
    if (!this.#connections.delete(connection) || this.#connections.size > 0) return
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#emptied?.()
  }

  /** Expires every connection whose deadline is `now` or earlier. */
  sweep(now: number): void {
    for (const connection of this.#connections) if (connection.deadline <= now) connection.expire()
  }

  /** Cuts every connection, then waits until all are gone (their last frame cleaned up), or `graceMs`. */
  async close(graceMs: number): Promise<void> {
    if (this.#connections.size === 0) return
    const emptied = new Promise<void>((resolve) => {
      this.#emptied = resolve
    })
    for (const connection of this.#connections) connection.destroy()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([emptied, new Promise((resolve) => (timer = setTimeout(resolve, graceMs).unref()))])
    clearTimeout(timer)
  }
}
