import { resolve } from 'node:path'
import { AppError } from './core/errors.ts'
import { type Kind, loadSettings, port, type Setting } from './settings.ts'

/** Every setting of statelab, validated once at start-up. Durations are in seconds, sizes in bytes. */
export interface Config {
  readonly dataDir: string
  readonly host: string
  readonly statelessPort: number
  readonly statefulPort: number
  /** The built-in gateway `statelab up` starts in front of both APIs. */
  readonly gatewayPort: number
  /**
   * The gateway's HTTPS port as given: a port number, `off`, or unset (8443; a free port when `gatewayPort`
   * is 0). `resolveHttpsPort` in src/gateway/tls.ts reads it.
   */
  readonly gatewayHttpsPort: string | undefined
  readonly logLevel: string
  /** Sent as `X-Served-By` on every reply, so a load balancer's choices can be seen; unset: no header. */
  readonly replicaId: string | undefined
  readonly jwtAlgorithm: 'HS256' | 'EdDSA'
  /** HS256 secret; when absent a development secret is generated under `dataDir`. */
  readonly jwtSecret: string | undefined
  /** EdDSA private key (PEM file); when absent a development key pair is generated under `dataDir`. */
  readonly jwtPrivateKeyFile: string | undefined
  readonly jwtIssuer: string
  readonly jwtAudience: string
  readonly accessTokenTtl: number
  readonly refreshTokenTtl: number
  /**
   * Where sessions live: on the server (`memory`, `sqlite`, `redis`, `postgres`), in every replica's memory
   * kept alike through Redis (`replicated`), or sealed in the client's cookie (`cookie`).
   */
  readonly sessionStore: 'memory' | 'sqlite' | 'redis' | 'postgres' | 'replicated' | 'cookie'
  /** Key material for `SESSION_STORE=cookie`; when absent a development secret is generated under `dataDir`. */
  readonly sessionCookieSecret: string | undefined
  readonly dataStore: 'sqlite' | 'postgres'
  readonly redisUrl: string
  /** `host:port,host:port`: use Redis Cluster through these seed nodes instead of `redisUrl`. */
  readonly redisClusterNodes: string | undefined
  readonly redisPrefix: string
  readonly databaseUrl: string | undefined
  readonly databaseSchema: string
  readonly sessionCache: 'on' | 'off'
  /** Milliseconds a store may take before a request fails with 503 `ERR_STORE_UNAVAILABLE`. */
  readonly storeTimeoutMs: number
  readonly jwtDenylist: 'off' | 'memory' | 'redis' | 'sqlite' | 'postgres'
  readonly sessionIdleTimeout: number
  readonly sessionAbsoluteTimeout: number
  readonly sessionTouchAfter: number
  readonly maxSessions: number
  readonly maxFileSize: number
  readonly calcHistoryLimit: number
  readonly maxHeaderSize: number
  readonly headersTimeout: number
  readonly requestTimeout: number
  readonly loginFailuresPerAccount: number
  readonly loginFailuresPerIp: number
  readonly loginWindow: number
}

/** A row of `SETTINGS`: every HTTP setting has an environment variable and a line of help. */
interface HttpSetting<V> extends Setting<V> {
  readonly env: string
  readonly help: string
}

const seconds = (max: number): Kind => ({ type: 'int', min: 1, max })
const count = (max: number): Kind => ({ type: 'int', min: 1, max })
const text: Kind = { type: 'string', numbers: true }
// May carry credentials (a URL's password): never repeated in an error.
const secretText: Kind = { type: 'string', numbers: true, secret: true }

/** The settings table: one row per key, read by the loader and printed by `statelab config`. */
export const SETTINGS: { readonly [K in keyof Config]: HttpSetting<Config[K]> } = {
  dataDir: {
    yaml: 'data_dir',
    env: 'STATELAB_DATA_DIR',
    kind: text,
    default: './data',
    help: 'where SQLite, files and dev secrets live',
  },
  host: { yaml: 'host', env: 'HOST', kind: text, default: '127.0.0.1', help: 'address the APIs listen on' },
  statelessPort: {
    yaml: 'ports.stateless',
    env: 'STATELESS_PORT',
    kind: port,
    default: 3000,
    help: 'stateless API port',
  },
  statefulPort: {
    yaml: 'ports.stateful',
    env: 'STATEFUL_PORT',
    kind: port,
    default: 3001,
    help: 'stateful API port',
  },
  gatewayPort: {
    yaml: 'gateway.port',
    env: 'GATEWAY_PORT',
    kind: port,
    default: 8080,
    help: 'gateway port (statelab up): /api/stateless/* and /api/stateful/*',
  },
  gatewayHttpsPort: {
    yaml: 'gateway.https_port',
    env: 'GATEWAY_HTTPS_PORT',
    kind: text,
    default: undefined,
    help: 'gateway HTTPS port (self-signed certificate under data_dir/tls), or off; default 8443',
  },
  logLevel: {
    yaml: 'log_level',
    env: 'LOG_LEVEL',
    kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    default: 'info',
    help: 'pino log level',
  },
  replicaId: {
    yaml: 'replica_id',
    env: 'STATELAB_REPLICA_ID',
    kind: text,
    default: undefined,
    help: 'name sent as X-Served-By on every reply (the lab sets it per replica)',
  },
  jwtAlgorithm: {
    yaml: 'jwt.algorithm',
    env: 'JWT_ALGORITHM',
    kind: { type: 'enum', values: ['HS256', 'EdDSA'] },
    default: 'HS256',
    help: 'access token signature algorithm',
  },
  jwtSecret: {
    yaml: 'jwt.secret',
    env: 'JWT_SECRET',
    kind: secretText,
    default: undefined,
    help: 'HS256 secret, at least 32 bytes',
  },
  jwtPrivateKeyFile: {
    yaml: 'jwt.private_key_file',
    env: 'JWT_PRIVATE_KEY_FILE',
    kind: text,
    default: undefined,
    help: 'Ed25519 private key (PEM) for EdDSA',
  },
  jwtIssuer: { yaml: 'jwt.issuer', env: 'JWT_ISSUER', kind: text, default: 'statelab', help: 'iss claim' },
  jwtAudience: {
    yaml: 'jwt.audience',
    env: 'JWT_AUDIENCE',
    kind: text,
    default: 'statelab-api',
    help: 'aud claim',
  },
  accessTokenTtl: {
    yaml: 'jwt.access_ttl',
    env: 'ACCESS_TOKEN_TTL',
    kind: seconds(86_400),
    default: 900,
    help: 'access token lifetime (s)',
  },
  refreshTokenTtl: {
    yaml: 'jwt.refresh_ttl',
    env: 'REFRESH_TOKEN_TTL',
    kind: seconds(90 * 86_400),
    default: 7 * 86_400,
    help: 'refresh token lifetime (s)',
  },
  sessionStore: {
    yaml: 'session.store',
    env: 'SESSION_STORE',
    kind: { type: 'enum', values: ['memory', 'sqlite', 'redis', 'postgres', 'replicated', 'cookie'] },
    default: 'memory',
    help: 'where sessions live (replicated: every replica, kept alike through Redis pub/sub; cookie: sealed in the client)',
  },
  sessionCookieSecret: {
    yaml: 'session.cookie_secret',
    env: 'SESSION_COOKIE_SECRET',
    kind: secretText,
    default: undefined,
    help: 'SESSION_STORE=cookie: secret the session cookie is sealed with (AES-256-GCM), at least 32 bytes',
  },
  dataStore: {
    yaml: 'data.store',
    env: 'DATA_STORE',
    kind: { type: 'enum', values: ['sqlite', 'postgres'] },
    default: 'sqlite',
    help: 'where users, file metadata and refresh tokens live',
  },
  redisUrl: {
    yaml: 'redis.url',
    env: 'REDIS_URL',
    kind: secretText,
    default: 'redis://127.0.0.1:6379',
    help: 'Redis server',
  },
  redisClusterNodes: {
    yaml: 'redis.cluster_nodes',
    env: 'REDIS_CLUSTER_NODES',
    kind: text,
    default: undefined,
    help: 'Redis Cluster seed nodes, host:port,host:port (instead of REDIS_URL)',
  },
  redisPrefix: {
    yaml: 'redis.prefix',
    env: 'REDIS_PREFIX',
    kind: text,
    default: 'statelab',
    help: 'key prefix',
  },
  databaseUrl: {
    yaml: 'database.url',
    env: 'DATABASE_URL',
    kind: secretText,
    default: undefined,
    help: 'PostgreSQL connection string',
  },
  databaseSchema: {
    yaml: 'database.schema',
    env: 'DATABASE_SCHEMA',
    kind: text,
    default: 'public',
    help: 'PostgreSQL schema for statelab tables',
  },
  sessionCache: {
    yaml: 'session.cache',
    env: 'SESSION_CACHE',
    kind: { type: 'enum', values: ['on', 'off'] },
    default: 'off',
    help: 'local read cache in front of Redis, invalidated by the server (RESP3 client-side caching)',
  },
  storeTimeoutMs: {
    yaml: 'store_timeout_ms',
    env: 'STORE_TIMEOUT_MS',
    kind: { type: 'int', min: 10, max: 60_000 },
    default: 1000,
    help: 'a store slower than this fails the request with 503 (ms)',
  },
  jwtDenylist: {
    yaml: 'jwt.denylist',
    env: 'JWT_DENYLIST',
    kind: { type: 'enum', values: ['off', 'memory', 'redis', 'sqlite', 'postgres'] },
    default: 'off',
    help: 'where revoked access tokens are remembered until they expire (off: they live until expiry)',
  },
  sessionIdleTimeout: {
    yaml: 'session.idle_timeout',
    env: 'SESSION_IDLE_TIMEOUT',
    kind: seconds(30 * 86_400),
    default: 1800,
    help: 'session idle timeout (s)',
  },
  sessionAbsoluteTimeout: {
    yaml: 'session.absolute_timeout',
    env: 'SESSION_ABSOLUTE_TIMEOUT',
    kind: seconds(90 * 86_400),
    default: 8 * 3600,
    help: 'session maximum lifetime (s)',
  },
  sessionTouchAfter: {
    yaml: 'session.touch_after',
    env: 'SESSION_TOUCH_AFTER',
    kind: { type: 'int', min: 0, max: 86_400 },
    default: 60,
    help: 'a read refreshes the idle timer in the store at most this often (s); capped at a tenth of the idle timeout',
  },
  maxSessions: {
    yaml: 'session.max_sessions',
    env: 'MAX_SESSIONS',
    kind: count(100_000_000),
    default: 100_000,
    help: 'sessions held at most (memory store)',
  },
  maxFileSize: {
    yaml: 'files.max_size',
    env: 'MAX_FILE_SIZE',
    kind: count(2 ** 40),
    default: 10 * 1024 * 1024,
    help: 'largest upload (bytes)',
  },
  calcHistoryLimit: {
    yaml: 'calc.history_limit',
    env: 'CALC_HISTORY_LIMIT',
    kind: count(100_000),
    default: 1000,
    help: 'calculator steps a session remembers (the oldest are dropped)',
  },
  maxHeaderSize: {
    yaml: 'http.max_header_size',
    env: 'MAX_HEADER_SIZE',
    kind: count(1024 * 1024),
    default: 16 * 1024,
    help: 'request header bytes at most (431 beyond)',
  },
  headersTimeout: {
    yaml: 'http.headers_timeout',
    env: 'HEADERS_TIMEOUT',
    kind: seconds(3600),
    default: 10,
    help: 'time to receive all headers (408 beyond)',
  },
  requestTimeout: {
    yaml: 'http.request_timeout',
    env: 'REQUEST_TIMEOUT',
    kind: seconds(3600),
    default: 120,
    help: 'time to receive a whole request (408 beyond)',
  },
  loginFailuresPerAccount: {
    yaml: 'login.failures_per_account',
    env: 'LOGIN_FAILURES_PER_ACCOUNT',
    kind: count(1_000_000),
    default: 5,
    help: 'failed logins per account per window before 429',
  },
  loginFailuresPerIp: {
    yaml: 'login.failures_per_ip',
    env: 'LOGIN_FAILURES_PER_IP',
    kind: count(1_000_000),
    default: 20,
    help: 'failed logins per IP per window before 429',
  },
  loginWindow: {
    yaml: 'login.window',
    env: 'LOGIN_WINDOW',
    kind: seconds(86_400),
    default: 900,
    help: 'failed-login window (s)',
  },
}

export interface LoadConfigOptions {
  /** Environment variables; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** A YAML file whose keys follow `SETTINGS[*].yaml`. */
  readonly file?: string
  /** Highest precedence (command-line flags). */
  readonly overrides?: Partial<Config>
}

/**
 * Defaults, then the YAML file, then environment variables, then overrides. Throws `AppError('ERR_CONFIG')`
 * naming the bad key.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const result = loadSettings<Config>(SETTINGS, {
    env: options.env ?? process.env,
    file: options.file || undefined,
    overrides: options.overrides,
  })
  if (result.jwtSecret !== undefined && Buffer.byteLength(result.jwtSecret) < 32) {
    throw new AppError(
      'ERR_CONFIG',
      'JWT_SECRET must be at least 32 bytes long (try: openssl rand -base64 48)',
    )
  }
  if (result.sessionCookieSecret !== undefined && Buffer.byteLength(result.sessionCookieSecret) < 32) {
    throw new AppError(
      'ERR_CONFIG',
      'SESSION_COOKIE_SECRET must be at least 32 bytes long (try: openssl rand -base64 48)',
    )
  }
  if (result.sessionStore === 'replicated' && result.redisClusterNodes !== undefined) {
    throw new AppError(
      'ERR_CONFIG',
      'SESSION_STORE=replicated broadcasts through one Redis at REDIS_URL: unset REDIS_CLUSTER_NODES',
    )
  }
  if (result.sessionAbsoluteTimeout < result.sessionIdleTimeout) {
    throw new AppError('ERR_CONFIG', 'SESSION_ABSOLUTE_TIMEOUT must not be shorter than SESSION_IDLE_TIMEOUT')
  }
  const usesPostgres = [result.sessionStore, result.dataStore, result.jwtDenylist].includes('postgres')
  if (usesPostgres && result.databaseUrl === undefined) {
    throw new AppError(
      'ERR_CONFIG',
      'DATABASE_URL must be set when a store is postgres (e.g. postgres://user@host:5432/db)',
    )
  }
  if (result.sessionCache === 'on' && result.sessionStore !== 'redis') {
    throw new AppError('ERR_CONFIG', 'SESSION_CACHE=on caches Redis reads: it needs SESSION_STORE=redis')
  }
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(result.databaseSchema)) {
    throw new AppError(
      'ERR_CONFIG',
      'DATABASE_SCHEMA must be a lower-case SQL identifier (letters, digits, _)',
    )
  }
  return Object.freeze({ ...result, dataDir: resolve(result.dataDir) })
}
