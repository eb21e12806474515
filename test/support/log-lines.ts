import { Writable } from 'node:stream'

/** A stream for a pino logger whose lines land in `lines`, parsed; `flushed()` waits for the last write. */
export function logLines(): {
  stream: Writable
  lines: Record<string, unknown>[]
  flushed: () => Promise<void>
} {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)))
      done()
    },
  })
  return { stream, lines, flushed: () => new Promise((resolve) => setImmediate(resolve)) }
}
