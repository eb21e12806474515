// The lab's verdicts (seed 001's "Real Impact" table) as assertions on experiment results, shared by the
// tests that run the experiments through the built-in gateway and through HAProxy and nginx.
import assert from 'node:assert/strict'
import type { CrashResult, CrashRow } from '../../src/lab/experiments/crash.ts'
import type { ScaleResult, ScaleRow } from '../../src/lab/experiments/scale.ts'
import type { StrategyName } from '../../src/lab/strategies.ts'

/** Users and requests per user of every verdict test: few, so that a run takes seconds. */
export const USERS = 12
export const REQUESTS = 15
/** Scale-out steps: users log in on one replica, then there are three. */
export const STEPS = [1, 3]

export function rowOf<R extends { readonly strategy: StrategyName }>(
  rows: readonly R[],
  name: StrategyName,
): R {
  const row = rows.find((r) => r.strategy === name)
  assert.ok(row, `no ${name} row`)
  return row
}

/** No login failed, and every step or run made all its requests. */
export function assertComplete(row: ScaleRow | CrashRow): void {
  assert.equal(row.loginFailures, 0, `${row.strategy}: logins failed`)
  if ('steps' in row) for (const step of row.steps) assert.equal(step.requests, USERS * REQUESTS)
  else assert.equal(row.requests, USERS * REQUESTS)
}

/** Scale: nobody forgotten at any step, nothing else failed. */
export function assertScaleKeepsEveryone(row: ScaleRow): void {
  assertComplete(row)
  for (const step of row.steps) {
    assert.equal(step.forgot, 0, `${row.strategy} on ${step.replicas} replicas refused a user it knew`)
    assert.equal(step.failed, 0, `${row.strategy} on ${step.replicas} replicas: requests failed`)
  }
  assert.deepEqual(row.usersLost, [])
}

/** Crash: zero "forgot you", and with the gateway's failover zero failed GETs. */
export function assertCrashKeepsEveryone(row: CrashRow): void {
  assertComplete(row)
  assert.equal(row.sessionsLost, 0, `${row.strategy} forgot users in the crash`)
  assert.equal(row.forgot, 0)
  assert.equal(row.failed, 0, `${row.strategy}: GETs failed although the gateway fails them over`)
  assert.equal(row.recoveredAfterMs, 0)
}

export function assertScaleVerdicts(result: ScaleResult, names: readonly StrategyName[]): void {
  assert.deepEqual(
    result.rows.map((r) => r.strategy),
    names,
  )
  for (const row of result.rows)
    assert.deepEqual(
      row.steps.map((s) => s.replicas),
      STEPS,
    )
  if (names.includes('memory')) {
    const memory = rowOf(result.rows, 'memory')
    assertComplete(memory)
    const [one, three] = memory.steps
    assert.equal(one!.forgot, 0, 'one replica knows everyone it logged in')
    // Round-robin over 3 replicas that each know only their own logins: about 2 requests in 3 refused.
    assert.ok(three!.forgotPercent > 40, `memory refused only ${three!.forgotPercent}% after scale-out`)
    assert.ok(memory.usersLost.length > USERS / 2, `memory lost only ${memory.usersLost.length} users`)
    assert.equal(three!.failed, 0)
  }
  for (const name of ['jwt', 'sticky', 'central', 'replicated', 'cookie'] as const)
    if (names.includes(name)) assertScaleKeepsEveryone(rowOf(result.rows, name))
  if (names.includes('sticky')) {
    // Pinned to the replica they logged in on: the new replicas take none of their load (the skew).
    const three = rowOf(result.rows, 'sticky').steps[1]!
    assert.equal(Math.max(...three.share.map((s) => s.percent)), 100)
  }
  if (names.includes('jwt')) {
    // Any replica can check a token: the load spreads over the new replicas.
    const three = rowOf(result.rows, 'jwt').steps[1]!
    assert.ok(three.share.filter((s) => s.requests > 0).length === 3, 'jwt load did not spread')
  }
}

export function assertCrashVerdicts(result: CrashResult, names: readonly StrategyName[]): void {
  assert.deepEqual(
    result.rows.map((r) => r.strategy),
    names,
  )
  if (names.includes('memory')) {
    const memory = rowOf(result.rows, 'memory')
    assertComplete(memory)
    assert.ok(memory.sessionsLost > USERS / 2, `memory lost only ${memory.sessionsLost} sessions`)
    assert.equal(memory.recoveredAfterMs, null)
  }
  if (names.includes('sticky')) {
    const sticky = rowOf(result.rows, 'sticky')
    assertComplete(sticky)
    assert.equal(sticky.lostBeforeCrash, 0, 'sticky forgot users before the crash')
    assert.equal(sticky.lostElsewhere, 0, 'sticky forgot users of the replicas that stayed up')
    // Exactly the users pinned to the killed replica: some of them, not all (a third with the built-in
    // gateway's and HAProxy's cookie; with nginx's hash of random cookies anywhere from a few to over half).
    assert.equal(sticky.sessionsLost, sticky.usersOnKilled)
    assert.equal(sticky.lostFromKilled, sticky.usersOnKilled)
    assert.ok(
      sticky.usersOnKilled > 0 && sticky.usersOnKilled < USERS,
      `${sticky.usersOnKilled} of ${USERS} users were on the killed replica`,
    )
    assert.equal(sticky.failed, 0, 'the gateway failed GETs over: a lost user is refused, not failed')
  }
  for (const name of ['jwt', 'central', 'replicated', 'cookie'] as const)
    if (names.includes(name)) assertCrashKeepsEveryone(rowOf(result.rows, name))
}
