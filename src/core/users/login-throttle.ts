import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'

/** How many failed logins a key may have within a window. */
export interface ThrottleLimit {
  readonly failures: number
  readonly windowMs: number
}

export interface LoginThrottleOptions {
  readonly clock: Clock
  /** Per account. Default: 5 failures per 15 minutes. */
  readonly perAccount?: ThrottleLimit
  /** Per client IP, across accounts (password spraying). Default: 20 failures per 15 minutes. */
  readonly perIp?: ThrottleLimit
  /** Bound on remembered keys, so a flood of usernames cannot grow memory without limit. */
  readonly maxKeys?: number
}

interface Window {
  failures: number
  resetAt: number
}

/** Counts failed logins per account and per IP in fixed windows, and refuses more with `ERR_TOO_MANY_ATTEMPTS`. */
export class LoginThrottle {
  readonly #clock: Clock
  readonly #perAccount: ThrottleLimit
  readonly #perIp: ThrottleLimit
  readonly #maxKeys: number
  readonly #windows = new Map<string, Window>()

  constructor(options: LoginThrottleOptions) {
    this.#clock = options.clock
    this.#perAccount = options.perAccount ?? { failures: 5, windowMs: 15 * 60_000 }
    this.#perIp = options.perIp ?? { failures: 20, windowMs: 15 * 60_000 }
    this.#maxKeys = options.maxKeys ?? 100_000
  }

  /** Throws when either the account or the IP has used up its failures; the error carries `retryAfter`. */
  assertAllowed(username: string, ip: string | undefined): void {
    const now = this.#clock.now()
    for (const [key, limit, what] of this.#keys(username, ip)) {
      const window = this.#windows.get(key)
      if (window && window.resetAt > now && window.failures >= limit.failures) {
        const retryAfter = Math.ceil((window.resetAt - now) / 1000)
        throw new AppError(
          'ERR_TOO_MANY_ATTEMPTS',
          `Too many failed logins for this ${what}; try again in ${retryAfter} s`,
          { retryAfter },
        )
      }
    }
  }

  recordFailure(username: string, ip: string | undefined): void {
    const now = this.#clock.now()
    for (const [key, limit] of this.#keys(username, ip)) {
      let window = this.#windows.get(key)
      if (!window || window.resetAt <= now) {
        this.#windows.delete(key)
        if (this.#windows.size >= this.#maxKeys) this.#evict(now)
        window = { failures: 0, resetAt: now + limit.windowMs }
        this.#windows.set(key, window)
      }
      window.failures++
    }
  }

  /** A successful login clears the account's count (not the IP's: one good password must not unlock spraying). */
  recordSuccess(username: string): void {
    this.#windows.delete(`u:${username}`)
  }

  *#keys(username: string, ip: string | undefined): Generator<[string, ThrottleLimit, string]> {
    yield [`u:${username}`, this.#perAccount, 'account']
    if (ip) yield [`ip:${ip}`, this.#perIp, 'address']
  }

  #evict(now: number): void {
    for (const [key, window] of this.#windows) {
      if (window.resetAt <= now) this.#windows.delete(key)
    }
    // Still full: drop the oldest insertions (Map iterates in insertion order).
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < this.#maxKeys) break
      this.#windows.delete(key)
    }
  }
}
