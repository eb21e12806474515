import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify'
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino'

/**
 * `request.log`: the pino child that puts the request id on every line, made the first time a line at an
 * enabled level is written. Fastify's default makes the child for every request, and at the usual `warn`
 * level most requests never write a line; making it (its bindings serialized) was a tenth of what the
 * plugin stack costs a request (docs/performance.md).
 */
class RequestLogger implements FastifyBaseLogger {
  readonly #parent: Logger
  readonly #bindings: Bindings
  #child: Logger | undefined

  constructor(parent: Logger, bindings: Bindings) {
    this.#parent = parent
    this.#bindings = bindings
  }

  get level(): string {
    return (this.#child ?? this.#parent).level
  }

  set level(level: string) {
    this.#made().level = level
  }

  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.#parent).isLevelEnabled(level)
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#made().child(bindings, options)
  }

  fatal(...args: unknown[]): void {
    this.#write('fatal', args)
  }
  error(...args: unknown[]): void {
    this.#write('error', args)
  }
  warn(...args: unknown[]): void {
    this.#write('warn', args)
  }
  info(...args: unknown[]): void {
    this.#write('info', args)
  }
  debug(...args: unknown[]): void {
    this.#write('debug', args)
  }
  trace(...args: unknown[]): void {
    this.#write('trace', args)
  }
  silent(): void {}

  #write(level: Level, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return
    const child = this.#made()
    ;(child[level] as (...args: unknown[]) => void).apply(child, args)
  }

  #made(): Logger {
    this.#child ??= this.#parent.child(this.#bindings)
    return this.#child
  }
}

/**
 * Fastify's `childLoggerFactory`: a {@link RequestLogger}, or pino's child at once when the route sets a log
 * level of its own.
 */
export const requestLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  bindings,
  options,
) =>
  options.level === undefined
    ? new RequestLogger(logger as Logger, bindings)
    : logger.child(bindings, options)

function infoEnabled(log: FastifyBaseLogger): boolean {
  return (log as Partial<Pick<Logger, 'isLevelEnabled'>>).isLevelEnabled?.('info') ?? true
}

/**
 * Fastify's `logController`: its two `info` lines per request ("incoming request", "request completed")
 * are built only when `info` is on. The default builds their arguments, the response time included, on
 * every request and lets the logger drop them.
 */
export class RequestLogController extends LogController {
  override incomingRequest(
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (infoEnabled(request.log)) super.incomingRequest(request, reply, metadata)
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error || infoEnabled(reply.log)) super.requestCompleted(error, request, reply, metadata)
  }
}
