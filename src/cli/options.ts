import { type ParseArgsOptionsConfig, parseArgs } from 'node:util'
import { type Config, loadConfig } from '../config.ts'
import { AppError } from '../core/errors.ts'

/** Options every server command accepts. */
export const SERVER_OPTIONS = {
  config: { type: 'string', short: 'c' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Parses `args` with `node:util` `parseArgs`; unknown options are errors that name the option. */
export function parse<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  return parseArgs({ args, options, allowPositionals: true, strict: true })
}

/** Loads the configuration with the common server flags on top. */
export function configFrom(
  values: { config?: string; host?: string; 'data-dir'?: string },
  overrides: Partial<Config> = {},
): Config {
  return loadConfig({
    file: values.config,
    overrides: { host: values.host, dataDir: values['data-dir'], ...overrides },
  })
}

/** A `--port`-style flag as a number, or undefined. */
export function portFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new AppError('ERR_CONFIG', `--${name} must be a port number from 0 to 65535; got "${value}"`)
  }
  return port
}

/** An integer flag from `min` to `max`, or undefined. */
export function intFlag(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max)
    throw new AppError('ERR_CONFIG', `--${name} must be an integer from ${min} to ${max}; got "${value}"`)
  return n
}

/** A flag that names one of `choices` (undefined when not given); `ERR_CONFIG` listing them otherwise. */
export function choiceFlag<const C extends string>(value: string, name: string, choices: readonly C[]): C
export function choiceFlag<const C extends string>(
  value: string | undefined,
  name: string,
  choices: readonly C[],
): C | undefined
export function choiceFlag<const C extends string>(
  value: string | undefined,
  name: string,
  choices: readonly C[],
): C | undefined {
  if (value === undefined || (choices as readonly string[]).includes(value)) return value as C | undefined
  throw new AppError('ERR_CONFIG', `--${name} must be one of ${choices.join(', ')}; got "${value}"`)
}
