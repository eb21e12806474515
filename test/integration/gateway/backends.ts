// Test backends for the gateway: small node:http servers that answer with their own name and remember
// what they received. Not a test file itself; the gateway tests import it.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request as a test backend saw it. */
export interface Received {
  readonly method: string
  /** Path and query, as the backend got them (the gateway's prefix already stripped). */
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** What a test backend answers: `{ name, method, url, headers, body }`. */
export interface Echo extends Received {
  readonly name: string
}

export class TestBackend {
  readonly name: string
  readonly received: Received[] = []
  /** Status of every route but `/health`. */
  status = 200
  /** Status of `GET /health`. */
  healthStatus = 200
  #server: Server
  #port = 0
  #held: (() => void)[] = []

  constructor(name: string) {
    this.name = name
    this.#server = this.#create()
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`
  }

  /** Requests other than health checks. */
  get requests(): Received[] {
    return this.received.filter((r) => r.url !== '/health')
  }

  /** Requests to `/hold` waiting for {@link releaseHeld}. */
  get held(): number {
    return this.#held.length
  }

  async listen(port = 0): Promise<this> {
    this.#server = this.#create()
    this.#server.listen(port, '127.0.0.1')
    await once(this.#server, 'listening')
    this.#port = (this.#server.address() as AddressInfo).port
    return this
  }

  /** Stops listening and drops every open connection, like a crashed process: the port refuses. */
  async kill(): Promise<void> {
    if (!this.#server.listening) return
    const closed = once(this.#server, 'close')
    this.#server.close()
    this.#server.closeAllConnections()
    this.releaseHeld()
    await closed
  }

  /** Listens again on the same port, as a restarted process would. */
  async restart(): Promise<void> {
    await this.listen(this.#port)
  }

  /** Answers every `/hold` request waiting so far. */
  releaseHeld(): void {
    for (const release of this.#held.splice(0)) release()
  }

  #create(): Server {
    return createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const url = req.url ?? '/'
        const seen: Received = {
          method: req.method ?? 'GET',
          url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        }
        this.received.push(seen)
        const answer = () => {
          const status = url === '/health' ? this.healthStatus : this.status
          const headers: Record<string, string | string[]> = {
            'content-type': 'application/json',
            'x-served-by': this.name,
          }
          if (url.startsWith('/set-cookie'))
            headers['set-cookie'] = [`backend_a=${this.name}; Path=/`, 'backend_b=2; Path=/']
          res.writeHead(status, headers)
          res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ name: this.name, ...seen }))
        }
        if (url.startsWith('/hold')) this.#held.push(answer)
        else answer()
      })
    })
  }
}

/** Starts backends named `names`; they are killed by `after` hooks of the caller's choosing. */
export async function startBackends(...names: string[]): Promise<TestBackend[]> {
  return Promise.all(names.map((name) => new TestBackend(name).listen()))
}

/** Polls `check` every 10 ms until it returns true; fails after `timeoutMs` naming what it waited for. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** `fetch` and the JSON of the answer, with the status and the headers. */
export async function fetchJson<T = Echo>(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: T }> {
  const res = await fetch(url, init)
  const text = await res.text()
  let body: T
  try {
    body = JSON.parse(text) as T
  } catch {
    assert.fail(`${init?.method ?? 'GET'} ${url} answered ${res.status} with non-JSON: ${text}`)
  }
  return { status: res.status, headers: res.headers, body }
}

/** A GET sent from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo), for ip-hash. */
export async function getFrom(
  localAddress: string,
  url: string,
): Promise<{ status: number; servedBy: string | undefined }> {
  const req = request(url, { localAddress, agent: false })
  req.end()
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage]
  res.resume()
  await once(res, 'end')
  const servedBy = res.headers['x-served-by']
  return { status: res.statusCode ?? 0, servedBy: typeof servedBy === 'string' ? servedBy : undefined }
}

/** The value of the `name` cookie in a `Set-Cookie` list, or undefined. */
export function cookieValue(setCookies: readonly string[], name: string): string | undefined {
  for (const line of setCookies) {
    const [pair] = line.split(';')
    const eq = pair!.indexOf('=')
    if (pair!.slice(0, eq).trim() === name) return pair!.slice(eq + 1).trim()
  }
  return undefined
}
