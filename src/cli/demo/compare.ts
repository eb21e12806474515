import { type Cell, color, type Exchange, ScriptedClient, TRANSPORT_HEADERS } from '../client.ts'
import { type ByteCount, Checks, countBytes, field, statusLine } from './checks.ts'
import {
  bodyCells,
  headerCells,
  printSideBySide,
  printTable,
  printVerdict,
  type Row,
  replyStyle,
  whereLine,
} from './layout.ts'
import type { DemoTarget } from './target.ts'

/** Seed 000's three user actions, the same on both sides. */
const ACTIONS = ['identify yourself', 'upload document.txt', 'list my files'] as const

const DOCUMENT = {
  filename: 'document.txt',
  content: 'Minutes: the goldfish forgot again.\n',
  encoding: 'utf8',
}

/** One side of the comparison. */
export interface CompareSide {
  readonly url: string
  /** How many of the actions' requests carried the password (Basic or body), and how many a session id. */
  readonly carried: { readonly password: number; readonly sessionId: number }
  /** One request per action, in the order of `ACTIONS`, up to the first unexpected reply. */
  readonly actions: readonly { readonly action: string; readonly exchange: Exchange }[]
  readonly bytes: ByteCount
  /** Milliseconds the requests of the actions took, end to end. */
  readonly ms: number
  /** The file names the last action listed. */
  readonly files: readonly string[]
  /** GET /api/session, and what the server keeps about the conversation (null: nothing). */
  readonly memory: { readonly exchange: Exchange | null; readonly stored: unknown }
}

export interface CompareReport {
  readonly demo: 'compare'
  readonly ok: boolean
  readonly failures: readonly string[]
  readonly stateless: CompareSide
  readonly stateful: CompareSide
}

/**
 * Seed 000's goldfish and long memory on the file API: identify yourself, upload document.txt, list my
 * files; with the password on every request (HTTP Basic), then with a session.
 *
 * @example
 * const report = await runCompareDemo(await openTarget({}))
 * report.stateful.memory.stored // the session record
 */
export async function runCompareDemo(target: DemoTarget): Promise<CompareReport> {
  const checks = new Checks()
  const stateless = await walkLikeAGoldfish(target.statelessUrl, checks)
  const stateful = await walkWithLongMemory(target.statefulUrl, checks)
  return { demo: 'compare', ok: checks.failures.length === 0, failures: checks.failures, stateless, stateful }
}

/** Every request says "I'm john, here's my password": nothing to log in to, nothing to remember. */
async function walkLikeAGoldfish(url: string, checks: Checks): Promise<CompareSide> {
  const who = await new ScriptedClient(url).credentials() // a throw-away user: setup, not part of the demo
  const client = new ScriptedClient(url)
  const side = 'stateless'
  const basic = Buffer.from(`${who.username}:${who.password}`).toString('base64')
  const headers = { authorization: `Basic ${basic}` }
  // No login to keep: the client checks its password with any request, and will send it again every time.
  const identify = await client.send(ACTIONS[0], 'GET', '/api/files', { headers })
  const known = checks.expect(identify.status === 200, side, identify, '200: the password is right')
  let memory: Exchange | null = null
  if (known) {
    const fileId = await uploadAndList(client, headers, checks, side)
    memory = await client.send('what the server remembers', 'GET', '/api/session', { headers })
    checks.expect(memory.status === 404, side, memory, '404: a server that remembers no one has no session')
    await tidy(url, headers, fileId, false)
  }
  return describe(url, client, memory, null)
}

/** "I'm john, here's my password" once; then "session abc123: ...". */
async function walkWithLongMemory(url: string, checks: Checks): Promise<CompareSide> {
  const who = await new ScriptedClient(url).credentials()
  const client = new ScriptedClient(url)
  const side = 'stateful'
  const start = await client.send(ACTIONS[0], 'POST', '/api/session/start', { body: who })
  const sessionId = field(start, 'session_id')
  const started = checks.expect(
    start.status === 201 && typeof sessionId === 'string',
    side,
    start,
    '201 with a session_id',
  )
  let memory: Exchange | null = null
  if (started) {
    const headers = { 'x-session-id': String(sessionId) }
    const fileId = await uploadAndList(client, headers, checks, side)
    memory = await client.send('what the server remembers', 'GET', '/api/session', { headers })
    const uploaded = field(memory, 'files_uploaded')
    const remembered =
      memory.status === 200 &&
      field(memory, 'username') === who.username &&
      Array.isArray(uploaded) &&
      uploaded.includes(fileId)
    checks.expect(remembered, side, memory, '200 with the session: who, and the file just uploaded')
    await tidy(url, headers, fileId, true)
  }
  const stored = memory?.status === 200 ? memory.responseBody : null
  return describe(url, client, memory, stored)
}

/** Deletes the demo's file and ends its session, unrecorded: a running server keeps neither. */
async function tidy(url: string, headers: Record<string, string>, fileId: unknown, session: boolean) {
  const client = new ScriptedClient(url)
  if (typeof fileId === 'string') await client.send('tidy', 'DELETE', `/api/files/${fileId}`, { headers })
  if (session) await client.send('tidy', 'POST', '/api/session/end', { headers })
}

/** Actions 2 and 3; returns the uploaded file's id. */
async function uploadAndList(
  client: ScriptedClient,
  headers: Record<string, string>,
  checks: Checks,
  side: string,
): Promise<unknown> {
  const upload = await client.send(ACTIONS[1], 'POST', '/api/upload', { headers, body: DOCUMENT })
  const fileId = field(upload, 'file_id')
  if (!checks.expect(upload.status === 201 && typeof fileId === 'string', side, upload, '201 with a file_id'))
    return undefined
  const list = await client.send(ACTIONS[2], 'GET', '/api/files', { headers })
  checks.expect(
    list.status === 200 && filesIn(list).includes(DOCUMENT.filename),
    side,
    list,
    `200 listing ${DOCUMENT.filename}`,
  )
  return fileId
}

function describe(
  url: string,
  client: ScriptedClient,
  memory: Exchange | null,
  stored: unknown,
): CompareSide {
  const actions = client.exchanges
    .filter((e) => (ACTIONS as readonly string[]).includes(e.step))
    .map((exchange) => ({ action: exchange.step, exchange }))
  const exchanges = actions.map((a) => a.exchange)
  const carrying = (test: (e: Exchange) => boolean) => exchanges.filter(test).length
  return {
    url,
    carried: {
      password: carrying(
        (e) =>
          e.requestHeaders.authorization?.startsWith('Basic ') === true ||
          typeof (e.requestBody as { password?: unknown } | undefined)?.password === 'string',
      ),
      sessionId: carrying((e) => e.requestHeaders['x-session-id'] !== undefined),
    },
    actions,
    bytes: countBytes(exchanges),
    ms: exchanges.reduce((n, e) => n + e.ms, 0),
    files: filesIn(exchanges.at(-1)),
    memory: { exchange: memory, stored },
  }
}

function filesIn(exchange: Exchange | undefined): string[] {
  const files = field(exchange, 'files')
  return Array.isArray(files) ? files.map((f: { filename?: string }) => String(f.filename)) : []
}

/** Per action, each side's request (what it carried, in bytes) and reply; then what each server keeps. */
export function printCompareReport(report: CompareReport, target: DemoTarget): void {
  const { stateless, stateful } = report
  console.log(color('bold', 'Goldfish vs long memory: the same three actions on each API'))
  console.log(color('dim', whereLine(target)))
  console.log(
    color(
      'dim',
      'The stateless API also offers POST /api/auth/login for a JWT to carry instead; the goldfish repeats its password.',
    ),
  )
  console.log()
  const rows = ACTIONS.map((action, i): Row => {
    const title: Cell = { text: `${i + 1}. ${action}`, style: 'bold' }
    return [
      [title, ...actionCells(stateless.actions[i]?.exchange)],
      [title, ...actionCells(stateful.actions[i]?.exchange)],
    ]
  })
  printSideBySide(['STATELESS: the goldfish', 'STATEFUL: the long memory'], rows)

  console.log()
  printTable([
    ['What the three requests carried', 'stateless', 'stateful'],
    ['the password', times(stateless.carried.password), times(stateful.carried.password)],
    ['a session id', times(stateless.carried.sessionId), times(stateful.carried.sessionId)],
    ['bytes sent (line+headers + body)', bytes(stateless.bytes), bytes(stateful.bytes)],
    ['time, end to end', `${stateless.ms} ms`, `${stateful.ms} ms`],
    ['files listed', stateless.files.join(', ') || '-', stateful.files.join(', ') || '-'],
  ])
  console.log(
    color(
      'dim',
      'Each Basic request costs the server a password hash (argon2id); a session costs one lookup after the first.',
    ),
  )

  console.log()
  console.log(color('bold', 'What each server keeps about the conversation (GET /api/session):'))
  printSideBySide(
    ['stateless', 'stateful'],
    [
      [
        memoryCells(stateless.memory.exchange, 'nothing: there is no session to show'),
        memoryCells(stateful.memory.exchange),
      ],
    ],
  )
  printVerdict(
    report.failures,
    'Same three actions; only the stateful server had to remember who you are between them.',
  )
}

function times(n: number): string {
  return n === 0 ? 'never' : `in ${n} of ${ACTIONS.length} requests`
}

function bytes(count: ByteCount): string {
  return `${count.total} (${count.head} + ${count.body})`
}

function actionCells(exchange: Exchange | undefined): Cell[] {
  if (!exchange) return [{ text: '(not sent: an earlier step failed)', style: 'dim' }]
  const headers = Object.keys(exchange.requestHeaders).filter((name) => !TRANSPORT_HEADERS.has(name))
  return [
    { text: `${exchange.method} ${exchange.path}`, style: 'cyan' },
    ...headerCells(exchange, headers),
    ...bodyCells(exchange),
    {
      text: `  sent ${exchange.requestBytes.head} B line+headers, ${exchange.requestBytes.body} B body`,
      style: 'dim',
    },
    {
      text: `${statusLine(exchange)} ${reply(exchange)}  ${exchange.ms} ms`,
      style: replyStyle(exchange.status < 400),
    },
  ]
}

/** What a reply says, in a few words. */
function reply(exchange: Exchange): string {
  if (exchange.status >= 400) return ''
  const sessionId = field(exchange, 'session_id')
  if (typeof sessionId === 'string') return `session id ${sessionId.slice(0, 6)}… (${sessionId.length} chars)`
  const fileId = field(exchange, 'file_id')
  if (typeof fileId === 'string') return `file_id ${fileId.slice(0, 8)}…`
  const files = filesIn(exchange)
  return `${files.length} file${files.length === 1 ? '' : 's'}${files.length ? `: ${files.join(', ')}` : ''}`
}

function memoryCells(exchange: Exchange | null, nothing?: string): Cell[] {
  if (!exchange) return [{ text: '(not asked: an earlier step failed)', style: 'dim' }]
  const head: Cell[] = [
    { text: `${exchange.method} ${exchange.path}`, style: 'cyan' },
    {
      text: statusLine(exchange),
      style: replyStyle(nothing ? exchange.status === 404 : exchange.status === 200),
    },
  ]
  if (nothing) return [...head, { text: `  ${nothing}` }]
  const record = (exchange.responseBody ?? {}) as Record<string, unknown>
  return [
    ...head,
    ...Object.entries(record)
      .filter(([key]) => key !== 'id' && key !== 'current')
      .map(([key, value]): Cell => ({ text: `  ${key}: ${show(value)}` })),
  ]
}

function show(value: unknown): string {
  if (Array.isArray(value))
    return `${value.length} [${value.map((v) => `${String(v).slice(0, 8)}…`).join(', ')}]`
  return String(value)
}
