import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FakeClock } from '../../../../src/core/clock.ts'
import { isAppError } from '../../../../src/core/errors.ts'
import { LoginThrottle, type LoginThrottleOptions } from '../../../../src/core/users/login-throttle.ts'

const MINUTE = 60_000

function setup(options: Omit<LoginThrottleOptions, 'clock'> = {}) {
  const clock = new FakeClock()
  const throttle = new LoginThrottle({
    clock,
    perAccount: { failures: 3, windowMs: MINUTE },
    perIp: { failures: 5, windowMs: MINUTE },
    ...options,
  })
  return { clock, throttle }
}

function fail(throttle: LoginThrottle, times: number, username: string, ip?: string): void {
  for (let i = 0; i < times; i++) throttle.recordFailure(username, ip)
}

function isAllowed(throttle: LoginThrottle, username: string, ip?: string): boolean {
  try {
    throttle.assertAllowed(username, ip)
    return true
  } catch (err) {
    if (isAppError(err, 'ERR_TOO_MANY_ATTEMPTS')) return false
    throw err
  }
}

describe('LoginThrottle', () => {
  it('limits failures per account, whatever the IP', () => {
    const { throttle } = setup()
    throttle.recordFailure('alice', '10.0.0.1')
    throttle.recordFailure('alice', '10.0.0.2')
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.3'), true)
    throttle.recordFailure('alice', undefined)
    assert.throws(
      () => throttle.assertAllowed('alice', '10.0.0.4'),
      (err) => isAppError(err, 'ERR_TOO_MANY_ATTEMPTS') && /for this account/.test(err.message),
    )
    assert.equal(isAllowed(throttle, 'alice', undefined), false)
    assert.equal(isAllowed(throttle, 'bob', '10.0.0.1'), true)
  })

  it('limits failures per IP across accounts (password spraying)', () => {
    const { throttle } = setup()
    for (const username of ['a1', 'a2', 'a3', 'a4', 'a5']) throttle.recordFailure(username, '10.0.0.9')
    assert.throws(
      () => throttle.assertAllowed('someone-new', '10.0.0.9'),
      (err) => isAppError(err, 'ERR_TOO_MANY_ATTEMPTS') && /for this address/.test(err.message),
    )
    assert.equal(isAllowed(throttle, 'someone-new', '10.0.0.10'), true)
    assert.equal(isAllowed(throttle, 'a1', '10.0.0.10'), true)
  })

  it('does not count failures without an IP against any IP', () => {
    const { throttle } = setup({ perAccount: { failures: 100, windowMs: MINUTE } })
    for (let i = 0; i < 10; i++) throttle.recordFailure(`user${i}`, undefined)
    assert.equal(isAllowed(throttle, 'user0', '10.0.0.1'), true)
  })

  it('says when to retry, in whole seconds rounded up', () => {
    const { clock, throttle } = setup()
    fail(throttle, 3, 'alice')
    clock.advance(20_000)
    assert.throws(
      () => throttle.assertAllowed('alice', undefined),
      (err) =>
        isAppError(err, 'ERR_TOO_MANY_ATTEMPTS') && err.retryAfter === 40 && /in 40 s/.test(err.message),
    )
    clock.advance(500)
    assert.throws(
      () => throttle.assertAllowed('alice', undefined),
      (err) => isAppError(err) && err.retryAfter === 40,
    )
    clock.advance(39_000)
    assert.throws(
      () => throttle.assertAllowed('alice', undefined),
      (err) => isAppError(err) && err.retryAfter === 1,
    )
  })

  it('starts a new window once the clock passes the old one', () => {
    const { clock, throttle } = setup()
    fail(throttle, 3, 'alice', '10.0.0.1')
    clock.advance(MINUTE - 1)
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.1'), false)
    clock.advance(1)
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.1'), true)
    // The new window counts from zero.
    fail(throttle, 2, 'alice', '10.0.0.1')
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.1'), true)
    throttle.recordFailure('alice', '10.0.0.1')
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.1'), false)
  })

  it('keeps the window fixed: failures inside it do not extend it', () => {
    const { clock, throttle } = setup()
    throttle.recordFailure('alice', undefined)
    clock.advance(50_000)
    fail(throttle, 2, 'alice')
    assert.throws(
      () => throttle.assertAllowed('alice', undefined),
      (err) => isAppError(err) && err.retryAfter === 10,
    )
  })

  it('clears the account on success, but not the IP', () => {
    const { throttle } = setup({
      perAccount: { failures: 2, windowMs: MINUTE },
      perIp: { failures: 3, windowMs: MINUTE },
    })
    fail(throttle, 2, 'alice', '10.0.0.1')
    throttle.recordFailure('bob', '10.0.0.1')
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.2'), false)
    assert.equal(isAllowed(throttle, 'carol', '10.0.0.1'), false)

    throttle.recordSuccess('alice')
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.2'), true)
    assert.equal(isAllowed(throttle, 'alice', '10.0.0.1'), false)
    assert.equal(isAllowed(throttle, 'carol', '10.0.0.1'), false)
  })

  it('remembers at most maxKeys keys, forgetting the oldest first', () => {
    const maxKeys = 10
    const { throttle } = setup({ perAccount: { failures: 1, windowMs: MINUTE }, maxKeys })
    const usernames = Array.from({ length: 50 }, (_, i) => `user${i}`)
    for (const username of usernames) throttle.recordFailure(username, undefined)
    const remembered = usernames.filter((username) => !isAllowed(throttle, username))
    assert.deepEqual(remembered, usernames.slice(-maxKeys))
  })

  it('forgets expired windows before live ones when full', () => {
    const { clock, throttle } = setup({
      perAccount: { failures: 1, windowMs: MINUTE },
      perIp: { failures: 1, windowMs: 10_000 },
      maxKeys: 3,
    })
    throttle.recordFailure('live1', undefined)
    throttle.recordFailure('live2', '10.0.0.1')
    // Full (u:live1, u:live2, ip:10.0.0.1); only the IP's shorter window has expired. Evicting the oldest
    // instead would forget live1.
    clock.advance(10_000)
    throttle.recordFailure('new', undefined)
    assert.equal(isAllowed(throttle, 'live1'), false)
    assert.equal(isAllowed(throttle, 'live2'), false)
    assert.equal(isAllowed(throttle, 'new'), false)
  })
})
