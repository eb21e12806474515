import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino'

/**
 * `request.log`: the pino child that puts the request id on every line, made the first time a line at an
 * enabled level is written. Fastify's default makes the child for every request, and at the usual `warn`
 * level most requests never write a line; making it (its bindings serialized) showed as pino's share of a
 * CPU profile of the API under load, gone with this (docs/performance.md).
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
 * Fastify's logging options over `log`. At `info` and below Fastify is given the logger and writes its line
 * per request ("incoming request", "request completed" with the response time). Above `info` it is given
 * none, so it keeps no response listeners and timings per request for lines nobody would write; `request.log`
 * still writes warnings and errors with the request id, through a {@link RequestLogger}.
 */
export function requestLogging(
  log: Logger,
): Pick<FastifyServerOptions, 'loggerInstance' | 'childLoggerFactory'> {
  const childLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
    _fastifyLogger,
    bindings,
    options,
  ) =>
    options.level === undefined
      ? new RequestLogger(log, bindings)
      : (log.child(bindings, options) as FastifyBaseLogger)
  return log.isLevelEnabled('info')
    ? { loggerInstance: log as FastifyBaseLogger, childLoggerFactory }
    : { childLoggerFactory }
}
