import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../../src/core/errors.ts'
import {
  availableStrategyNames,
  type CentralStoreChoice,
  createStrategies,
  parseStrategyNames,
  STRATEGY_NAMES,
} from '../../../src/lab/strategies.ts'

function central(broadcast: CentralStoreChoice['broadcast']): CentralStoreChoice {
  return {
    kind: 'sqlite',
    label: 'sqlite',
    env: { SESSION_STORE: 'sqlite' },
    cleanup: async () => {},
    broadcast,
  }
}
const withRedis = central({ ok: true, env: { SESSION_STORE: 'replicated', REDIS_PREFIX: 'p' } })
const withoutRedis = central({ ok: false, reason: 'Redis at redis://127.0.0.1:6379 does not answer' })

describe('lab strategies replicated and cookie', () => {
  it('are named strategies of the stateful API, round-robin', () => {
    assert.deepEqual(parseStrategyNames('replicated, cookie'), ['replicated', 'cookie'])
    const [replicated, cookie] = createStrategies(['replicated', 'cookie'], { central: withRedis })
    assert.equal(replicated!.env.SESSION_STORE, 'replicated')
    assert.equal(cookie!.env.SESSION_STORE, 'cookie')
    for (const strategy of [replicated!, cookie!]) {
      assert.equal(strategy.api, 'stateful')
      assert.equal(strategy.policy, 'round-robin')
    }
    assert.notEqual(replicated!.replicaKind, cookie!.replicaKind)
  })

  it('cookie: the sealed session rides in the cookie jar, not in a header', () => {
    const [cookie] = createStrategies(['cookie'], { central: withRedis })
    assert.deepEqual(cookie!.credentialFrom({ session_id: 'v1.abc' }), {})
    assert.throws(() => cookie!.credentialFrom({}), TypeError)
    assert.ok(cookie!.forgetCodes.has('ERR_UNAUTHENTICATED'), 'a cleared cookie means forgotten')
  })

  it('replicated: refused with ERR_CONFIG when Redis did not answer, and left out of the default', () => {
    assert.throws(
      () => createStrategies(['replicated'], { central: withoutRedis }),
      (err) => isAppError(err, 'ERR_CONFIG') && /does not answer/.test(err.message),
    )
    assert.deepEqual(availableStrategyNames(withRedis), [...STRATEGY_NAMES])
    assert.ok(!availableStrategyNames(withoutRedis).includes('replicated'))
    assert.ok(availableStrategyNames(withoutRedis).includes('cookie'))
  })
})
