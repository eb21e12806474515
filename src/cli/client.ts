import { randomBytes } from 'node:crypto'
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
  readonly requestHeaders: Record<string, string>
  readonly requestBody?: unknown
  readonly status: number
  readonly responseBody: unknown
  readonly ms: number
}

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
    const requestHeaders: Record<string, string> = { ...options.headers }
    if (options.body !== undefined) requestHeaders['content-type'] = 'application/json'
    const started = performance.now()
    let response: Response
    try {
      response = await fetch(this.#base + path, {
        method,
        headers: requestHeaders,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      })
    } catch (err) {
      throw new Error(
        `cannot reach ${this.#base} (${(err as Error).cause ?? err}); is it running? Try: npm start`,
      )
    }
    const text = await response.text()
    let responseBody: unknown = text
    try {
      responseBody = JSON.parse(text)
    } catch {}
    const exchange: Exchange = {
      step,
      method,
      path,
      requestHeaders,
      requestBody: options.body,
      status: response.status,
      responseBody,
      ms: Math.round(performance.now() - started),
    }
    this.exchanges.push(exchange)
    this.#onExchange?.(exchange)
    return exchange
  }
}

const color = (style: Parameters<typeof styleText>[0], text: string) =>
  process.stdout.isTTY && !process.env.NO_COLOR ? styleText(style, text) : text

/** Prints one exchange as two columns: what was sent | what came back. */
function printExchange(exchange: Exchange): void {
  const width = Math.max(100, Math.min(process.stdout.columns ?? 120, 160))
  const column = Math.floor((width - 3) / 2)
  const left = [
    `→ ${exchange.method} ${exchange.path}`,
    ...Object.entries(exchange.requestHeaders).flatMap(([k, v]) => wrap(`  ${k}: ${shorten(v)}`, column)),
    ...(exchange.requestBody === undefined ? [] : wrap(`  ${display(exchange.requestBody)}`, column)),
  ]
  const right = [
    `← ${exchange.status} (${exchange.ms} ms)`,
    ...wrap(`  ${display(exchange.responseBody)}`, column),
  ]
  console.log(
    color('bold', `\n── ${exchange.step} ${'─'.repeat(Math.max(0, width - exchange.step.length - 4))}`),
  )
  const paint = exchange.status < 400 ? 'green' : 'yellow'
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const l = (left[i] ?? '').padEnd(column)
    console.log(`${color(i === 0 ? 'cyan' : 'dim', l)} │ ${color(i === 0 ? paint : 'dim', right[i] ?? '')}`)
  }
}

/** JSON with long strings (tokens, ids) shortened so the shape stays readable. */
function display(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? shorten(v) : v))
}

/** Long unbroken words (tokens, hashes) as `first…last (N chars)`. */
function shorten(text: string): string {
  return text.replace(/\S{49,}/g, (word) => `${word.slice(0, 24)}…${word.slice(-8)} (${word.length} chars)`)
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  for (let rest = text; rest.length > 0; rest = `    ${rest.slice(width)}`) {
    lines.push(rest.slice(0, width))
    if (rest.length <= width) break
  }
  return lines
}

function summarize(kind: string, exchanges: Exchange[]): void {
  const bytes = (e: Exchange) =>
    Object.entries(e.requestHeaders).reduce((n, [k, v]) => n + k.length + v.length + 4, 0) +
    (e.requestBody === undefined ? 0 : JSON.stringify(e.requestBody).length)
  const total = exchanges.reduce((n, e) => n + bytes(e), 0)
  console.log(
    `\n${exchanges.length} requests, ${total} bytes of headers and bodies sent. ` +
      (kind === 'stateless'
        ? 'The server kept nothing between them: every request carried the token that proves who you are.'
        : 'After the login, each request carried only a session id; the server remembered the rest, until the session ended.'),
  )
}
