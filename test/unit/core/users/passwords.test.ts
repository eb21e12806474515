import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../../../src/core/errors.ts'
import {
  type Argon2Params,
  assertPasswordAcceptable,
  hashPassword,
  MAX_PASSWORD_BYTES,
  needsRehash,
  OWASP_ARGON2ID,
  verifyPassword,
} from '../../../../src/core/users/passwords.ts'

/** Real argon2id at a cost that keeps the suite fast. */
const CHEAP: Argon2Params = { memory: 1024, passes: 1, parallelism: 1 }
const PASSWORD = 'correct horse battery staple'
const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[\w-]{22}\$[\w-]{43}$/

/** A well-formed PHC string with the given cost; salt and tag are 16 and 32 zero bytes. */
function phcWith(m: number, t: number, p: number, salt = 'A'.repeat(22), tag = 'A'.repeat(43)): string {
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${salt}$${tag}`
}

function weak(rule: RegExp) {
  return (err: unknown) => isAppError(err, 'ERR_PASSWORD_WEAK') && rule.test(err.message)
}

describe('hashPassword / verifyPassword', () => {
  it('round-trips and stores the cost in the PHC string', async () => {
    const phc = await hashPassword(PASSWORD, CHEAP)
    assert.match(phc, PHC)
    assert.ok(phc.startsWith('$argon2id$v=19$m=1024,t=1,p=1$'))
    assert.ok(!phc.includes(PASSWORD))
    assert.equal(await verifyPassword(PASSWORD, phc), true)
  })

  it('uses the OWASP parameters by default', async () => {
    const phc = await hashPassword(PASSWORD)
    assert.ok(phc.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'), phc)
    assert.equal(await verifyPassword(PASSWORD, phc), true)
  })

  it('rejects a wrong password, including one differing only in case or by a trailing space', async () => {
    const phc = await hashPassword(PASSWORD, CHEAP)
    assert.equal(await verifyPassword('correct horse battery stapler', phc), false)
    assert.equal(await verifyPassword(PASSWORD.toUpperCase(), phc), false)
    assert.equal(await verifyPassword(`${PASSWORD} `, phc), false)
    assert.equal(await verifyPassword('', phc), false)
  })

  it('salts: two hashes of one password differ and both verify', async () => {
    const [a, b] = await Promise.all([hashPassword(PASSWORD, CHEAP), hashPassword(PASSWORD, CHEAP)])
    assert.notEqual(a, b)
    assert.notEqual(a.split('$')[4], b.split('$')[4])
    assert.equal(await verifyPassword(PASSWORD, a), true)
    assert.equal(await verifyPassword(PASSWORD, b), true)
  })

  it('returns false (never throws) for a malformed PHC string', async () => {
    const good = await hashPassword(PASSWORD, CHEAP)
    const [, , , , salt = '', tag = ''] = good.split('$')
    const malformed = [
      '',
      'not a hash',
      PASSWORD,
      good.replace('$argon2id$', '$argon2i$'),
      good.replace('$v=19$', '$v=16$'),
      good.replace('m=1024,t=1,p=1', 'm=1024,p=1,t=1'),
      `${good}$extra`,
      `${good.slice(0, -1)}!`,
      // Well-formed syntax, but values argon2 itself would refuse.
      phcWith(1024, 1, 1, 'AA', tag),
      phcWith(1024, 1, 1, salt, 'AA'),
      phcWith(1024, 0, 1, salt, tag),
      phcWith(1024, 1, 0, salt, tag),
      phcWith(4, 1, 1, salt, tag),
      phcWith(1024, 99_999_999_999, 1, salt, tag),
    ]
    for (const phc of malformed) {
      assert.equal(await verifyPassword(PASSWORD, phc), false, phc)
    }
  })
})

describe('needsRehash', () => {
  it('is true for a hash weaker than the wanted parameters', async () => {
    const cheap = await hashPassword(PASSWORD, CHEAP)
    assert.equal(needsRehash(cheap), true)
    assert.equal(needsRehash(cheap, CHEAP), false)
    assert.equal(needsRehash(phcWith(19_456, 2, 1)), false)
    assert.equal(needsRehash(phcWith(19_455, 2, 1)), true)
    assert.equal(needsRehash(phcWith(19_456, 1, 1)), true)
  })

  it('is false for a stronger hash, true for a different parallelism or a malformed hash', () => {
    assert.equal(needsRehash(phcWith(65_536, 3, 1), OWASP_ARGON2ID), false)
    assert.equal(needsRehash(phcWith(19_456, 2, 4), OWASP_ARGON2ID), true)
    assert.equal(needsRehash('not a hash'), true)
  })
})

describe('assertPasswordAcceptable', () => {
  it('accepts a good passphrase, with or without a username', () => {
    assert.doesNotThrow(() => assertPasswordAcceptable(PASSWORD))
    assert.doesNotThrow(() => assertPasswordAcceptable(PASSWORD, 'alice'))
    assert.doesNotThrow(() => assertPasswordAcceptable('Tr0ub4dor&3x'))
  })

  it('refuses a non-string', () => {
    for (const value of [undefined, null, 1234567890, ['correct horse'], { toString: () => PASSWORD }]) {
      assert.throws(() => assertPasswordAcceptable(value), weak(/must be a string/), String(value))
    }
  })

  it('refuses fewer than 10 characters, counting code points', () => {
    assert.throws(() => assertPasswordAcceptable('q7#kLm2$x'), weak(/at least 10 characters/))
    assert.doesNotThrow(() => assertPasswordAcceptable('q7#kLm2$xZ'))
    // Nine astral characters are 18 UTF-16 units but still nine characters.
    assert.throws(() => assertPasswordAcceptable('🔑🐴🔋📎🌵🎲🧲🪁🫖'), weak(/at least 10 characters/))
  })

  it(`refuses more than ${MAX_PASSWORD_BYTES} bytes, counting UTF-8 bytes`, () => {
    const atLimit = 'abcdefgh'.repeat(MAX_PASSWORD_BYTES / 8)
    assert.doesNotThrow(() => assertPasswordAcceptable(atLimit))
    assert.throws(() => assertPasswordAcceptable(`${atLimit}x`), weak(/at most 256 bytes/))
    // 129 characters, 258 bytes.
    assert.throws(() => assertPasswordAcceptable(`${'é'.repeat(128)}z`), weak(/at most 256 bytes/))
  })

  it('refuses a password containing the username, case-insensitively', () => {
    assert.throws(() => assertPasswordAcceptable('my-ALICE-passphrase', 'alice'), weak(/username/))
    assert.throws(() => assertPasswordAcceptable('my-alice-passphrase', 'Alice'), weak(/username/))
    assert.doesNotThrow(() => assertPasswordAcceptable('my-alice-passphrase', 'bob'))
  })

  it('refuses a commonly used password, case-insensitively', () => {
    for (const common of ['password123', 'Password123', 'QWERTYUIOP', '1q2w3e4r5t']) {
      assert.throws(() => assertPasswordAcceptable(common), weak(/commonly used/), common)
    }
  })

  it('refuses fewer than 4 different characters', () => {
    for (const repetitive of ['aaaaaaaaaaaa', 'abababababab', 'abcabcabcabc']) {
      assert.throws(() => assertPasswordAcceptable(repetitive), weak(/fewer than 4 different/), repetitive)
    }
    assert.doesNotThrow(() => assertPasswordAcceptable('abcdabcdabcd'))
  })
})
