// Terminal output of the long-running commands (lab, benchmarks): progress on stderr, tables on stdout.

/** One line per phase on stderr; on a terminal the phase line is rewritten in place. */
export class Progress {
  readonly #stream: NodeJS.WriteStream
  readonly #started = performance.now()
  #open = false

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream
  }

  /** The phase now running; replaced by the next one on a terminal. */
  phase(text: string): void {
    const line = `[${this.#elapsed()}] ${text}`
    if (this.#stream.isTTY) {
      this.#stream.write(`\r\x1b[2K${line}`)
      this.#open = true
    } else this.#stream.write(`${line}\n`)
  }

  /** A line that stays (a skip, a warning). */
  note(text: string): void {
    this.#clear()
    this.#stream.write(`[${this.#elapsed()}] ${text}\n`)
  }

  done(): void {
    this.#clear()
  }

  #clear(): void {
    if (this.#open) this.#stream.write('\r\x1b[2K')
    this.#open = false
  }

  #elapsed(): string {
    return `${((performance.now() - this.#started) / 1000).toFixed(1).padStart(5)}s`
  }
}

/** Rows as aligned columns under a ruled header; `rightAligned[i]` for the numeric columns. */
export function formatTable(
  headers: readonly string[],
  rows: readonly string[][],
  rightAligned: readonly boolean[],
): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => row[i]?.length ?? 0)),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

/** 1,234,567 */
export function formatCount(n: number): string {
  return integer.format(n)
}

/** Microseconds with three significant digits at most: 0.84, 12.3, 456. */
export function formatMicros(us: number): string {
  return us < 10 ? us.toFixed(2) : us < 100 ? us.toFixed(1) : integer.format(us)
}

/** 0.83 */
export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'
}

/** 1,234 B */
export function formatBytes(bytes: number): string {
  return `${integer.format(bytes)} B`
}

/** 128 MiB, 1 GiB, 4 KiB: sizes chosen as powers of two, in their unit. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(2))} ${unit}`
  }
  return formatBytes(bytes)
}
