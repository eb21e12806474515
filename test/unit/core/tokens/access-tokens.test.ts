import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, it } from 'node:test'
import { createDecoder, createSigner } from 'fast-jwt'
import { FakeClock } from '../../../../src/core/clock.ts'
import { isAppError } from '../../../../src/core/errors.ts'
import {
  type AccessTokenKeys,
  type AccessTokenOptions,
  AccessTokens,
} from '../../../../src/core/tokens/access-tokens.ts'

const SECRET = Buffer.from('an-hs256-secret-of-32-bytes-long')
const USER = { id: 'user-1', tokenVersion: 3 }
const decode = createDecoder({ complete: true })

function setup(options: Partial<AccessTokenOptions> = {}) {
  const clock = new FakeClock()
  const tokens = new AccessTokens({
    keys: { algorithm: 'HS256', secret: SECRET },
    clock,
    issuer: 'statelab',
    audience: 'statelab-api',
    ...options,
  })
  return { clock, tokens }
}

function ed25519Keys(): AccessTokenKeys {
  return { algorithm: 'EdDSA', ...generateKeyPairSync('ed25519') }
}

function isInvalid(err: unknown): boolean {
  return isAppError(err, 'ERR_TOKEN_INVALID')
}

/** Valid claims for a token that only differs from a genuine one in what a test changes. */
function claimsOf(tokens: AccessTokens, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...tokens.sign(USER).claims, ...overrides }
}

describe('AccessTokens', () => {
  it('signs and verifies iss, aud, sub, jti, iat, exp and tv', () => {
    const { clock, tokens } = setup()
    const { token, claims } = tokens.sign(USER)
    const iat = clock.now() / 1000
    assert.deepEqual(claims, {
      iss: 'statelab',
      aud: 'statelab-api',
      sub: 'user-1',
      jti: claims.jti,
      iat,
      exp: iat + 900,
      tv: 3,
    })
    assert.match(claims.jti, /^[\w-]{22}$/)
    assert.deepEqual(tokens.verify(token), claims)
    assert.deepEqual(decode(token).header, { alg: 'HS256', typ: 'JWT' })
    assert.equal(tokens.ttlSeconds, 900)
  })

  it('sets exp to iat + ttlSeconds, iat in whole seconds', () => {
    const { clock, tokens } = setup({ ttlSeconds: 60 })
    clock.advance(1_999)
    const { claims } = tokens.sign(USER)
    assert.equal(claims.iat, Math.floor(clock.now() / 1000))
    assert.equal(claims.exp, claims.iat + 60)
  })

  it('expires at exp by the injected clock, even after a successful (cached) verification', () => {
    const { clock, tokens } = setup({ ttlSeconds: 60 })
    const { token } = tokens.sign(USER)
    assert.equal(tokens.verify(token).sub, 'user-1')
    clock.advance(59_999)
    assert.equal(tokens.verify(token).sub, 'user-1')
    clock.advance(1)
    assert.throws(
      () => tokens.verify(token),
      (err) => isAppError(err, 'ERR_TOKEN_EXPIRED'),
    )
  })

  it('gives every token its own jti', () => {
    const { tokens } = setup()
    const a = tokens.sign(USER)
    const b = tokens.sign(USER)
    assert.notEqual(a.claims.jti, b.claims.jti)
    assert.notEqual(a.token, b.token)
  })

  it('refuses a tampered signature or payload', () => {
    const { tokens } = setup()
    const { token } = tokens.sign(USER)
    const [header, payload, signature = ''] = token.split('.')
    // Change a middle character: the last one of a base64url signature partly encodes padding bits.
    const i = 10
    const flipped = signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1)
    assert.throws(() => tokens.verify(`${header}.${payload}.${flipped}`), isInvalid)
    assert.throws(() => tokens.verify(`${header}.${payload}.`), isInvalid)

    const forged = Buffer.from(JSON.stringify({ ...tokens.verify(token), sub: 'admin' })).toString(
      'base64url',
    )
    assert.throws(() => tokens.verify(`${header}.${forged}.${signature}`), isInvalid)
  })

  it('refuses garbage', () => {
    const { tokens } = setup()
    for (const token of ['', 'not-a-jwt', 'a.b.c', '..']) {
      assert.throws(() => tokens.verify(token), isInvalid, token)
    }
  })

  it('refuses alg none, another secret, another issuer and another audience', () => {
    const { tokens } = setup()
    const hs256 = createSigner({ key: SECRET, algorithm: 'HS256' })
    assert.doesNotThrow(() => tokens.verify(hs256(claimsOf(tokens))), 'control: a genuine token verifies')

    const none = createSigner({ algorithm: 'none' })
    assert.throws(() => tokens.verify(none(claimsOf(tokens))), isInvalid)
    const otherSecret = createSigner({
      key: Buffer.from('another-secret-that-is-32-bytes!'),
      algorithm: 'HS256',
    })
    assert.throws(() => tokens.verify(otherSecret(claimsOf(tokens))), isInvalid)
    assert.throws(() => tokens.verify(hs256(claimsOf(tokens, { iss: 'evil' }))), isInvalid)
    assert.throws(() => tokens.verify(hs256(claimsOf(tokens, { aud: 'other-api' }))), isInvalid)
  })

  it('pins the algorithm: refuses HS512 signed with the same secret', () => {
    const { tokens } = setup()
    const hs512 = createSigner({ key: SECRET, algorithm: 'HS512' })
    assert.throws(() => tokens.verify(hs512(claimsOf(tokens))), isInvalid)
  })

  it('refuses a token missing a claim or with a claim of the wrong type', () => {
    const { tokens } = setup()
    const hs256 = createSigner({ key: SECRET, algorithm: 'HS256' })
    for (const claim of ['sub', 'jti', 'tv']) {
      assert.throws(() => tokens.verify(hs256(claimsOf(tokens, { [claim]: undefined }))), isInvalid, claim)
    }
    assert.throws(() => tokens.verify(hs256(claimsOf(tokens, { tv: '3' }))), isInvalid)
    assert.throws(() => tokens.verify(hs256(claimsOf(tokens, { sub: 42 }))), isInvalid)
  })

  it('refuses an HS256 secret shorter than 32 bytes', () => {
    assert.throws(
      () => setup({ keys: { algorithm: 'HS256', secret: SECRET.subarray(0, 31) } }),
      (err) => isAppError(err, 'ERR_CONFIG') && /at least 32 bytes/.test(err.message),
    )
  })

  it('refuses a ttlSeconds that is not a positive integer', () => {
    for (const ttlSeconds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => setup({ ttlSeconds }), TypeError, String(ttlSeconds))
    }
  })

  it('publishes no keys for HS256', () => {
    assert.deepEqual(setup().tokens.jwks(), { keys: [] })
  })
})

describe('AccessTokens with EdDSA', () => {
  it('round-trips and publishes one OKP key whose kid the tokens carry', () => {
    const { tokens } = setup({ keys: ed25519Keys() })
    const { token, claims } = tokens.sign(USER)
    assert.deepEqual(tokens.verify(token), claims)

    const { keys } = tokens.jwks()
    assert.equal(keys.length, 1)
    const [jwk] = keys
    assert.ok(jwk)
    assert.equal(jwk.kty, 'OKP')
    assert.equal(jwk.crv, 'Ed25519')
    assert.equal(jwk.alg, 'EdDSA')
    assert.equal(jwk.use, 'sig')
    assert.match(jwk.kid, /^[\w-]{43}$/)
    assert.match(jwk.x ?? '', /^[\w-]{43}$/)
    assert.equal(JSON.stringify(jwk).includes('"d"'), false, 'no private part')
    assert.deepEqual(decode(token).header, { alg: 'EdDSA', typ: 'JWT', kid: jwk.kid })
  })

  it('refuses a token signed by another key pair', () => {
    const { tokens } = setup({ keys: ed25519Keys() })
    const other = setup({ keys: ed25519Keys() }).tokens
    assert.throws(() => tokens.verify(other.sign(USER).token), isInvalid)
    assert.notEqual(tokens.jwks().keys[0]?.kid, other.jwks().keys[0]?.kid)
  })

  it('pins the algorithm: refuses HS256 tokens, even one keyed with the public key', () => {
    const keys = ed25519Keys()
    const { tokens } = setup({ keys })
    const hs256 = setup().tokens
    assert.throws(() => tokens.verify(hs256.sign(USER).token), isInvalid)

    assert.equal(keys.algorithm, 'EdDSA')
    const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const confused = createSigner({ key: publicPem, algorithm: 'HS256' })
    assert.throws(() => tokens.verify(confused(claimsOf(tokens))), isInvalid)
  })
})
