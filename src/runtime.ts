import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type DestinationStream, type Logger, pino } from 'pino'
import type { Config } from './config.ts'
import { type Clock, systemClock } from './core/clock.ts'
import { AppError } from './core/errors.ts'
import { type AccessTokenKeys, AccessTokens } from './core/tokens/access-tokens.ts'
import { RefreshTokens } from './core/tokens/refresh-tokens.ts'
import { LoginThrottle } from './core/users/login-throttle.ts'
import type { Argon2Params } from './core/users/passwords.ts'
import { UserService } from './core/users/user-service.ts'
import { readOrCreate } from './dev-secret.ts'
import { type CacheStats, openStores } from './open-stores.ts'
import type { BlobStore } from './stores/blobs/blob-store.ts'
import { FsBlobStore } from './stores/blobs/fs/index.ts'
import type { DataStore } from './stores/data/data-store.ts'
import { SessionManager } from './stores/session-manager.ts'
import type { TokenDenylist } from './stores/token-denylist.ts'

/** Everything the APIs are built from; one per process, shared by both APIs under `statelab up`. */
export interface Runtime {
  readonly config: Config
  readonly clock: Clock
  readonly log: Logger
  readonly data: DataStore
  readonly blobs: BlobStore
  readonly users: UserService
  readonly accessTokens: AccessTokens
  readonly refreshTokens: RefreshTokens
  readonly sessions: SessionManager
  /** Where revoked access tokens are remembered; undefined when they simply live until they expire. */
  readonly denylist: TokenDenylist | undefined
  /** Hits and misses of the local session cache, when `SESSION_CACHE=on`. */
  readonly cacheStats: (() => CacheStats) | undefined
  close(): Promise<void>
}

export interface RuntimeOptions {
  readonly clock?: Clock
  readonly log?: Logger
  /** Cheaper hashing for tests; production always uses the OWASP defaults. */
  readonly argon2?: Argon2Params
}

/**
 * Opens the stores named by `config` and wires the services.
 *
 * @example
 * const runtime = await createRuntime(loadConfig())
 */
export async function createRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const clock = options.clock ?? systemClock
  const log = options.log ?? createLogger(config.logLevel)
  mkdirSync(config.dataDir, { recursive: true })
  const keys = loadJwtKeys(config, log)
  const blobs = await FsBlobStore.open(join(config.dataDir, 'files'))
  const stores = await openStores(config, { clock, log })
  const { data, denylist } = stores
  const throttle = new LoginThrottle({
    clock,
    perAccount: { failures: config.loginFailuresPerAccount, windowMs: config.loginWindow * 1000 },
    perIp: { failures: config.loginFailuresPerIp, windowMs: config.loginWindow * 1000 },
  })
  return {
    config,
    clock,
    log,
    data,
    blobs,
    users: new UserService({ users: data.users, clock, throttle, argon2: options.argon2 }),
    accessTokens: new AccessTokens({
      keys,
      clock,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      ttlSeconds: config.accessTokenTtl,
    }),
    refreshTokens: new RefreshTokens({
      repository: data.refreshTokens,
      clock,
      ttlMs: config.refreshTokenTtl * 1000,
    }),
    sessions: new SessionManager({
      store: stores.sessions,
      clock,
      policy: {
        idleTimeoutMs: config.sessionIdleTimeout * 1000,
        absoluteTimeoutMs: config.sessionAbsoluteTimeout * 1000,
        touchAfterMs: Math.min(
          config.sessionTouchAfter * 1000,
          Math.floor((config.sessionIdleTimeout * 1000) / 10),
        ),
      },
    }),
    denylist,
    cacheStats: stores.cacheStats,
    close: stores.close,
  }
}

/**
 * pino with request serializers that keep query strings (which may hold refused credentials) out of logs;
 * lines go to standard output, or to `destination`.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    serializers: {
      req: (req: { id: string; method: string; url: string; ip?: string }) => ({
        id: req.id,
        method: req.method,
        path: req.url.split('?')[0],
        remoteAddress: req.ip,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  }
  return destination ? pino(options, destination) : pino(options)
}

/**
 * The configured signing keys, or development keys generated once and kept under the data directory, so
 * tokens survive restarts without any production default being written into the code.
 */
function loadJwtKeys(config: Config, log: Logger): AccessTokenKeys {
  if (config.jwtAlgorithm === 'HS256') {
    if (config.jwtSecret !== undefined) return { algorithm: 'HS256', secret: Buffer.from(config.jwtSecret) }
    const file = join(config.dataDir, 'dev-jwt-secret')
    const secret = readOrCreate(file, () => randomBytes(48).toString('base64url'))
    log.warn(
      { file },
      'JWT_SECRET is not set: using a generated development secret; set JWT_SECRET in production',
    )
    return { algorithm: 'HS256', secret: Buffer.from(secret) }
  }
  let pem: string
  if (config.jwtPrivateKeyFile !== undefined) {
    pem = readFileSync(config.jwtPrivateKeyFile, 'utf8')
  } else {
    const file = join(config.dataDir, 'dev-jwt-ed25519.pem')
    pem = readOrCreate(file, () =>
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    )
    log.warn({ file }, 'JWT_PRIVATE_KEY_FILE is not set: using a generated development key pair')
  }
  try {
    const privateKey = createPrivateKey(pem)
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`it is ${privateKey.asymmetricKeyType}`)
    return { algorithm: 'EdDSA', privateKey, publicKey: createPublicKey(privateKey) }
  } catch (err) {
    throw new AppError(
      'ERR_CONFIG',
      `JWT_PRIVATE_KEY_FILE must hold an Ed25519 private key in PEM: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  }
}
