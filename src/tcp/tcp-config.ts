import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { AppError } from '../core/errors.ts'

export type ServerMode = 'stateless' | 'stateful' | 'dual'
export type Persistence = 'memory' | 'sqlite' | 'redis'
export type Naming = 'simple' | 'session_aware'

/** Settings of `statelab tcp serve` (docs/protocol.md, section 8). Durations in seconds, sizes in bytes. */
export interface TcpConfig {
  readonly host: string
  readonly port: number
  readonly mode: ServerMode
  readonly maxConnections: number
  readonly sessionTimeout: number
  readonly maxSessions: number
  readonly persistence: Persistence
  readonly requestTimeout: number
  readonly maxRequestSize: number
  readonly storagePath: string
  readonly naming: Naming
  /** HMAC-SHA256 key; when set every frame must carry a valid `hmac`. */
  readonly hmacKey: string | undefined
  readonly bindToIp: boolean
  /** Sessions created per client address per minute, at most. */
  readonly connectRate: number
  readonly adminHost: string
  readonly adminPort: number
}

type Kind =
  | { readonly type: 'string'; readonly minLength?: number; readonly secret?: true }
  | { readonly type: 'int'; readonly min: number; readonly max: number }
  | { readonly type: 'seconds' }
  | { readonly type: 'bool' }
  | { readonly type: 'enum'; readonly values: readonly string[] }

const port: Kind = { type: 'int', min: 0, max: 65_535 }
const positive = (max: number): Kind => ({ type: 'int', min: 1, max })

/** YAML key, kind and default of every setting: the seed's keys, plus security and admin. */
const KEYS: {
  readonly [K in keyof TcpConfig]: readonly [yaml: string, kind: Kind, fallback: TcpConfig[K], env?: string]
} = {
  host: ['server.host', { type: 'string', minLength: 1 }, '127.0.0.1'],
  port: ['server.port', port, 65_432],
  mode: ['server.mode', { type: 'enum', values: ['stateless', 'stateful', 'dual'] }, 'dual'],
  maxConnections: ['server.max_connections', positive(1_000_000), 100],
  sessionTimeout: ['stateful.session_timeout', { type: 'seconds' }, 300],
  maxSessions: ['stateful.max_sessions', positive(10_000_000), 50],
  persistence: ['stateful.persistence', { type: 'enum', values: ['memory', 'sqlite', 'redis'] }, 'memory'],
  requestTimeout: ['stateless.request_timeout', { type: 'seconds' }, 30],
  maxRequestSize: ['stateless.max_request_size', { type: 'int', min: 0, max: 2 ** 40 }, 10 * 2 ** 20],
  storagePath: ['storage.path', { type: 'string', minLength: 1 }, './storage'],
  naming: ['storage.naming', { type: 'enum', values: ['simple', 'session_aware'] }, 'session_aware'],
  // A secret: settable from the environment, never from a flag (other users see command lines in `ps`).
  hmacKey: [
    'security.hmac_key',
    { type: 'string', minLength: 16, secret: true },
    undefined,
    'STATELAB_TCP_HMAC_KEY',
  ],
  bindToIp: ['security.bind_to_ip', { type: 'bool' }, false],
  connectRate: ['security.connect_rate', positive(1_000_000), 10],
  adminHost: ['admin.host', { type: 'string', minLength: 1 }, '127.0.0.1'],
  adminPort: ['admin.port', port, 65_433],
}

/** Values from flags: typed, or the raw strings of the command line (validated like the file's). */
export type TcpConfigOverrides = { readonly [K in keyof TcpConfig]?: TcpConfig[K] | string }

/** Command-line flags whose name is not the setting's name in kebab-case. */
const FLAGS: Partial<Record<keyof TcpConfig, string>> = { persistence: 'store', storagePath: 'storage' }

/**
 * Defaults, then the YAML file, then the environment (`STATELAB_TCP_HMAC_KEY` only), then `overrides`
 * (command-line flags). Throws `AppError('ERR_CONFIG')` naming
 * the bad key, including keys it does not know.
 *
 * @example
 * const config = loadTcpConfig({ file: 'tcp.yaml', overrides: { port: 0 } })
 */
export function loadTcpConfig(
  options: {
    file?: string
    overrides?: TcpConfigOverrides
    env?: Readonly<Record<string, string | undefined>>
  } = {},
): TcpConfig {
  const { file, overrides = {}, env = {} } = options
  const tree = file === undefined ? {} : readYaml(file)
  const known = new Set(Object.values(KEYS).map(([yaml]) => yaml))
  for (const key of flattenKeys(tree)) {
    if (!known.has(key)) throw new AppError('ERR_CONFIG', `${file}: unknown key "${key}"`)
  }
  const config: Record<string, unknown> = {}
  for (const [name, [yaml, kind, fallback, variable]] of Object.entries(KEYS)) {
    const override = overrides[name as keyof TcpConfig]
    const fromEnv = variable === undefined || env[variable] === '' ? undefined : env[variable]
    const fromFile = lookup(tree, yaml)
    if (override !== undefined) config[name] = coerce(override, kind, `--${flagName(name)}`)
    else if (fromEnv !== undefined) config[name] = coerce(fromEnv, kind, variable!)
    else if (fromFile !== undefined) config[name] = coerce(fromFile, kind, `${file}: ${yaml}`)
    else config[name] = fallback
  }
  return Object.freeze({
    ...(config as unknown as TcpConfig),
    storagePath: resolve(config.storagePath as string),
  })
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
      if (typeof value !== 'string' || value.length < min) fail(`a string of at least ${min} characters`)
      return value
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
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new AppError('ERR_CONFIG', `${file} must be a YAML mapping`)
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

/** The flag that sets `name` in `statelab tcp serve`. */
export function flagName(name: string): string {
  return FLAGS[name as keyof TcpConfig] ?? name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}
