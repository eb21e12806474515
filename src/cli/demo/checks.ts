import { bytesSent, display, type Exchange } from '../client.ts'

/** The replies that were not what a demo expected; any one makes the command exit with 1. */
export class Checks {
  readonly failures: string[] = []

  /** Records a failure unless `ok`; returns `ok`, so a side can stop at its first surprise. */
  expect(ok: boolean, side: string, exchange: Exchange, wanted: string): boolean {
    if (!ok) {
      this.failures.push(
        `${side}: ${exchange.method} ${exchange.path} (${exchange.step}) should answer ${wanted}; ` +
          `it answered ${exchange.status} ${display(exchange.responseBody)}`,
      )
    }
    return ok
  }
}

/** Bytes sent by some requests, split as the wire carried them. */
export interface ByteCount {
  readonly requests: number
  /** Request lines, headers and the blank lines after them. */
  readonly head: number
  readonly body: number
  readonly total: number
}

export function countBytes(exchanges: readonly Exchange[]): ByteCount {
  const head = exchanges.reduce((n, e) => n + e.requestBytes.head, 0)
  const total = exchanges.reduce((n, e) => n + bytesSent(e), 0)
  return { requests: exchanges.length, head, body: total - head, total }
}

/** Every number in a request body, in order: what the client had to say. */
export function numbersIn(value: unknown): number[] {
  if (typeof value === 'number') return [value]
  if (Array.isArray(value)) return value.flatMap(numbersIn)
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(numbersIn)
  return []
}

/** A field of a JSON reply, when the reply is an object. */
export function field(exchange: Exchange | undefined, name: string): unknown {
  const body = exchange?.responseBody
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined
}

/** The error code of an error reply, or the status alone. */
export function statusLine(exchange: Exchange): string {
  const error = field(exchange, 'error') as { code?: string } | undefined
  return `← ${exchange.status}${error?.code ? ` ${error.code}` : ''}`
}
