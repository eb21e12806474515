import { resolve } from 'node:path'
import { type Kind, loadSettings, port, type SettingsTable } from '../settings.ts'

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

const positive = (max: number): Kind => ({ type: 'int', min: 1, max })
const nonEmpty: Kind = { type: 'string', minLength: 1 }

/** YAML key, kind and default of every setting: the seed's keys, plus security and admin. */
const KEYS: SettingsTable<TcpConfig> = {
  host: { yaml: 'server.host', kind: nonEmpty, default: '127.0.0.1' },
  port: { yaml: 'server.port', kind: port, default: 65_432 },
  mode: {
    yaml: 'server.mode',
    kind: { type: 'enum', values: ['stateless', 'stateful', 'dual'] },
    default: 'dual',
  },
  maxConnections: { yaml: 'server.max_connections', kind: positive(1_000_000), default: 100 },
  sessionTimeout: { yaml: 'stateful.session_timeout', kind: { type: 'seconds' }, default: 300 },
  maxSessions: { yaml: 'stateful.max_sessions', kind: positive(10_000_000), default: 50 },
  persistence: {
    yaml: 'stateful.persistence',
    kind: { type: 'enum', values: ['memory', 'sqlite', 'redis'] },
    default: 'memory',
  },
  requestTimeout: { yaml: 'stateless.request_timeout', kind: { type: 'seconds' }, default: 30 },
  maxRequestSize: {
    yaml: 'stateless.max_request_size',
    kind: { type: 'int', min: 0, max: 2 ** 40 },
    default: 10 * 2 ** 20,
  },
  storagePath: { yaml: 'storage.path', kind: nonEmpty, default: './data/tcp' },
  naming: {
    yaml: 'storage.naming',
    kind: { type: 'enum', values: ['simple', 'session_aware'] },
    default: 'session_aware',
  },
  // A secret: settable from the environment, never from a flag (other users see command lines in `ps`).
  hmacKey: {
    yaml: 'security.hmac_key',
    env: 'STATELAB_TCP_HMAC_KEY',
    kind: { type: 'string', minLength: 16, secret: true },
    default: undefined,
  },
  bindToIp: { yaml: 'security.bind_to_ip', kind: { type: 'bool' }, default: false },
  connectRate: { yaml: 'security.connect_rate', kind: positive(1_000_000), default: 10 },
  adminHost: { yaml: 'admin.host', kind: nonEmpty, default: '127.0.0.1' },
  adminPort: { yaml: 'admin.port', kind: port, default: 65_433 },
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
  const config = loadSettings(KEYS, { ...options, flagName })
  return Object.freeze({ ...config, storagePath: resolve(config.storagePath) })
}

/** The flag that sets `name` in `statelab tcp serve`. */
export function flagName(name: string): string {
  return FLAGS[name as keyof TcpConfig] ?? name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}
