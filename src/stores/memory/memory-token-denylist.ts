import type { Clock } from '../../core/clock.ts'
import type { TokenDenylist } from '../token-denylist.ts'

/** Revoked token ids in this process: enough for one replica, invisible to the others. */
export class MemoryTokenDenylist implements TokenDenylist {
  readonly kind = 'memory'
  readonly #clock: Clock
  readonly #entries = new Map<string, number>()
  readonly #timer: NodeJS.Timeout | undefined

  constructor(options: { clock: Clock; sweepIntervalMs?: number }) {
    const { sweepIntervalMs = 60_000 } = options
    if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 0) {
      throw new TypeError('MemoryTokenDenylist options.sweepIntervalMs must be a non-negative integer')
    }
    this.#clock = options.clock
    if (sweepIntervalMs > 0) {
      this.#timer = setInterval(() => void this.sweepExpired(this.#clock.now()), sweepIntervalMs)
      this.#timer.unref()
    }
  }

  async add(jti: string, expiresAt: number): Promise<void> {
    if (expiresAt > this.#clock.now())
      this.#entries.set(jti, Math.max(expiresAt, this.#entries.get(jti) ?? 0))
  }

  async has(jti: string): Promise<boolean> {
    const expiresAt = this.#entries.get(jti)
    return expiresAt !== undefined && expiresAt > this.#clock.now()
  }

  async sweepExpired(now: number): Promise<number> {
    let count = 0
    for (const [jti, expiresAt] of this.#entries) {
      if (expiresAt <= now) {
        this.#entries.delete(jti)
        count++
      }
    }
    return count
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
  }
}
