import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { AppError } from './core/errors.ts'

/** What a setting accepts. Strings from the environment and the command line are converted. */
export type Kind =
  | {
      readonly type: 'string'
      readonly minLength?: number
      /** Never repeated in an error message. */
      readonly secret?: true
      /** A YAML number is taken as its text (`issuer: 2024`). */
      readonly numbers?: true
    }
  | { readonly type: 'int'; readonly min: number; readonly max: number }
  /** Seconds above 0 and at most 30 days, fractions allowed. */
  | { readonly type: 'seconds' }
  | { readonly type: 'bool' }
  | { readonly type: 'enum'; readonly values: readonly string[] }

export const port: Kind = { type: 'int', min: 0, max: 65_535 }

/** One row of a settings table: where the value may come from, and what it must be. */
export interface Setting<V = unknown> {
  /** Path in the YAML file, dot-separated. */
  readonly yaml: string
  /** Environment variable; without one the setting is not read from the environment. */
  readonly env?: string
  readonly kind: Kind
  readonly default: V
}

export type SettingsTable<T> = { readonly [K in keyof T]: Setting<T[K]> }

export interface LoadSettingsOptions<T> {
  /** A YAML file whose keys are the table's `yaml` paths; any other key is refused. */
  readonly file?: string | undefined
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Highest precedence (command-line flags); `undefined` values are skipped. */
  readonly overrides?: { readonly [K in keyof T]?: unknown } | undefined
  /** How errors name the flag that sets `name`: `--${flagName(name)}`. Default: the name itself. */
  readonly flagName?: (name: string) => string
}

/**
 * Defaults, then the YAML file, then environment variables (empty ones ignored), then overrides, each
 * value validated against its kind. Throws `AppError('ERR_CONFIG')` naming the bad key and its source.
 *
 * @example
 * const table = { port: { yaml: 'server.port', env: 'PORT', kind: port, default: 80 } }
 * const { port: listenOn } = loadSettings(table, { file: 'app.yaml', env: process.env })
 */
export function loadSettings<T>(table: SettingsTable<T>, options: LoadSettingsOptions<T> = {}): T {
  const { file, env = {}, flagName = (name: string) => name } = options
  const overrides: { readonly [K in keyof T]?: unknown } = options.overrides ?? {}
  const tree = file === undefined ? {} : readYaml(file)
  const known = new Set(Object.values<Setting>(table).map((setting) => setting.yaml))
  for (const key of flattenKeys(tree)) {
    if (!known.has(key)) throw new AppError('ERR_CONFIG', `${file}: unknown key "${key}"`)
  }
  const settings: Record<string, unknown> = {}
  for (const [name, setting] of Object.entries<Setting>(table)) {
    const override = overrides[name as keyof T]
    const fromEnv = setting.env === undefined || env[setting.env] === '' ? undefined : env[setting.env]
    const fromFile = lookup(tree, setting.yaml)
    let value: unknown
    if (override !== undefined) value = coerce(override, setting.kind, `--${flagName(name)}`)
    else if (fromEnv !== undefined) value = coerce(fromEnv, setting.kind, setting.env!)
    else if (fromFile !== undefined) value = coerce(fromFile, setting.kind, `${file}: ${setting.yaml}`)
    // Defaults go through the same check, so a bad row fails every start, not one odd deployment.
    else if (setting.default !== undefined) value = coerce(setting.default, setting.kind, `default ${name}`)
    settings[name] = value
  }
  return settings as T
}

function coerce(value: unknown, kind: Kind, source: string): unknown {
  const fail = (expected: string): never => {
    const got =
      kind.type === 'string' && kind.secret ? 'something else (not shown: a secret)' : JSON.stringify(value)
    throw new AppError('ERR_CONFIG', `${source} must be ${expected}; got ${got}`)
  }
  switch (kind.type) {
    case 'string': {
      const min = kind.minLength ?? 0
      const text = kind.numbers && typeof value === 'number' ? String(value) : value
      if (typeof text !== 'string' || text.length < min)
        fail(min === 0 ? 'a string' : `a string of at least ${min} characters`)
      return text
    }
    case 'enum':
      if (typeof value !== 'string' || !kind.values.includes(value)) fail(`one of ${kind.values.join(', ')}`)
      return value
    case 'bool':
      if (value === true || value === 'true') return true
      if (value === false || value === 'false') return false
      return fail('true or false')
    case 'int': {
      const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < kind.min || n > kind.max)
        fail(`an integer from ${kind.min} to ${kind.max}`)
      return n
    }
    case 'seconds': {
      // Fractions are allowed so that tests (and impatient labs) can use sub-second timeouts.
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
      if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > 30 * 86_400)
        fail('a number of seconds above 0 and at most 30 days')
      return n
    }
  }
}

function readYaml(file: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new AppError('ERR_CONFIG', `cannot read config file ${file}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AppError('ERR_CONFIG', `${file} must be a YAML mapping`)
  }
  return parsed as Record<string, unknown>
}

function lookup(tree: Record<string, unknown>, path: string): unknown {
  let node: unknown = tree
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined
    node = (node as Record<string, unknown>)[part]
  }
  return node ?? undefined
}

function* flattenKeys(tree: Record<string, unknown>, prefix = ''): Generator<string> {
  for (const [key, value] of Object.entries(tree)) {
    // A section whose children are all commented out parses as null: empty, not a setting.
    if (value === null) continue
    const path = prefix + key
    if (typeof value === 'object' && !Array.isArray(value))
      yield* flattenKeys(value as Record<string, unknown>, `${path}.`)
    else yield path
  }
}
