import { bytesSent, type Cell, color, type Exchange, type Style, twoColumns } from '../client.ts'
import type { DemoTarget } from './target.ts'

/** A row of the side-by-side view: the stateless side's lines, the stateful side's. */
export type Row = readonly [stateless: readonly Cell[], stateful: readonly Cell[]]

/** Half the terminal (of 120 columns when not a terminal, at most 160), less the separator. */
function maxColumn(): number {
  // A terminal that reports no size (a pseudo-terminal under `script`) says 0.
  const width = (process.stdout.isTTY && process.stdout.columns) || 120
  return Math.floor((Math.min(Math.max(width, 60), 160) - 3) / 2)
}

/** Rows under two column titles, the left column as wide as its longest line; `spaced`: blank lines between. */
export function printSideBySide(
  titles: readonly [string, string],
  rows: readonly Row[],
  spaced = true,
): void {
  const limit = maxColumn()
  const longest = Math.max(
    titles[0].length,
    ...rows.flatMap(([left]) => left.map((cell) => cell.text.length)),
  )
  const leftWidth = Math.min(longest, limit)
  const rightWidth = Math.max(limit, 2 * limit - leftWidth)
  console.log(
    twoColumns([{ text: titles[0], style: 'bold' }], [{ text: titles[1], style: 'bold' }], leftWidth)[0],
  )
  console.log(color('dim', `${'─'.repeat(leftWidth + 1)}┼${'─'.repeat(Math.min(rightWidth, 40))}`))
  rows.forEach(([left, right], i) => {
    if (spaced && i > 0) console.log(twoColumns([], [{ text: '' }], leftWidth)[0])
    for (const line of twoColumns(left, right, leftWidth, rightWidth)) console.log(line)
  })
}

/** A table, each column as wide as its widest cell; the first row is the heading. */
export function printTable(rows: readonly (readonly (string | Cell)[])[]): void {
  const cells = rows.map((row) => row.map((cell): Cell => (typeof cell === 'string' ? { text: cell } : cell)))
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]?.text.length ?? 0)))
  cells.forEach((row, r) => {
    const line = row.map((cell, i) => {
      const text = cell.style ? color(cell.style, cell.text) : cell.text
      return i === row.length - 1 ? text : text + ' '.repeat(widths[i]! - cell.text.length + 3)
    })
    console.log(r === 0 ? color('bold', line.join('')) : line.join(''))
  })
}

/** The request line with its size and, when named, one header that matters; then the body. */
export function requestCells(exchange: Exchange, header?: string): Cell[] {
  const value = header === undefined ? undefined : exchange.requestHeaders[header]
  const line = `${exchange.method} ${exchange.path}   ${bytesSent(exchange)} B`
  return [
    { text: value === undefined ? line : `${line}   ${header}: ${abbreviate(value, 6)}`, style: 'cyan' },
    ...bodyCells(exchange),
  ]
}

/** The headers named in `show` that the request carried, long values shortened. */
export function headerCells(exchange: Exchange, show: readonly string[]): Cell[] {
  return show
    .filter((name) => exchange.requestHeaders[name] !== undefined)
    .map((name) => ({ text: `  ${name}: ${abbreviate(exchange.requestHeaders[name]!)}`, style: 'dim' }))
}

/** The JSON body as sent, but for passwords. */
export function bodyCells(exchange: Exchange): Cell[] {
  return exchange.requestBody === undefined
    ? []
    : [{ text: `  ${JSON.stringify(exchange.requestBody, hidePassword)}`, style: 'dim' }]
}

/** Long header values (session ids, credentials) as their start and length. */
function abbreviate(value: string, keep = 16): string {
  return value.length > 32 ? `${value.slice(0, keep)}… (${value.length} chars)` : value
}

/** Passwords as their length in what is printed; the byte counts are those of what was sent. */
function hidePassword(key: string, value: unknown): unknown {
  return key === 'password' && typeof value === 'string' ? `<${value.length} chars>` : value
}

/** Green when the reply was the expected one, red when it was not. */
export function replyStyle(ok: boolean): Style {
  return ok ? 'green' : 'red'
}

/** Where the demo ran, for the heading. */
export function whereLine(target: DemoTarget): string {
  return (
    `stateless API ${target.statelessUrl}, stateful API ${target.statefulUrl}` +
    (target.inProcess ? ' (started in this process, throw-away data)' : '')
  )
}

/** The closing line: a tick, or every surprise. */
export function printVerdict(failures: readonly string[], success: string): void {
  if (failures.length === 0) {
    console.log(color('green', `\n✓ ${success}`))
    return
  }
  console.log(
    color(
      'red',
      `\n✗ ${failures.length} ${failures.length === 1 ? 'reply was' : 'replies were'} not as expected:`,
    ),
  )
  for (const failure of failures) console.log(color('red', `  ${failure}`))
}
