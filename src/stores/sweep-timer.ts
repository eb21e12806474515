// Stores without native expiry (memory, SQL) forget expired entries by sweeping in the background.

/** The sweep options every store without native expiry takes. */
export interface SweepOptions {
  /** How often expired sessions are swept, in ms; 0 disables the timer. Default 60,000. */
  readonly sweepIntervalMs?: number
  /** Rows deleted per statement, so that a large sweep never holds locks for long. Default 1000. */
  readonly sweepBatchSize?: number
  /** Told why a background sweep failed (the next one tries again). Default: ignored. */
  readonly onSweepError?: (err: unknown) => void
}

/** {@link SweepOptions} with defaults applied; throws a `TypeError` naming a bad option. */
export function resolveSweepOptions(owner: string, options: SweepOptions): Required<SweepOptions> {
  const { sweepIntervalMs = 60_000, sweepBatchSize = 1000, onSweepError = () => {} } = options
  if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 0)
    throw new TypeError(`${owner} options.sweepIntervalMs must be a non-negative integer`)
  if (!Number.isSafeInteger(sweepBatchSize) || sweepBatchSize < 1)
    throw new TypeError(`${owner} options.sweepBatchSize must be a positive integer`)
  if (typeof onSweepError !== 'function')
    throw new TypeError(`${owner} options.onSweepError must be a function`)
  return { sweepIntervalMs, sweepBatchSize, onSweepError }
}

/**
 * Runs `sweep` every `intervalMs` in the background (never two at once, never keeping the process alive);
 * `stop()` waits for a sweep in progress, so that the store can close under it.
 */
export class SweepTimer {
  readonly #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined

  constructor(sweep: () => Promise<unknown>, intervalMs: number, onError: (err: unknown) => void) {
    if (intervalMs === 0) return
    this.#timer = setInterval(() => {
      if (this.#running) return
      this.#running = sweep()
        .then(
          () => {},
          (err: unknown) => onError(err),
        )
        // A throwing onError must not become an unhandled rejection that ends the process.
        .catch(() => {})
        .finally(() => {
          this.#running = undefined
        })
    }, intervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }
}
