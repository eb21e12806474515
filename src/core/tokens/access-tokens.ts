import { createHash, type KeyObject, randomBytes } from 'node:crypto'
import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import type { Clock } from '../clock.ts'
import { AppError } from '../errors.ts'

/** Claims statelab puts in every access token. `tv` is the user's token version at issue time. */
export interface AccessClaims {
  readonly iss: string
  readonly aud: string
  readonly sub: string
  readonly jti: string
  readonly iat: number
  readonly exp: number
  readonly tv: number
}

export type AccessTokenKeys =
  | { readonly algorithm: 'HS256'; readonly secret: Buffer }
  | { readonly algorithm: 'EdDSA'; readonly privateKey: KeyObject; readonly publicKey: KeyObject }

export interface AccessTokenOptions {
  readonly keys: AccessTokenKeys
  readonly clock: Clock
  readonly issuer: string
  readonly audience: string
  /** Default 900 (15 minutes). */
  readonly ttlSeconds?: number
}

export const MIN_HS256_SECRET_BYTES = 32
/** Verified tokens remembered; beyond it the oldest is forgotten (at most a few MB). */
const VERIFIED_CACHE_SIZE = 10_000

/** A public key in JWK form, as served by `/.well-known/jwks.json`. */
export interface PublicJwk {
  readonly kty: string
  readonly crv?: string
  readonly x?: string
  readonly kid: string
  readonly alg: string
  readonly use: 'sig'
}

/**
 * Signs and verifies access JWTs with one pinned algorithm. Expiry is checked against the injected clock,
 * not the wall clock, so tests move time instead of waiting.
 *
 * @example
 * const tokens = new AccessTokens({ keys: { algorithm: 'HS256', secret }, clock: systemClock, issuer: 'statelab', audience: 'statelab-api' })
 * const { token } = tokens.sign({ id: user.id, tokenVersion: user.tokenVersion })
 * tokens.verify(token).sub === user.id
 */
export class AccessTokens {
  readonly ttlSeconds: number
  readonly algorithm: AccessTokenKeys['algorithm']
  readonly #clock: Clock
  readonly #issuer: string
  readonly #audience: string
  readonly #sign: (payload: Record<string, unknown>) => string
  readonly #verify: (token: string) => Record<string, unknown>
  readonly #jwks: { keys: PublicJwk[] }
  /**
   * Claims of tokens whose signature and claims checked out, by the exact token: a Map lookup instead of an
   * HMAC (or fast-jwt's own cache, which hashes every token with SHA-256 to find it). Expiry is checked on
   * every use; a token is the same bytes forever, so its signature stays valid for the life of the keys.
   */
  readonly #verified = new Map<string, AccessClaims>()

  constructor(options: AccessTokenOptions) {
    const { keys } = options
    this.ttlSeconds = options.ttlSeconds ?? 900
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1) {
      throw new TypeError('AccessTokens options.ttlSeconds must be a positive integer')
    }
    this.algorithm = keys.algorithm
    this.#clock = options.clock
    this.#issuer = options.issuer
    this.#audience = options.audience
    let signKey: Buffer | string
    let verifyKey: Buffer | string
    let kid: string | undefined
    if (keys.algorithm === 'HS256') {
      if (keys.secret.length < MIN_HS256_SECRET_BYTES) {
        throw new AppError(
          'ERR_CONFIG',
          `An HS256 secret must be at least ${MIN_HS256_SECRET_BYTES} bytes long`,
        )
      }
      signKey = verifyKey = keys.secret
      this.#jwks = { keys: [] }
    } else {
      signKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
      verifyKey = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString()
      const jwk = keys.publicKey.export({ format: 'jwk' })
      kid = createHash('sha256')
        .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x }))
        .digest('base64url')
      this.#jwks = { keys: [{ kty: jwk.kty!, crv: jwk.crv, x: jwk.x, kid, alg: 'EdDSA', use: 'sig' }] }
    }
    this.#sign = createSigner({ key: signKey, algorithm: keys.algorithm, kid })
    // Expiry is ours to check (injected clock), which also makes the verified-token cache safe to use.
    this.#verify = createVerifier({
      key: verifyKey,
      algorithms: [keys.algorithm],
      allowedIss: this.#issuer,
      allowedAud: this.#audience,
      requiredClaims: ['iss', 'aud', 'sub', 'jti', 'iat', 'exp', 'tv'],
      ignoreExpiration: true,
      ignoreNotBefore: true,
    })
  }

  /** Issues a token for the user at its current token version. */
  sign(user: { readonly id: string; readonly tokenVersion: number }): {
    token: string
    claims: AccessClaims
  } {
    const iat = Math.floor(this.#clock.now() / 1000)
    const claims: AccessClaims = {
      iss: this.#issuer,
      aud: this.#audience,
      sub: user.id,
      jti: randomBytes(16).toString('base64url'),
      iat,
      exp: iat + this.ttlSeconds,
      tv: user.tokenVersion,
    }
    return { token: this.#sign({ ...claims }), claims }
  }

  /** Returns the claims of a valid token; throws `ERR_TOKEN_INVALID` or `ERR_TOKEN_EXPIRED`. */
  verify(token: string): AccessClaims {
    const cached = this.#verified.get(token)
    if (cached) return this.#unexpired(cached)
    const claims = this.#unexpired(this.#verifySignature(token))
    if (this.#verified.size >= VERIFIED_CACHE_SIZE) this.#verified.delete(this.#verified.keys().next().value!)
    this.#verified.set(token, claims)
    return claims
  }

  #unexpired(claims: AccessClaims): AccessClaims {
    if (claims.exp * 1000 <= this.#clock.now()) {
      throw new AppError('ERR_TOKEN_EXPIRED', 'The access token has expired; refresh it or log in again')
    }
    return claims
  }

  #verifySignature(token: string): AccessClaims {
    let payload: Record<string, unknown>
    try {
      payload = this.#verify(token)
    } catch (err) {
      const reason = err instanceof TokenError ? err.message : 'it could not be decoded'
      throw new AppError('ERR_TOKEN_INVALID', `The access token is not valid: ${reason}`, { cause: err })
    }
    const { sub, jti, iat, exp, tv } = payload
    if (typeof sub !== 'string' || typeof jti !== 'string' || !isInt(iat) || !isInt(exp) || !isInt(tv)) {
      throw new AppError('ERR_TOKEN_INVALID', 'The access token is not valid: a claim has the wrong type')
    }
    return Object.freeze({ iss: this.#issuer, aud: this.#audience, sub, jti, iat, exp, tv })
  }

  /** The public keys verifiers need; empty for HS256, whose key is secret. */
  jwks(): { keys: PublicJwk[] } {
    return this.#jwks
  }
}

function isInt(value: unknown): value is number {
  return Number.isSafeInteger(value)
}
