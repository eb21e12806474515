// The lab's verdicts, measured on real replicas (child processes) behind the real gateway: seed 001's
// "Real Impact" table, asserted from the result objects (never from timings).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type CrashResult, type CrashRow, runCrash } from '../../../src/lab/experiments/crash.ts'
import { LabEnvironment } from '../../../src/lab/experiments/lab-environment.ts'
import { type RestartRow, runRestart } from '../../../src/lab/experiments/restart.ts'
import { runScale, type ScaleResult, type ScaleRow } from '../../../src/lab/experiments/scale.ts'
import { runScaleDown, type ScaleDownRow } from '../../../src/lab/experiments/scale-down.ts'
import type { StrategyName } from '../../../src/lab/strategies.ts'
import { service } from '../../support/services.ts'

const USERS = 12
const REQUESTS = 15
const STEPS = [1, 3]
const ALL: readonly StrategyName[] = ['jwt', 'memory', 'sticky', 'central']

function rowOf<R extends { readonly strategy: StrategyName }>(rows: readonly R[], name: StrategyName): R {
  const row = rows.find((r) => r.strategy === name)
  assert.ok(row, `no ${name} row`)
  return row
}

/** No login failed, and every step or run made all its requests. */
function assertComplete(row: ScaleRow | CrashRow): void {
  assert.equal(row.loginFailures, 0, `${row.strategy}: logins failed`)
  if ('steps' in row) for (const step of row.steps) assert.equal(step.requests, USERS * REQUESTS)
  else assert.equal(row.requests, USERS * REQUESTS)
}

/** Scale: nobody forgotten at any step, nothing else failed. */
function assertScaleKeepsEveryone(row: ScaleRow): void {
  assertComplete(row)
  for (const step of row.steps) {
    assert.equal(step.forgot, 0, `${row.strategy} on ${step.replicas} replicas refused a user it knew`)
    assert.equal(step.failed, 0, `${row.strategy} on ${step.replicas} replicas: requests failed`)
  }
  assert.deepEqual(row.usersLost, [])
}

/** Crash: zero "forgot you", and with the gateway's failover zero failed GETs. */
function assertCrashKeepsEveryone(row: CrashRow): void {
  assertComplete(row)
  assert.equal(row.sessionsLost, 0, `${row.strategy} forgot users in the crash`)
  assert.equal(row.forgot, 0)
  assert.equal(row.failed, 0, `${row.strategy}: GETs failed although the gateway fails them over`)
  assert.equal(row.recoveredAfterMs, 0)
}

function assertScaleVerdicts(result: ScaleResult, names: readonly StrategyName[]): void {
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
  for (const name of ['jwt', 'sticky', 'central'] as const)
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

function assertCrashVerdicts(result: CrashResult, names: readonly StrategyName[]): void {
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
    // Exactly the users pinned to the killed replica, about a third of them.
    assert.equal(sticky.sessionsLost, sticky.usersOnKilled)
    assert.equal(sticky.lostFromKilled, sticky.usersOnKilled)
    assert.ok(
      sticky.usersOnKilled >= USERS / 6 && sticky.usersOnKilled <= USERS / 2,
      `${sticky.usersOnKilled} of ${USERS} users were on the killed replica`,
    )
    assert.equal(sticky.failed, 0, 'the gateway failed GETs over: a lost user is refused, not failed')
  }
  for (const name of ['jwt', 'central'] as const)
    if (names.includes(name)) assertCrashKeepsEveryone(rowOf(result.rows, name))
}

/** Restart: sessions in memory are gone with the process; jwt and central keep everyone. */
function assertRestartVerdicts(rows: readonly RestartRow[]): void {
  for (const row of rows) {
    assert.equal(row.loginFailures, 0, `${row.strategy}: logins failed`)
    // The users go on while the restart lasts, so at least the requests asked for.
    assert.ok(row.requests >= USERS * REQUESTS, `${row.strategy} made only ${row.requests} requests`)
    assert.deepEqual(row.notRoutedAgain, [], `${row.strategy}: the gateway did not take replicas back`)
  }
  const memory = rowOf(rows, 'memory')
  assert.ok(memory.sessionsLost > USERS / 2, `memory lost only ${memory.sessionsLost} sessions`)
  // Every replica restarts, so every user's sticky replica forgets them.
  const sticky = rowOf(rows, 'sticky')
  assert.equal(sticky.lostBefore, 0, 'sticky forgot users before the restarts')
  assert.equal(sticky.sessionsLost, USERS)
  for (const name of ['jwt', 'central'] as const) {
    const row = rowOf(rows, name)
    assert.equal(row.sessionsLost, 0, `${name} forgot users in the restart`)
    assert.equal(row.forgot, 0)
  }
}

/** Scale-down: sticky loses exactly the users of the removed replica; jwt and central nobody. */
function assertScaleDownVerdicts(rows: readonly ScaleDownRow[]): void {
  for (const row of rows) assert.equal(row.loginFailures, 0, `${row.strategy}: logins failed`)
  const sticky = rowOf(rows, 'sticky')
  assert.equal(sticky.lostBefore, 0, 'sticky forgot users before the removal')
  assert.equal(sticky.lostElsewhere, 0, 'sticky forgot users of the replicas that stayed')
  assert.equal(sticky.sessionsLost, sticky.usersOnAffected)
  assert.ok(sticky.usersOnAffected > 0, 'nobody was on the removed replica')
  for (const name of ['jwt', 'central'] as const) {
    const row = rowOf(rows, name)
    assert.equal(row.sessionsLost, 0, `${name} forgot users in the scale-down`)
    assert.equal(row.forgot, 0)
    assert.equal(row.failed, 0, `${name}: requests failed in a graceful scale-down`)
  }
  assert.ok(rowOf(rows, 'memory').sessionsLost > USERS / 2)
}

describe('lab experiments through the gateway (central store: SQLite)', () => {
  let lab: LabEnvironment | undefined
  after(() => lab?.close())
  before(async () => {
    lab = await LabEnvironment.open({ store: 'sqlite', keepReplicas: true })
    // Replica start-up dominates: every kind at once (memory and sticky share theirs).
    const [jwt, memory, , central] = lab.strategies(ALL)
    await Promise.all([lab.replicas(jwt!, 1), lab.replicas(memory!, 1), lab.replicas(central!, 1)])
  })

  it('scale 1 → 3: memory forgets users; jwt, sticky and central forget nobody', async () => {
    const result = await runScale(lab!, { strategies: ALL, users: USERS, requests: REQUESTS, steps: STEPS })
    assertScaleVerdicts(result, ALL)
  })

  it('crash of 1 of 3: memory loses sessions, sticky only those on the dead replica, jwt and central none', async () => {
    const result = await runCrash(lab!, { strategies: ALL, users: USERS, requests: REQUESTS })
    assert.equal(result.settings.replicas, 3)
    assertCrashVerdicts(result, ALL)
  })

  it('rolling restart of 2: memory and sticky log everyone out, jwt and central nobody', async () => {
    // Two replicas keep it short: each restart is a process start.
    const result = await runRestart(lab!, { strategies: ALL, users: USERS, requests: REQUESTS, replicas: 2 })
    assert.deepEqual(
      result.rows.map((r) => r.restarted.length),
      [2, 2, 2, 2],
    )
    assertRestartVerdicts(result.rows)
  })

  it('scale-down 3 → 2: sticky loses the removed replica’s users, jwt and central nobody', async () => {
    const result = await runScaleDown(lab!, { strategies: ALL, users: USERS, requests: REQUESTS })
    assertScaleDownVerdicts(result.rows)
  })
})

const redis = service('REDIS_URL')

describe('lab experiments with Redis as the central store', { skip: redis.skip }, () => {
  let lab: LabEnvironment | undefined
  after(() => lab?.close())
  before(async () => {
    lab = await LabEnvironment.open({ store: 'redis', redisUrl: redis.url, keepReplicas: true })
  })

  it('central on Redis forgets nobody on scale-out or crash', async () => {
    assert.equal(lab!.central.kind, 'redis')
    const scale = await runScale(lab!, {
      strategies: ['central'],
      users: USERS,
      requests: REQUESTS,
      steps: STEPS,
    })
    assertScaleVerdicts(scale, ['central'])
    const crash = await runCrash(lab!, { strategies: ['central'], users: USERS, requests: REQUESTS })
    assertCrashVerdicts(crash, ['central'])
  })
})
