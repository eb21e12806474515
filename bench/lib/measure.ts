// Fixed-concurrency load: `concurrency` loops each keep one operation in flight, for a fixed time.

/** How long and how hard one operation is driven. */
export interface Load {
  readonly concurrency: number
  readonly warmupMs: number
  readonly durationMs: number
  /** Stops the loops early (Ctrl-C); the partial figures are still returned. */
  readonly signal?: AbortSignal
}

/** What one operation achieved in its measured window. */
export interface OpStats {
  readonly ops: number
  readonly seconds: number
  readonly opsPerSec: number
  readonly p50Us: number
  readonly p99Us: number
  readonly maxUs: number
}

/**
 * Latencies in ns, in buckets of 1/64 of a power of two (at most 1.6% off), so that recording costs a few
 * integer operations and millions of samples take 14 KB.
 */
const SUB_BITS = 6
/** Longer operations (over a second, or `resolutionNs` times that) are recorded as this many units. */
const CEILING = 2 ** 30

export class Histogram {
  readonly #counts = new Float64Array((32 - SUB_BITS) << SUB_BITS)
  /** Nanoseconds per unit counted: 1 by default; 1000 counts microseconds, for waits of up to 18 minutes. */
  readonly #resolutionNs: number
  #total = 0
  #max = 0

  constructor(options: { readonly resolutionNs?: number } = {}) {
    const { resolutionNs = 1 } = options
    if (!(resolutionNs >= 1)) throw new TypeError('Histogram options.resolutionNs must be at least 1')
    this.#resolutionNs = resolutionNs
  }

  get count(): number {
    return this.#total
  }

  record(ns: number): void {
    const value = Math.min(Math.max(Math.round(ns / this.#resolutionNs), 0), CEILING)
    this.#counts[Histogram.#index(value)]!++
    this.#total++
    if (value > this.#max) this.#max = value
  }

  /** The latency at quantile `q` (0..1), in ns: the middle of its bucket. */
  quantileNs(q: number): number {
    if (this.#total === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.#total))
    let seen = 0
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!
      if (seen >= rank) return Math.min(Histogram.#middle(i), this.#max) * this.#resolutionNs
    }
    return this.maxNs
  }

  get maxNs(): number {
    return this.#max * this.#resolutionNs
  }

  static #index(value: number): number {
    const sub = SUB_BITS
    const magnitude = 31 - Math.clz32(value)
    if (magnitude < sub) return value
    return ((magnitude - sub + 1) << sub) + ((value >>> (magnitude - sub)) - (1 << sub))
  }

  static #middle(index: number): number {
    const sub = SUB_BITS
    if (index < 1 << sub) return index
    const width = 2 ** ((index >> sub) - 1)
    return ((index & ((1 << sub) - 1)) + (1 << sub)) * width + width / 2
  }
}

/** An operation as the loops call it: `round` counts per loop, so each loop can own its own sessions. */
export type Op = (worker: number, round: number) => unknown

/**
 * Drives `op` from `load.concurrency` loops, each keeping one call in flight. Measured windows add up, so
 * two meters can take turns (baseline, op, baseline, op ...) and share whatever else the machine is doing.
 * A throwing `op` fails the window.
 */
export class Meter {
  readonly #op: Op
  readonly #load: Load
  readonly #rounds: number[]
  readonly #histogram = new Histogram()
  #seconds = 0

  constructor(op: Op, load: Load) {
    this.#op = op
    this.#load = load
    this.#rounds = new Array<number>(load.concurrency).fill(0)
  }

  /** Runs `op` for `ms` (default the load's warm-up) without recording. */
  async warmUp(ms = this.#load.warmupMs): Promise<void> {
    await this.#drive(performance.now() + ms, undefined)
  }

  /** Runs `op` for `ms` (default the load's duration), adding to the figures; returns this window's ops/s. */
  async measure(ms = this.#load.durationMs): Promise<number> {
    const ops = this.#histogram.count
    const started = performance.now()
    await this.#drive(started + ms, this.#histogram)
    const seconds = (performance.now() - started) / 1000
    this.#seconds += seconds
    return (this.#histogram.count - ops) / seconds
  }

  get stats(): OpStats {
    const h = this.#histogram
    return {
      ops: h.count,
      seconds: this.#seconds,
      opsPerSec: h.count / this.#seconds,
      p50Us: h.quantileNs(0.5) / 1000,
      p99Us: h.quantileNs(0.99) / 1000,
      maxUs: h.maxNs / 1000,
    }
  }

  async #drive(until: number, histogram: Histogram | undefined): Promise<void> {
    await Promise.all(
      this.#rounds.map(async (_, worker) => {
        let round = this.#rounds[worker]!
        let start = performance.now()
        while (start < until && !this.#load.signal?.aborted) {
          await this.#op(worker, round++)
          const end = performance.now()
          histogram?.record((end - start) * 1e6)
          start = end
        }
        this.#rounds[worker] = round
      }),
    )
  }
}

/** Warm-up, then one measured window of the load's duration. */
export async function measureOp(op: Op, load: Load): Promise<OpStats> {
  const meter = new Meter(op, load)
  await meter.warmUp()
  await meter.measure()
  return meter.stats
}

/** Calls `work(i)` for every i below `count`, with at most `concurrency` calls in flight. */
export async function forEachConcurrently(
  count: number,
  concurrency: number,
  work: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0
  const loop = async () => {
    while (next < count) await work(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, loop))
}
