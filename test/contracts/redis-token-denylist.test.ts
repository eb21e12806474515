import { after, before, describe } from 'node:test'
import { createClient, type RedisClientType } from 'redis'
import { RedisTokenDenylist } from '../../src/stores/redis/index.ts'
import { service, uniqueName } from '../support/services.ts'
import { runTokenDenylistContract } from './token-denylist.contract.ts'

const redis = service('REDIS_URL')

describe('RedisTokenDenylist', { skip: redis.skip }, () => {
  let client: RedisClientType
  before(async () => {
    client = createClient({ url: redis.url })
    client.on('error', () => {})
    await client.connect()
  })
  after(() => client?.close())

  runTokenDenylistContract('redis', {
    open: async (clock) => {
      const prefix = uniqueName('statelab_test')
      const denylist = new RedisTokenDenylist({ client, clock, prefix })
      return Object.assign(denylist, {
        async close() {
          for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
            if (keys.length > 0) await client.unlink(keys)
          }
        },
      })
    },
  })
})
