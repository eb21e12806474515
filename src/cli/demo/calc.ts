import { type Cell, color, type Exchange, ScriptedClient } from '../client.ts'
import { type ByteCount, Checks, countBytes, field, numbersIn, statusLine } from './checks.ts'
import {
  printSideBySide,
  printTable,
  printVerdict,
  type Row,
  replyStyle,
  requestCells,
  whereLine,
} from './layout.ts'
import type { DemoTarget } from './target.ts'

/** Seed 002's task, ((10 + 5) × 2) - 3: a first number, then one operation per step. */
const FIRST = 10
const STEPS = [
  { operation: 'add', symbol: '+', b: 5, expect: 15 },
  { operation: 'multiply', symbol: '×', b: 2, expect: 30 },
  { operation: 'subtract', symbol: '-', b: 3, expect: 27 },
] as const
const TASK = STEPS.reduce(
  (expression, step, i) => `${i === 0 ? expression : `(${expression})`} ${step.symbol} ${step.b}`,
  String(FIRST),
)
const EXPECTED = STEPS.at(-1)!.expect

/** The same four requests to both servers: only the one that remembers can answer them. */
const FEATURES = [
  { name: 'history', method: 'GET', path: '/api/calc/history' },
  { name: 'undo', method: 'POST', path: '/api/calc/undo' },
  { name: 'redo', method: 'POST', path: '/api/calc/redo' },
  { name: 'stats', method: 'GET', path: '/api/calc/stats' },
] as const

/** One side of the calculation. */
export interface CalcSide {
  readonly url: string
  /** Each step's result as the server answered it, up to the first unexpected reply. */
  readonly results: readonly number[]
  /** The last result, or null when the side did not get there. */
  readonly result: number | null
  /** Every number in the bodies of the requests that computed the result. */
  readonly numbersSent: readonly number[]
  /** The requests that computed the result (the stateful side's include starting the session). */
  readonly bytes: ByteCount
  readonly exchanges: readonly Exchange[]
  /** The history, undo, redo and stats requests. */
  readonly features: readonly Exchange[]
}

export interface CalcReport {
  readonly demo: 'calc'
  readonly task: string
  readonly expected: number
  readonly ok: boolean
  readonly failures: readonly string[]
  readonly stateless: CalcSide
  readonly stateful: CalcSide & {
    readonly sessionStartBytes: number
    /** The history's expressions, e.g. `10 + 5 = 15`. */
    readonly history: readonly string[]
    /** The last result after undo, then after redo. */
    readonly undo: number | null
    readonly redo: number | null
    readonly stats: unknown
  }
}

/**
 * Computes ((10 + 5) × 2) - 3 on both APIs: statelessly the client sends each result back, statefully the
 * session remembers it; then asks both for history, undo, redo and stats.
 *
 * @example
 * const report = await runCalcDemo(await openTarget({}))
 * report.stateless.result === 27 && report.stateful.result === 27
 */
export async function runCalcDemo(target: DemoTarget): Promise<CalcReport> {
  const checks = new Checks()
  const stateless = await calculateStatelessly(target.statelessUrl, checks)
  const stateful = await calculateStatefully(target.statefulUrl, checks)
  return {
    demo: 'calc',
    task: TASK,
    expected: EXPECTED,
    ok: checks.failures.length === 0,
    failures: checks.failures,
    stateless,
    stateful,
  }
}

async function calculateStatelessly(url: string, checks: Checks): Promise<CalcReport['stateless']> {
  const client = new ScriptedClient(url)
  const expect = (exchange: Exchange, ok: boolean, wanted: string) =>
    checks.expect(ok, 'stateless', exchange, wanted)
  const results: number[] = []
  let carried: number = FIRST // the client's memory: the server forgets every result
  for (const step of STEPS) {
    const exchange = await client.send(step.operation, 'POST', '/api/calc', {
      body: { operation: step.operation, a: carried, b: step.b },
    })
    const result = field(exchange, 'result')
    const answered = exchange.status === 200 && result === step.expect
    if (!expect(exchange, answered, `200 with result ${step.expect}`)) break
    carried = result as number // what the server answered goes back in the next request
    results.push(carried)
  }
  const exchanges = [...client.exchanges]
  const features: Exchange[] = []
  for (const feature of FEATURES) {
    const exchange = await client.send(feature.name, feature.method, feature.path, {})
    expect(exchange, exchange.status === 404, '404: a server that remembers nothing has no such route')
    features.push(exchange)
  }
  return summarize(url, results, exchanges, features)
}

async function calculateStatefully(url: string, checks: Checks): Promise<CalcReport['stateful']> {
  const who = await new ScriptedClient(url).credentials() // a throw-away user: setup, not part of the demo
  const client = new ScriptedClient(url)
  const expect = (exchange: Exchange, ok: boolean, wanted: string) =>
    checks.expect(exchange.status < 300 && ok, 'stateful', exchange, wanted)
  const start = await client.send('start a session', 'POST', '/api/session/start', { body: who })
  const sessionId = field(start, 'session_id')
  const started = expect(start, typeof sessionId === 'string', '201 with a session_id')
  const headers = { 'x-session-id': String(sessionId) }
  const results: number[] = []
  for (const [i, step] of (started ? STEPS : []).entries()) {
    const { operation, b } = step
    const body = i === 0 ? { operation, a: FIRST, b } : { operation, use_last: true, b }
    const exchange = await client.send(operation, 'POST', '/api/calc', { headers, body })
    const remembered =
      field(exchange, 'result') === step.expect && field(exchange, 'last_result') === step.expect
    if (!expect(exchange, remembered, `200 with result and last_result ${step.expect}`)) break
    results.push(field(exchange, 'result') as number)
  }
  const exchanges = [...client.exchanges]
  const memory = results.length === STEPS.length ? await askMemory(client, headers, results, expect) : NOTHING
  // Unrecorded: a running server need not keep the demo's session until it expires.
  if (started) await new ScriptedClient(url).send('end the session', 'POST', '/api/session/end', { headers })
  const { features, ...answers } = memory
  return {
    ...summarize(url, results, exchanges, features),
    sessionStartBytes: countBytes([start]).total,
    ...answers,
  }
}

const NOTHING = { features: [], history: [], undo: null, redo: null, stats: null }

/** History, undo, redo and stats, each checked against what the calculation produced. */
async function askMemory(
  client: ScriptedClient,
  headers: Record<string, string>,
  results: readonly number[],
  expect: (exchange: Exchange, ok: boolean, wanted: string) => boolean,
) {
  const ask = (name: (typeof FEATURES)[number]['name']) => {
    const feature = FEATURES.find((f) => f.name === name)!
    return client.send(feature.name, feature.method, feature.path, { headers })
  }
  const lastResult = (exchange: Exchange) => {
    const value = field(exchange, 'last_result')
    return typeof value === 'number' ? value : null
  }
  const shown = await ask('history')
  const steps = (field(shown, 'history') ?? []) as { expression: string; result: number }[]
  expect(shown, steps.map((s) => s.result).join() === results.join(), `200 with ${results.join(', ')}`)
  const undone = await ask('undo')
  expect(undone, lastResult(undone) === results.at(-2), `200 with last_result ${results.at(-2)}`)
  const redone = await ask('redo')
  expect(redone, lastResult(redone) === results.at(-1), `200 with last_result ${results.at(-1)}`)
  const counted = await ask('stats')
  expect(
    counted,
    field(counted, 'total_operations') === results.length,
    `200 with total_operations ${results.length}`,
  )
  return {
    features: [shown, undone, redone, counted],
    history: steps.map((s) => `${s.expression} = ${s.result}`),
    undo: lastResult(undone),
    redo: lastResult(redone),
    stats: counted.responseBody,
  }
}

function summarize(url: string, results: number[], exchanges: Exchange[], features: Exchange[]): CalcSide {
  return {
    url,
    results,
    result: results.length === STEPS.length ? results.at(-1)! : null,
    numbersSent: exchanges.flatMap((e) => numbersIn(e.requestBody)),
    bytes: countBytes(exchanges),
    exchanges,
    features,
  }
}

/** The side-by-side view of seed 002's "Demo Output Explained", from what was actually sent and answered. */
export function printCalcReport(report: CalcReport, target: DemoTarget): void {
  const { stateless, stateful } = report
  console.log(color('bold', `${report.task} = ${report.expected}, once on each API`))
  console.log(color('dim', whereLine(target)))
  console.log()

  const calculations = (side: CalcSide) => side.exchanges.filter((e) => e.path === '/api/calc')
  const [start] = stateful.exchanges
  const rows: Row[] = []
  if (start) {
    const id = field(start, 'session_id')
    rows.push([
      [{ text: 'no session: nothing to start', style: 'dim' }],
      [
        ...requestCells(start),
        {
          text:
            statusLine(start) +
            (typeof id === 'string' ? ` session id ${id.slice(0, 6)}… (${id.length} chars)` : ''),
          style: replyStyle(start.status === 201),
        },
      ],
    ])
  }
  const [left, right] = [calculations(stateless), calculations(stateful)]
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    rows.push([calculationCells(left[i], 'client'), calculationCells(right[i], 'server')])
  }
  // Unspaced: every row starts with its request line on both sides.
  printSideBySide(
    ['STATELESS: the client carries the result', 'STATEFUL: the server remembers it'],
    rows,
    false,
  )

  const list = (numbers: readonly number[]) => `${numbers.length}: ${numbers.join(', ')}`
  const bytes = (b: ByteCount) => `${b.total} (${b.head} + ${b.body})`
  console.log()
  printTable([
    [`What it took to reach ${report.expected}`, 'stateless', 'stateful'],
    [
      'requests',
      String(stateless.bytes.requests),
      `${stateful.bytes.requests} (1 starts the session: ${stateful.sessionStartBytes} B)`,
    ],
    ['numbers sent', list(stateless.numbersSent), list(stateful.numbersSent)],
    ['bytes sent (line+headers + body)', bytes(stateless.bytes), bytes(stateful.bytes)],
    ['result', String(stateless.result ?? '-'), String(stateful.result ?? '-')],
  ])
  if (stateless.result !== null && stateful.result !== null) console.log(color('dim', explainBytes(report)))

  console.log()
  printTable([
    ['Features, asked of both', 'stateless', 'stateful'],
    ...FEATURES.map((feature, i) => [
      `${feature.method} ${feature.path}`,
      featureCell(stateless.features[i], 404),
      featureCell(stateful.features[i], 200),
    ]),
  ])

  printVerdict(
    report.failures,
    `Both sides reached ${report.expected}; undo went back to ${stateful.undo}, redo forward to ${stateful.redo}.`,
  )
}

function calculationCells(exchange: Exchange | undefined, keeper: 'client' | 'server'): Cell[] {
  if (!exchange) return []
  const [expression, result] = [field(exchange, 'expression'), field(exchange, 'result')]
  const ok = exchange.status === 200 && typeof result === 'number'
  const kept =
    keeper === 'client'
      ? `the client keeps ${result}`
      : `the server keeps ${field(exchange, 'last_result')} (history: ${field(exchange, 'history_length')})`
  return [
    ...requestCells(exchange, 'x-session-id'),
    {
      text: ok ? `← ${exchange.status} ${expression} = ${result}: ${kept}` : statusLine(exchange),
      style: replyStyle(ok),
    },
  ]
}

function featureCell(exchange: Exchange | undefined, expected: number): Cell {
  if (!exchange) return { text: '(not asked)', style: 'dim' }
  const ok = exchange.status === expected
  const text =
    ok && expected === 200 ? `${exchange.status} ${digest(exchange)}` : statusLine(exchange).slice(2)
  return { text, style: replyStyle(ok) }
}

/** What a history, undo, redo or stats reply says, in a line. */
function digest(exchange: Exchange): string {
  switch (exchange.step) {
    case 'history': {
      const steps = (field(exchange, 'history') ?? []) as { expression: string; result: number }[]
      return steps.map((s) => `${s.expression} = ${s.result}`).join(', ')
    }
    case 'stats': {
      const operations = (field(exchange, 'operations') ?? {}) as Record<string, number>
      return `${Object.entries(operations)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ')}; session ${field(exchange, 'session_age_seconds')} s old`
    }
    default:
      return `last result ${field(exchange, 'last_result')}${field(exchange, 'can_redo') ? ', can redo' : ''}`
  }
}

/** Fewer numbers need not mean fewer bytes: says which way it went this time, and why. */
function explainBytes({ stateless, stateful }: CalcReport): string {
  const numbers = stateless.numbersSent.length - stateful.numbersSent.length
  const difference = stateful.bytes.total - stateless.bytes.total
  const id = stateful.exchanges[1]?.requestHeaders['x-session-id']?.length
  return [
    `The stateless client sent ${numbers} more numbers: each result the server forgot went back in the next request.`,
    difference > 0
      ? `The stateful one sent ${difference} more bytes (a login, then a ${id}-character session id per request): they buy memory.`
      : `The stateful one sent ${-difference} fewer bytes, and its session buys memory.`,
  ].join('\n')
}
