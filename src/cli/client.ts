import { randomBytes } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { styleText } from 'node:util'
import { parse } from './options.ts'

const HELP = `Usage: statelab client stateless|stateful [--url URL] [--username NAME --password PASS] [--json]

Walks the seed's workflow against a running API and prints each request beside its reply:
  stateless (default URL http://127.0.0.1:3000): log in, upload, download, delete
  stateful  (default URL http://127.0.0.1:3001): start session, upload, list, download, end
Without --username/--password it registers a fresh user first. --json prints the exchanges as JSON.`

/** One request and its reply, as the client saw them. */
export interface Exchange {
  readonly step: string
  readonly method: string
  readonly path: string
  /** Every header sent, in the order sent, including those HTTP needs (host, content-length, connection). */
  readonly requestHeaders: Record<string, string>
  readonly requestBody?: unknown
  /** Bytes sent: `head` is the request line, the headers and the blank line after them. */
  readonly requestBytes: { readonly head: number; readonly body: number }
  readonly status: number
  readonly responseBody: unknown
  readonly ms: number
}

/** Headers any HTTP/1.1 request carries, whatever the API: left out when showing what a request had to say. */
export const TRANSPORT_HEADERS: ReadonlySet<string> = new Set(['host', 'content-length', 'connection'])

/** All the bytes of a request: line, headers, body. */
export const bytesSent = (exchange: Exchange): number =>
  exchange.requestBytes.head + exchange.requestBytes.body

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    url: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  const kind = positionals[0]
  if (values.help || (kind !== 'stateless' && kind !== 'stateful')) {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  const url = values.url ?? (kind === 'stateless' ? 'http://127.0.0.1:3000' : 'http://127.0.0.1:3001')
  const client = new ScriptedClient(url, values.json ? undefined : printExchange)
  const credentials = await client.credentials(values.username, values.password)
  const exchanges =
    kind === 'stateless' ? await walkStateless(client, credentials) : await walkStateful(client, credentials)
  if (values.json) console.log(JSON.stringify(exchanges, null, 2))
  else summarize(kind, exchanges)
  if (exchanges.some((e) => e.status >= 500 || (e.status >= 400 && !e.step.includes('refused'))))
    process.exitCode = 1
}

/** The seed 000 stateless workflow: credentials (here a JWT) on every request. */
export async function walkStateless(client: ScriptedClient, who: Credentials): Promise<Exchange[]> {
  const login = await client.send('log in', 'POST', '/api/auth/login', { body: who })
  const token = (login.responseBody as { access_token?: string }).access_token
  if (!token) return client.exchanges
  const auth = { authorization: `Bearer ${token}` }
  const upload = await client.send('upload a file', 'POST', '/api/upload', { headers: auth, body: SAMPLE })
  const fileId = (upload.responseBody as { file_id?: string }).file_id
  if (!fileId) return client.exchanges
  await client.send('download it', 'GET', `/api/files/${fileId}`, {
    headers: { ...auth, accept: 'application/json' },
  })
  await client.send('delete it', 'DELETE', `/api/files/${fileId}`, { headers: auth })
  await client.send('without the token: refused', 'GET', '/api/files', {})
  return client.exchanges
}

/** The seed 000 stateful workflow: log in once, then only a session id. */
export async function walkStateful(client: ScriptedClient, who: Credentials): Promise<Exchange[]> {
  const start = await client.send('start a session', 'POST', '/api/session/start', { body: who })
  const sessionId = (start.responseBody as { session_id?: string }).session_id
  if (!sessionId) return client.exchanges
  const session = { 'x-session-id': sessionId }
  const upload = await client.send('upload a file', 'POST', '/api/upload', { headers: session, body: SAMPLE })
  const fileId = (upload.responseBody as { file_id?: string }).file_id
  await client.send('list my files', 'GET', '/api/files', { headers: session })
  if (fileId) {
    await client.send('download it', 'GET', `/api/files/${fileId}`, {
      headers: { ...session, accept: 'application/json' },
    })
  }
  await client.send('what the server remembers', 'GET', '/api/session', { headers: session })
  await client.send('end the session', 'POST', '/api/session/end', { headers: session })
  await client.send('the ended session: refused', 'GET', '/api/files', { headers: session })
  return client.exchanges
}

export interface Credentials {
  readonly username: string
  readonly password: string
}

const SAMPLE = { filename: 'hello.txt', content: 'Hello from the statelab client!\n', encoding: 'utf8' }

/** A fetch wrapper that records every exchange. */
export class ScriptedClient {
  readonly exchanges: Exchange[] = []
  readonly #base: string
  readonly #onExchange: ((exchange: Exchange) => void) | undefined

  constructor(base: string, onExchange?: (exchange: Exchange) => void) {
    this.#base = base.replace(/\/$/, '')
    this.#onExchange = onExchange
  }

  /** The given credentials, or a freshly registered user's. */
  async credentials(username?: string, password?: string): Promise<Credentials> {
    if (username !== undefined && password !== undefined) return { username, password }
    const fresh = {
      username: `client-${randomBytes(4).toString('hex')}`,
      password: randomBytes(12).toString('base64url'),
    }
    const reply = await this.send('register a user', 'POST', '/api/users', { body: fresh })
    if (reply.status !== 201)
      throw new Error(`could not register a user at ${this.#base}: HTTP ${reply.status}`)
    return fresh
  }

  async send(
    step: string,
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: unknown },
  ): Promise<Exchange> {
    const url = new URL(this.#base + path)
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body))
    // Every header is set here, so Node adds none of its own: the bytes counted are the bytes sent.
    const requestHeaders: Record<string, string> = { host: url.host, ...options.headers }
    if (body) requestHeaders['content-type'] = 'application/json'
    if (body || method === 'POST' || method === 'PUT' || method === 'PATCH')
      requestHeaders['content-length'] = String(body?.length ?? 0)
    requestHeaders.connection = 'close'
    const head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\n${Object.entries(requestHeaders)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}\r\n`
    const started = performance.now()
    let reply: { status: number; text: string }
    try {
      reply = await transmit(url, method, requestHeaders, body)
    } catch (err) {
      throw Object.assign(
        new Error(`cannot reach ${this.#base} (${(err as Error).message}); is it running? Try: npm start`),
        { code: 'ERR_UNREACHABLE', cause: err },
      )
    }
    let responseBody: unknown = reply.text
    try {
      responseBody = JSON.parse(reply.text)
    } catch {}
    const exchange: Exchange = {
      step,
      method,
      path,
      requestHeaders,
      requestBody: options.body,
      requestBytes: { head: Buffer.byteLength(head, 'latin1'), body: body?.length ?? 0 },
      status: reply.status,
      responseBody,
      ms: Math.round(performance.now() - started),
    }
    this.exchanges.push(exchange)
    this.#onExchange?.(exchange)
    return exchange
  }
}

/** One request on its own connection, through `node:http` rather than fetch, which adds headers of its own. */
function transmit(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<{ status: number; text: string }> {
  const transport = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const request = transport.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('error', reject)
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        )
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

/** A style `node:util` `styleText` knows, or a list of them. */
export type Style = Parameters<typeof styleText>[0]

/** One line of a column, and its style in a terminal. */
export interface Cell {
  readonly text: string
  readonly style?: Style
}

/** `text` styled when stdout is a terminal and NO_COLOR is unset; as it is otherwise. */
export function color(style: Style, text: string): string {
  return process.stdout.isTTY && !process.env.NO_COLOR
    ? styleText(style, text, { validateStream: false })
    : text
}

/**
 * Two columns, `left │ right`, the left one padded to `leftWidth`; cells longer than their column wrap
 * (before colouring, so no escape sequence is cut).
 */
export function twoColumns(
  left: readonly Cell[],
  right: readonly Cell[],
  leftWidth: number,
  rightWidth = leftWidth,
): string[] {
  const lay = (cells: readonly Cell[], width: number) =>
    cells.flatMap((cell) => wrap(cell.text, width).map((text) => ({ text, style: cell.style })))
  const [l, r] = [lay(left, leftWidth), lay(right, rightWidth)]
  const paint = (cell: Cell | undefined) =>
    cell === undefined ? '' : cell.style ? color(cell.style, cell.text) : cell.text
  const lines: string[] = []
  for (let i = 0; i < Math.max(l.length, r.length); i++) {
    const padding = ' '.repeat(Math.max(0, leftWidth - (l[i]?.text.length ?? 0)))
    lines.push(`${paint(l[i])}${padding} ${color('dim', '│')} ${paint(r[i])}`.trimEnd())
  }
  return lines
}

/** Prints one exchange as two columns: what was sent | what came back. */
function printExchange(exchange: Exchange): void {
  const width = Math.max(100, Math.min(process.stdout.columns ?? 120, 160))
  const column = Math.floor((width - 3) / 2)
  const left: Cell[] = [
    { text: `→ ${exchange.method} ${exchange.path}`, style: 'cyan' },
    ...Object.entries(exchange.requestHeaders)
      .filter(([name]) => !TRANSPORT_HEADERS.has(name))
      .map(([name, value]): Cell => ({ text: `  ${name}: ${shorten(value)}`, style: 'dim' })),
    ...(exchange.requestBody === undefined
      ? []
      : [{ text: `  ${display(exchange.requestBody)}`, style: 'dim' } as const]),
  ]
  const right: Cell[] = [
    { text: `← ${exchange.status} (${exchange.ms} ms)`, style: exchange.status < 400 ? 'green' : 'yellow' },
    { text: `  ${display(exchange.responseBody)}`, style: 'dim' },
  ]
  console.log(
    color('bold', `\n── ${exchange.step} ${'─'.repeat(Math.max(0, width - exchange.step.length - 4))}`),
  )
  for (const line of twoColumns(left, right, column)) console.log(line)
}

/** JSON with long strings (tokens, ids) shortened so the shape stays readable. */
export function display(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? shorten(v) : v))
}

/** Long unbroken words (tokens, hashes) as `first…last (N chars)`. */
export function shorten(text: string): string {
  return text.replace(/\S{49,}/g, (word) => `${word.slice(0, 24)}…${word.slice(-8)} (${word.length} chars)`)
}

/** `text` cut into lines of at most `width`; continuation lines are indented. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  for (let rest = text; rest.length > 0; rest = `    ${rest.slice(width)}`) {
    lines.push(rest.slice(0, width))
    if (rest.length <= width) break
  }
  return lines.length > 0 ? lines : ['']
}

function summarize(kind: string, exchanges: Exchange[]): void {
  const total = exchanges.reduce((n, e) => n + bytesSent(e), 0)
  console.log(
    `\n${exchanges.length} requests, ${total} bytes sent (request lines, headers and bodies). ` +
      (kind === 'stateless'
        ? 'The server kept nothing between them: every request carried the token that proves who you are.'
        : 'After the login, each request carried only a session id; the server remembered the rest, until the session ended.'),
  )
}
