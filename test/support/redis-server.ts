import { execFile, spawnSync } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import {
  freePort,
  REDIS_HOST,
  type RedisServer,
  redisCommand,
  startRedisServer,
} from '../../bench/lib/redis-server.ts'

// The starter lives with the benchmarks, which run a private Redis too; tests import it from here.
export { type RedisServer, startRedisServer }

export interface RedisClusterFixture {
  readonly nodes: readonly { readonly host: string; readonly port: number }[]
  readonly servers: readonly RedisServer[]
  stop(): Promise<void>
}

/**
 * Why tests that spawn Redis cannot run here, or false when they can. With `STATELAB_REQUIRE_SERVICES=1`
 * missing binaries are an error, never a skip.
 */
export function redisBinariesSkip(): string | false {
  const missing = ['redis-server', 'redis-cli'].filter(
    (bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).error !== undefined,
  )
  if (missing.length === 0) return false
  const reason = `${missing.join(' and ')} not found on PATH (e.g. apt-get install redis-server)`
  if (process.env.STATELAB_REQUIRE_SERVICES === '1') {
    throw new Error(`${reason}, and STATELAB_REQUIRE_SERVICES=1 says this run must test against it`)
  }
  return reason
}

/**
 * A Redis Cluster of `masters` primaries and no replicas, every slot assigned, `cluster_state:ok` on all nodes.
 * Each node's bus port is picked free too (`--cluster-port`), so nothing assumes port + 10000 is available.
 */
export async function startCluster(masters = 3): Promise<RedisClusterFixture> {
  const servers: RedisServer[] = []
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
  }
  try {
    for (let i = 0; i < masters; i++) {
      const busPort = await freePort()
      const port = await freePort()
      servers.push(
        await startRedisServer({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-port',
            String(busPort),
            '--cluster-node-timeout',
            '5000',
            '--appendonly',
            'no',
          ],
        }),
      )
    }
    await promisify(execFile)(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...servers.map((server) => `${REDIS_HOST}:${server.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 20_000 },
    )
    const deadline = Date.now() + 10_000
    for (const server of servers) {
      while (!(await redisCommand(server.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline)
          throw new Error(`cluster node ${server.port} never reached cluster_state:ok`)
        await sleep(50)
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes: servers.map(({ host, port }) => ({ host, port })), servers, stop }
}
