import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../../../src/core/errors.ts'
import { normalizeUsername } from '../../../../src/core/users/usernames.ts'

describe('normalizeUsername', () => {
  it('lower-cases', () => {
    assert.equal(normalizeUsername('Alice'), 'alice')
    assert.equal(normalizeUsername('BOB.SMITH'), 'bob.smith')
  })

  it('applies NFKC, so look-alike compatibility forms map to one account', () => {
    assert.equal(normalizeUsername('Ａｌｉｃｅ'), 'alice') // fullwidth letters
    assert.equal(normalizeUsername('\u212Aate'), 'kate') // KELVIN SIGN
    assert.equal(normalizeUsername('\uFB01nn'), 'finn') // "fi" ligature
    assert.equal(normalizeUsername('user①'), 'user1') // circled digit
  })

  it('accepts 3 to 32 letters, digits, ".", "_" and "-", starting with a letter or digit', () => {
    for (const valid of ['abc', '007', 'a.b', 'a-b_c.d', 'alice_', 'x'.repeat(32), '1st-user']) {
      assert.equal(normalizeUsername(valid), valid)
    }
  })

  it('refuses anything else with ERR_USERNAME_INVALID', () => {
    const invalid = [
      '',
      'ab',
      'x'.repeat(33),
      '_alice',
      '.alice',
      '-alice',
      'al ice',
      ' alice',
      'alice\n',
      'alice@example.com',
      'al/ice',
      'ålice',
      'алиса',
      'İsmail', // lower-cases to "i" plus a combining dot
    ]
    for (const input of invalid) {
      assert.throws(
        () => normalizeUsername(input),
        (err) => isAppError(err, 'ERR_USERNAME_INVALID') && /3 to 32 characters/.test(err.message),
        JSON.stringify(input),
      )
    }
  })

  it('refuses a non-string', () => {
    for (const input of [undefined, null, 42, ['alice'], { toString: () => 'alice' }]) {
      assert.throws(
        () => normalizeUsername(input),
        (err) => isAppError(err, 'ERR_USERNAME_INVALID') && /must be a string/.test(err.message),
      )
    }
  })
})
