import type { Clock } from '../../core/clock.ts'
import { AppError } from '../../core/errors.ts'
import { within } from '../deadline.ts'
import type { TokenDenylist } from '../token-denylist.ts'
import type { RedisSessionStoreClient } from './redis-session-store.ts'

/** The node-redis calls the denylist makes; a standalone client and a cluster client both have them. */
export type RedisTokenDenylistClient = Pick<RedisSessionStoreClient, 'eval' | 'get' | 'ping'>

// Keeps the later expiry when a token is listed twice. The value is the expiry itself, so `has` can judge it
// by the injected clock; the TTL only makes Redis forget it.
const ADD = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`

/** Revoked token ids in Redis, each expiring when its token would: every replica sees a logout at once. */
export class RedisTokenDenylist implements TokenDenylist {
  readonly kind = 'redis'
  readonly #client: RedisTokenDenylistClient
  readonly #clock: Clock
  readonly #prefix: string
  readonly #timeoutMs: number | undefined

  /** `timeoutMs`: how long a call may wait for Redis before it fails with `ERR_STORE_UNAVAILABLE`. */
  constructor(options: {
    client: RedisTokenDenylistClient
    clock: Clock
    prefix?: string
    timeoutMs?: number
  }) {
    this.#client = options.client
    this.#clock = options.clock
    this.#prefix = options.prefix ?? 'statelab'
    this.#timeoutMs = options.timeoutMs
  }

  async add(jti: string, expiresAt: number): Promise<void> {
    const ttl = expiresAt - this.#clock.now()
    if (ttl <= 0) return
    await this.#call(() =>
      this.#client.eval(ADD, { keys: [this.#key(jti)], arguments: [String(expiresAt), String(ttl)] }),
    )
  }

  async has(jti: string): Promise<boolean> {
    const value = await this.#call(() => this.#client.get(this.#key(jti)))
    return value !== null && Number(value) > this.#clock.now()
  }

  async ping(): Promise<void> {
    await this.#call(() => this.#client.ping())
  }

  #key(jti: string): string {
    return `${this.#prefix}:{d:${jti}}`
  }

  async #call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await within(work(), this.#timeoutMs, 'no answer')
    } catch (err) {
      throw new AppError('ERR_STORE_UNAVAILABLE', `Redis does not answer: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }
}
