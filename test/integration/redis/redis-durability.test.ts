import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createClient } from 'redis'
import { FakeClock } from '../../../src/core/clock.ts'
import { createSession, newSessionToken } from '../../../src/core/sessions/session.ts'
import { RedisSessionStore } from '../../../src/stores/redis/index.ts'
import { type RedisServer, redisBinariesSkip, startRedisServer } from '../../support/redis-server.ts'

const SESSIONS = 2000
const BATCH = 500
const policy = { idleTimeoutMs: 10 * 60_000, absoluteTimeoutMs: 3_600_000 }

/** A store on its own client; `close` destroys the client, which may already have lost its server. */
async function openStore(server: RedisServer, clock: FakeClock) {
  const client = createClient({ url: server.url, socket: { reconnectStrategy: false } })
  client.on('error', () => {})
  await client.connect()
  return {
    store: new RedisSessionStore({ client, clock }),
    close: () => {
      if (client.isOpen) client.destroy()
    },
  }
}

// Measures what an append-only file keeps when the Redis *process* dies (SIGKILL). The kernel still holds
// what Redis wrote, so this is a process crash, not a power cut: `everysec` may lose up to ~1 s more there.
describe('Redis durability: sessions acknowledged before a SIGKILL', { skip: redisBinariesSkip() }, () => {
  for (const mode of ['everysec', 'always'] as const) {
    it(`appendfsync ${mode}`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), `statelab-aof-${mode}-`))
      t.after(() => rmSync(dir, { recursive: true, force: true }))
      const args = ['--appendonly', 'yes', '--appendfsync', mode]
      let server = await startRedisServer({ dir, args })
      t.after(() => server.stop())
      const clock = new FakeClock(Date.now())

      const before = await openStore(server, clock)
      t.after(before.close)
      const acknowledged: string[] = []
      const started = performance.now()
      for (let i = 0; i < SESSIONS; i += BATCH) {
        const batch = Array.from({ length: Math.min(BATCH, SESSIONS - i) }, (_, j) =>
          createSession(
            newSessionToken().id,
            { id: `user-${(i + j) % 50}`, username: 'u' },
            clock.now(),
            policy,
          ),
        )
        await Promise.all(
          batch.map(async (session) => {
            await before.store.create(session)
            acknowledged.push(session.id)
          }),
        )
      }
      const writeMs = performance.now() - started
      await server.kill()
      before.close()

      server = await startRedisServer({ port: server.port, dir, args })
      const after = await openStore(server, clock)
      t.after(after.close)
      const found = await Promise.all(acknowledged.map((id) => after.store.get(id)))
      const survived = found.filter((session) => session !== undefined).length
      const lost = acknowledged.length - survived
      console.log(
        `durability: appendfsync=${mode} acknowledged=${acknowledged.length} survived=${survived} lost=${lost}` +
          ` (writes took ${writeMs.toFixed(0)} ms, ${Math.round((acknowledged.length / writeMs) * 1000)} sessions/s)`,
      )

      assert.equal(acknowledged.length, SESSIONS)
      // `always` fsyncs before it answers, so nothing acknowledged may be lost. `everysec` is only reported.
      if (mode === 'always') assert.equal(lost, 0)
      else assert.ok(survived >= 0)
    })
  }
})
