// The lab's verdicts, measured on real replicas (child processes) behind the real gateway: seed 001's
// "Real Impact" table, asserted from the result objects (never from timings).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { runCrash } from '../../../src/lab/experiments/crash.ts'
import { LabEnvironment } from '../../../src/lab/experiments/lab-environment.ts'
import { type RestartRow, runRestart } from '../../../src/lab/experiments/restart.ts'
import { runScale } from '../../../src/lab/experiments/scale.ts'
import { runScaleDown, type ScaleDownRow } from '../../../src/lab/experiments/scale-down.ts'
import type { StrategyName } from '../../../src/lab/strategies.ts'
import {
  assertCrashVerdicts,
  assertScaleVerdicts,
  REQUESTS,
  rowOf,
  STEPS,
  USERS,
} from '../../support/lab-verdicts.ts'
import { service } from '../../support/services.ts'

const ALL: readonly StrategyName[] = ['jwt', 'memory', 'sticky', 'central']

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

  it('cookie (sessions sealed in the client) forgets nobody on scale-out, crash or restart', async () => {
    await assertKeepsEveryone(lab!, ['cookie'])
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

  it('replicated forgets nobody on scale-out, crash or restart: new replicas copy their peers first', async () => {
    await assertKeepsEveryone(lab!, ['replicated'])
  })
})

/** Scale 1 → 3, a crash of 1 of 3 and a rolling restart of 2: nobody forgotten, no GET failed. */
async function assertKeepsEveryone(lab: LabEnvironment, names: readonly StrategyName[]): Promise<void> {
  const scale = await runScale(lab, { strategies: names, users: USERS, requests: REQUESTS, steps: STEPS })
  assertScaleVerdicts(scale, names)
  const crash = await runCrash(lab, { strategies: names, users: USERS, requests: REQUESTS })
  assertCrashVerdicts(crash, names)
  const restart = await runRestart(lab, { strategies: names, users: USERS, requests: REQUESTS, replicas: 2 })
  for (const row of restart.rows) {
    assert.equal(row.loginFailures, 0, `${row.strategy}: logins failed`)
    assert.equal(row.sessionsLost, 0, `${row.strategy} forgot users in the restart`)
    assert.equal(row.forgot, 0)
  }
}
