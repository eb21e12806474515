import { basename } from 'node:path'
import { AppError } from '../core/errors.ts'
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  type SessionSummary,
  sendStateless,
  TcpClientError,
  TcpSession,
  type TcpSessionEvent,
  type TransferResult,
} from '../tcp/tcp-client.ts'
import { color } from './client.ts'
import { parse, portFlag } from './options.ts'

const HELP = `Usage: statelab tcp send [--host ${DEFAULT_HOST}] [--port ${DEFAULT_PORT}] [--mode stateless|stateful]
                         [--hmac-key K] [--v1] [--timeout SECONDS] [--json] file...

Sends files to a statelab TCP server (docs/protocol.md) and prints one line per file: name, bytes,
sha256 prefix and where the server stored it.
  stateless (default)  each file is a frame of its own; --v1 sends week 01 frames instead
  stateful             one session for all files; a dropped connection is resumed, and the session's
                       summary is printed at the end
--hmac-key signs every frame with the server's security.hmac_key; STATELAB_TCP_HMAC_KEY does the same
without showing the key to other users in \`ps\`. --timeout bounds every wait for the server
(10 s by default). --json prints one JSON document. The exit code is 1 when any file failed.`

/** Files at least this large get a progress bar, when stderr is a terminal. */
const PROGRESS_MIN_BYTES = 1024 * 1024

/**
 * `statelab tcp send`: one or many files, statelessly or in one session.
 *
 * @example
 * await run(['--mode', 'stateful', 'a.txt', 'b.png'])
 */
export async function run(args: string[]): Promise<void> {
  const { values, positionals: files } = parse(args, {
    host: { type: 'string' },
    port: { type: 'string', short: 'p' },
    mode: { type: 'string' },
    'hmac-key': { type: 'string' },
    v1: { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  const mode = values.mode ?? 'stateless'
  if (values.help || files.length === 0 || (mode !== 'stateless' && mode !== 'stateful')) {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  if (values.v1 && (mode === 'stateful' || values['hmac-key'] !== undefined)) {
    throw new AppError('ERR_CONFIG', '--v1 sends week 01 frames, which have no session and no HMAC')
  }
  const timeoutSeconds = values.timeout === undefined ? 10 : Number(values.timeout)
  if (!(timeoutSeconds > 0)) {
    throw new AppError(
      'ERR_CONFIG',
      `--timeout must be a positive number of seconds; got "${values.timeout}"`,
    )
  }
  const options = {
    host: values.host ?? DEFAULT_HOST,
    port: portFlag(values.port, 'port') ?? DEFAULT_PORT,
    // As for the server, the environment keeps the key out of `ps`; --hmac-key is for quick tries.
    hmacKey: values.v1 ? undefined : (values['hmac-key'] ?? (process.env.STATELAB_TCP_HMAC_KEY || undefined)),
    timeoutMs: timeoutSeconds * 1000,
  }
  const json = values.json === true
  const progress = new ProgressBar(json ? undefined : process.stderr)
  const printer = new ResultPrinter(files.length, json)

  let summary: SessionSummary | undefined
  let results: TransferResult[]
  if (mode === 'stateless') {
    results = await sendStateless(
      {
        ...options,
        version: values.v1 ? '1' : '2.0',
        onProgress: (name, sent, total) => progress.update(name, sent, total),
        onResult: (result) => {
          progress.clear()
          printer.print(result)
        },
      },
      files,
    )
  } else {
    let session: TcpSession
    try {
      session = await TcpSession.connect({
        ...options,
        onEvent: json ? undefined : (event) => progress.note(describeEvent(event)),
      })
    } catch (err) {
      // Printed without a stack trace: the message says what to check (address, server running).
      if (!(err instanceof TcpClientError)) throw err
      console.error(`statelab: ${err.message}`)
      process.exitCode = 1
      return
    }
    results = []
    for (const file of files) {
      let result: TransferResult
      try {
        const ack = await session.send(file, {
          onProgress: (sent, total) => progress.update(basename(file), sent, total),
        })
        result = { name: ack.name, ok: true, ack }
      } catch (err) {
        if (!(err instanceof AppError || err instanceof TcpClientError)) throw err
        result = { name: file, ok: false, error: err }
      }
      progress.clear()
      printer.print(result)
      results.push(result)
    }
    try {
      summary = await session.close()
    } catch (err) {
      session.destroy()
      throw err
    }
    if (!json) {
      const { files: count, totalBytes, messageCount, reconnects } = summary
      console.log(
        `session ${summary.id.slice(0, 8)}… closed: ${count} file${count === 1 ? '' : 's'}, ${totalBytes} bytes, ` +
          `${messageCount} messages${reconnects > 0 ? `, resumed ${reconnects} time${reconnects === 1 ? '' : 's'}` : ''}`,
      )
    }
  }

  if (json) {
    console.log(
      JSON.stringify(
        {
          mode,
          version: values.v1 ? '1' : '2.0',
          files: results.map(resultJson),
          ...(summary && {
            session: {
              id_prefix: summary.id.slice(0, 8),
              message_count: summary.messageCount,
              total_bytes: summary.totalBytes,
              files: summary.files,
              reconnects: summary.reconnects,
            },
          }),
        },
        null,
        2,
      ),
    )
  }
  if (results.some((r) => !r.ok)) process.exitCode = 1
}

function resultJson(result: TransferResult): Record<string, unknown> {
  if (!result.ok) {
    return { name: result.name, ok: false, error: { code: result.error.code, message: result.error.message } }
  }
  const { ack } = result
  return {
    name: ack.name,
    ok: true,
    bytes: ack.bytes,
    sha256: ack.sha256,
    stored_as: ack.storedAs,
    mime_type: ack.mimeType,
    file_id: ack.fileId,
    ...(ack.sequence !== undefined && { sequence: ack.sequence }),
  }
}

function describeEvent(event: TcpSessionEvent): string | undefined {
  switch (event.type) {
    case 'reconnecting':
      return `connection lost (${event.error.message}); reconnecting in ${event.delayMs} ms (attempt ${event.attempt})`
    case 'resumed':
      return `session resumed; the server has everything up to frame ${event.lastSequence}`
    case 'resent':
      return `re-sending frame ${event.sequence}${event.name ? ` (${event.name})` : ''}: the server never got it`
    case 'recovered':
      return `frame ${event.sequence}${event.name ? ` (${event.name})` : ''} had arrived before the connection dropped: not sent again`
    case 'error':
      return `heartbeat failed: ${event.error.message}`
    case 'heartbeat':
      return undefined
  }
}

/** One line per file, names padded to a column (unless JSON is wanted, which is printed at the end). */
class ResultPrinter {
  readonly #json: boolean
  readonly #nameWidth: number

  constructor(count: number, json: boolean) {
    this.#json = json
    this.#nameWidth = count > 1 ? 24 : 0
  }

  print(result: TransferResult): void {
    if (this.#json) return
    const name = result.name.padEnd(this.#nameWidth)
    if (!result.ok) {
      console.log(`${color('red', name)}  failed  ${result.error.code}: ${result.error.message}`)
      return
    }
    const { ack } = result
    const sequence = ack.sequence === undefined ? '' : ` #${ack.sequence}`
    console.log(
      `${color('green', name)}  ${String(ack.bytes).padStart(10)} bytes  sha256 ${ack.sha256.slice(0, 12)}  → ${ack.storedAs}${sequence}`,
    )
  }
}

/** A one-line bar on stderr, redrawn at most ten times a second; nothing when stderr is not a terminal. */
class ProgressBar {
  readonly #stream: NodeJS.WriteStream | undefined
  #started = 0
  #drawn = 0
  #visible = false
  #name = ''

  constructor(stream: NodeJS.WriteStream | undefined) {
    this.#stream = stream
  }

  update(name: string, sent: number, total: number): void {
    const stream = this.#stream
    if (!stream?.isTTY || total < PROGRESS_MIN_BYTES) return
    const now = performance.now()
    if (name !== this.#name) {
      this.#name = name
      this.#started = now
    }
    if (this.#visible && now - this.#drawn < 100 && sent < total) return
    this.#drawn = now
    const fraction = total === 0 ? 1 : sent / total
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 60))
    const filled = Math.round(fraction * width)
    const seconds = Math.max((now - this.#started) / 1000, 0.001)
    const line = `${name.slice(0, 24)} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatRate(sent / seconds)}`
    stream.write(`\r\x1b[K${line}`)
    this.#visible = true
  }

  /** A message on its own line (stderr), above the bar. */
  note(message: string | undefined): void {
    if (message === undefined || !this.#stream) return
    this.clear()
    this.#stream.write(`statelab: ${message}\n`)
  }

  /** Erases the bar; the next update starts a new file (and a new rate). */
  clear(): void {
    this.#name = ''
    if (!this.#visible) return
    this.#stream?.write('\r\x1b[K')
    this.#visible = false
  }
}

function formatRate(bytesPerSecond: number): string {
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s']
  let value = bytesPerSecond
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}
