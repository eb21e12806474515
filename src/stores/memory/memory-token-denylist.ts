import type { Clock } from '../../core/clock.ts'
import { resolveSweepOptions, type SweepOptions, SweepTimer } from '../sweep-timer.ts'
import type { TokenDenylist } from '../token-denylist.ts'

/** Revoked token ids in this process: enough for one replica, invisible to the others. */
export class MemoryTokenDenylist implements TokenDenylist {
  readonly kind = 'memory'
  readonly #clock: Clock
  readonly #entries = new Map<string, number>()
  readonly #sweeper: SweepTimer

  constructor(options: { readonly clock: Clock } & Pick<SweepOptions, 'sweepIntervalMs'>) {
    const { sweepIntervalMs } = resolveSweepOptions('MemoryTokenDenylist', options)
    this.#clock = options.clock
    this.#sweeper = new SweepTimer(
      () => this.sweepExpired(this.#clock.now()),
      sweepIntervalMs,
      () => {},
    )
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
    await this.#sweeper.stop()
  }
}
