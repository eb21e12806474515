/** The only source of "now" in statelab, so that expiry can be tested by moving time instead of sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() })

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  #now: number

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new TypeError('FakeClock.advance(ms) needs a non-negative number')
    this.#now += ms
  }

  set(ms: number): void {
    this.#now = ms
  }
}
