import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createCluster, type RedisClusterType } from 'redis'
import { FakeClock } from '../../../src/core/clock.ts'
import { createSession, newSessionToken } from '../../../src/core/sessions/session.ts'
import { RedisSessionStore } from '../../../src/stores/redis/index.ts'
import { runSessionStoreContract } from '../../contracts/session-store.contract.ts'
import { type RedisClusterFixture, redisBinariesSkip, startCluster } from '../../support/redis-server.ts'
import { uniqueName } from '../../support/services.ts'

const skip = redisBinariesSkip()

describe('RedisSessionStore on a 3-master Redis Cluster', { skip }, () => {
  let cluster: RedisClusterFixture | undefined
  let client: RedisClusterType | undefined
  after(async () => {
    await client?.close()
    await cluster?.stop()
  })
  before(async () => {
    cluster = await startCluster(3)
    client = createCluster({
      rootNodes: cluster.nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
    })
    client.on('error', () => {})
    await client.connect()
  })

  // The cluster is private and dies with the suite, so stores need no cleanup of their own.
  runSessionStoreContract('redis cluster', {
    open: async (clock) => new RedisSessionStore({ client: client!, clock, prefix: uniqueName('statelab') }),
  })

  it("spreads one user's sessions over several masters and still lists and revokes them", async () => {
    const clock = new FakeClock(Date.now())
    const prefix = uniqueName('statelab')
    const store = new RedisSessionStore({ client: client!, clock, prefix })
    const user = { id: 'user-cluster', username: 'cluster' }
    const policy = { idleTimeoutMs: 60_000, absoluteTimeoutMs: 3_600_000 }
    const sessions = Array.from({ length: 24 }, () =>
      createSession(newSessionToken().id, user, clock.now(), policy),
    )
    await Promise.all(sessions.map((session) => store.create(session)))

    const owners = new Set<string>()
    for (const master of client!.masters) {
      const node = await client!.nodeClient(master)
      for await (const keys of node.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
        if (keys.length > 0) owners.add(master.id)
      }
    }
    assert.ok(owners.size > 1, 'all sessions landed on one master: the test proves nothing')

    assert.equal((await store.listByUser(user.id)).length, sessions.length)
    assert.equal(await store.destroyByUser(user.id, sessions[0]!.id), sessions.length - 1)
    assert.deepEqual(
      (await store.listByUser(user.id)).map((s) => s.id),
      [sessions[0]!.id],
    )
  })
})
