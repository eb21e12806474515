// `lab compare` on real replicas behind the real gateway, small: every cell of the seeds' tables gets a
// measurement and a verdict, and the verdicts of revocation and memory hold (asserted from the result
// objects, in requests and counts, never in milliseconds).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ASPECTS, type CompareResult, runCompare } from '../../../src/lab/experiments/compare.ts'
import { LabEnvironment } from '../../../src/lab/experiments/lab-environment.ts'
import type { MemoryRow } from '../../../src/lab/experiments/memory.ts'
import type { RevocationRow } from '../../../src/lab/experiments/revocation.ts'
import { availableStrategyNames, type StrategyName } from '../../../src/lab/strategies.ts'
import { service } from '../../support/services.ts'

const USERS = 9
const REQUESTS = 16
const SESSIONS = 60

const redis = service('REDIS_URL')

function revocationRow(result: CompareResult, variant: string): RevocationRow | undefined {
  return result.results.revocation.rows.find((row) => row.variant === variant)
}

function memoryRow(result: CompareResult, name: StrategyName): MemoryRow | undefined {
  return result.results.memory.rows.find((row) => row.strategy === name)
}

describe('lab compare --quick through the gateway', () => {
  let lab: LabEnvironment | undefined
  let result: CompareResult
  let names: StrategyName[]
  after(() => lab?.close())
  before(async () => {
    lab = await LabEnvironment.open({
      store: redis.url ? 'redis' : 'sqlite',
      redisUrl: redis.url,
      keepReplicas: true,
    })
    names = availableStrategyNames(lab.central)
    result = await runCompare(lab, {
      strategies: names,
      users: USERS,
      requests: REQUESTS,
      sessions: SESSIONS,
      quick: true,
    })
  })

  it('fills every cell of the comparison with a measurement and a verdict', () => {
    for (const aspect of ASPECTS)
      for (const strategy of names) {
        const cell = result.cells.find((c) => c.aspect === aspect && c.strategy === strategy)
        assert.ok(cell, `no ${aspect} cell for ${strategy}`)
        assert.notEqual(cell.value, '')
        for (const verdict of cell.verdicts)
          assert.ok(
            verdict.claim.strategies.includes(strategy),
            `${verdict.claim.says} is not about ${strategy}`,
          )
      }
    // Every strategy of seed 003's table has a claim on each of its five rows.
    for (const strategy of ['sticky', 'central', 'jwt'] as const)
      for (const aspect of ['scalability', 'availability', 'latency', 'server memory', 'revocation'] as const)
        assert.ok(
          result.cells.find((c) => c.aspect === aspect && c.strategy === strategy)?.verdicts.length,
          `no seed claim judged for ${strategy} · ${aspect}`,
        )
    assert.equal(result.summary.length, names.length)
  })

  it('memory loses sessions on scale-out and crash, sticky only on the crashed replica, the others none', () => {
    const scale = (name: StrategyName) => result.results.scale.rows.find((r) => r.strategy === name)!
    const crash = (name: StrategyName) => result.results.crash.rows.find((r) => r.strategy === name)!
    assert.ok(scale('memory').usersLost.length > USERS / 2, 'memory kept its users on scale-out')
    assert.ok(crash('memory').sessionsLost > USERS / 2, 'memory kept its users in the crash')
    const sticky = crash('sticky')
    assert.equal(sticky.lostElsewhere, 0)
    assert.equal(sticky.lostBeforeCrash, 0)
    // Its users who had not finished before the crash; nobody else.
    assert.ok(sticky.sessionsLost > 0 && sticky.sessionsLost <= sticky.usersOnKilled, sticky.verdict)
    assert.equal(sticky.lostFromKilled, sticky.sessionsLost)
    for (const name of names.filter((n) => !['memory', 'sticky'].includes(n))) {
      assert.deepEqual(scale(name).usersLost, [], `${name} lost users on scale-out`)
      assert.equal(crash(name).sessionsLost, 0, `${name} lost users in the crash`)
    }
    assert.equal(
      result.cells.find((c) => c.aspect === 'availability' && c.strategy === 'memory')?.verdict,
      'matches',
      'seed 001 says memory loses every session in a crash',
    )
  })

  it('revocation: sessions refused at once; jwt without denylist and sealed cookies only at expiry', () => {
    const immediate = ['sticky', 'central', 'central + cache', 'jwt + denylist', 'jwt + token version']
    for (const variant of immediate) {
      const row = revocationRow(result, variant)
      if (!row) continue // central + cache needs Redis
      assert.equal(row.loginFailures, 0, `${variant}: logins failed`)
      assert.equal(row.acceptedAfterLogout, 0, `${variant} accepted an old credential after the logout`)
      assert.equal(row.outcome, 'immediate')
    }
    for (const variant of ['jwt', 'cookie']) {
      const row = revocationRow(result, variant)
      if (!row) continue
      assert.ok(row.acceptedAfterLogout > 0, `${variant}: the saved credential stopped working before expiry`)
      assert.equal(row.outcome, 'expiry', `${variant}: ${row.verdict}`)
      assert.equal(row.usersStillAccepted, 0, `${variant}: still accepted after it expired`)
    }
    const replicated = revocationRow(result, 'replicated')
    if (replicated) {
      // The broadcast may trail the logout's reply by a replay per user at most, never until the end.
      assert.ok(replicated.acceptedAfterLogout <= replicated.users, replicated.verdict)
      assert.equal(replicated.usersStillAccepted, 0)
    }
    // Without affinity a logout lands on any replica: each that missed the session's replica leaves it alive.
    const memory = revocationRow(result, 'memory')!
    assert.equal(memory.usersStillAccepted, memory.logouts.refused, memory.verdict)
    assert.equal(memory.outcome === 'never', memory.logouts.refused > 0)
  })

  it('memory: replicated holds every session on every replica, memory one copy, tokens none', () => {
    const replicas = result.results.memory.settings.replicas
    assert.equal(memoryRow(result, 'memory')!.copiesPerSession, 1)
    assert.equal(memoryRow(result, 'sticky')!.copiesPerSession, 1)
    assert.equal(memoryRow(result, 'jwt')!.copiesPerSession, 0)
    const replicated = memoryRow(result, 'replicated')
    if (replicated) assert.equal(replicated.copiesPerSession, replicas)
    const central = memoryRow(result, 'central')!
    assert.ok(central.store && central.store.bytesPerSession > 0, 'the central store did not grow')
    const jwt = memoryRow(result, 'jwt')!
    assert.ok(
      jwt.credentialBytes > 2 * memoryRow(result, 'memory')!.credentialBytes,
      'a JWT is not bigger than a session id',
    )
    for (const row of result.results.memory.rows)
      assert.equal(row.sessions, SESSIONS, `${row.strategy}: logins failed`)
  })
})
