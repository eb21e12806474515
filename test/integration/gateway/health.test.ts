import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { FakeClock } from '../../../src/core/clock.ts'
import { type GatewayOptions, startGateway } from '../../../src/gateway/index.ts'
import { fetchJson, TestBackend, waitFor } from './backends.ts'

async function setUp(t: TestContext, options: Partial<GatewayOptions>) {
  const backends = ['a', 'b'].map((name) => new TestBackend(name))
  t.after(() => Promise.all(backends.map((b) => b.kill())))
  await Promise.all(backends.map((b) => b.listen()))
  const gateway = await startGateway({
    port: 0,
    pools: { api: { prefix: '/api', backends: backends.map((b) => b.url), policy: 'round-robin' } },
    ...options,
  })
  t.after(() => gateway.close())
  const state = (backend: TestBackend) => gateway.stats().api!.find((s) => s.url === backend.url)!
  return { gateway, a: backends[0]!, b: backends[1]!, state }
}

const healthChecks = (backend: TestBackend) => backend.received.filter((r) => r.url === '/health').length

describe('health', () => {
  it('passive detection takes a backend out after N failures; only an active check brings it back', async (t) => {
    const clock = new FakeClock(Date.now())
    const { gateway, a, b, state } = await setUp(t, {
      clock,
      passive: { failures: 3, cooldownMs: 10_000 },
      healthCheck: { intervalMs: 20, timeoutMs: 500, path: '/health' },
    })
    a.status = 500 // its /health still answers 200: only passive detection can notice
    const statuses: number[] = []
    while (a.requests.length < 3) statuses.push((await fetch(`${gateway.url}/api/x`)).status)
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [500, 500, 500],
      '5xx answers are passed on, not replayed',
    )
    assert.deepEqual({ healthy: state(a).healthy, down: state(a).down }, { healthy: false, down: 'passive' })

    for (let i = 0; i < 10; i++) assert.equal((await fetchJson(`${gateway.url}/api/x`)).body.name, 'b')
    assert.equal(a.requests.length, 3, 'no request reaches it during the cooldown')
    const checks = healthChecks(a)
    await waitFor('two more successful health checks of a', () => healthChecks(a) >= checks + 2)
    assert.equal(state(a).healthy, false, 'checks that passed during the cooldown do not count')

    a.status = 200
    a.healthStatus = 503
    clock.advance(10_000)
    const after = healthChecks(a)
    await waitFor('a failed health check after the cooldown', () => healthChecks(a) >= after + 2)
    assert.equal(state(a).down, 'check', 'past the cooldown, a failing check keeps it out')

    a.healthStatus = 200
    await waitFor('a back in the pool', () => state(a).healthy)
    const names = new Set<string>()
    for (let i = 0; i < 4; i++) names.add((await fetchJson(`${gateway.url}/api/x`)).body.name)
    assert.deepEqual([...names].sort(), ['a', 'b'])
    assert.ok(b.requests.length > 0)
  })

  it('active checks take a killed backend out before any request fails, and bring it back on restart', async (t) => {
    const { gateway, a, state } = await setUp(t, {
      passive: false,
      healthCheck: { intervalMs: 20, timeoutMs: 500 },
    })
    await a.kill()
    await waitFor('a marked down by its health check', () => state(a).down === 'check')
    assert.match(state(a).lastError!, /ECONNREFUSED/)
    for (let i = 0; i < 6; i++) assert.equal((await fetchJson(`${gateway.url}/api/x`)).body.name, 'b')
    assert.equal(state(a).requests, 0, 'no request was even tried on it')

    await a.restart()
    await waitFor('a healthy again', () => state(a).healthy)
    const names = new Set<string>()
    for (let i = 0; i < 4; i++) names.add((await fetchJson(`${gateway.url}/api/x`)).body.name)
    assert.deepEqual([...names].sort(), ['a', 'b'])
  })

  it('a failing health endpoint takes a live backend out, a passing one brings it back', async (t) => {
    const { a, state } = await setUp(t, { healthCheck: { intervalMs: 20, timeoutMs: 500 } })
    a.healthStatus = 503
    await waitFor('a down', () => state(a).down === 'check')
    assert.match(state(a).lastError!, /answered 503/)
    a.healthStatus = 200
    await waitFor('a up', () => state(a).healthy)
  })

  it('without active checks, the cooldown alone brings a backend back', async (t) => {
    const clock = new FakeClock(Date.now())
    const { gateway, a, state } = await setUp(t, {
      clock,
      healthCheck: false,
      passive: { failures: 2, cooldownMs: 5000 },
    })
    await a.kill()
    // Connection errors count too; each failed GET is replayed on b, so the client sees no error.
    for (let i = 0; i < 4; i++) assert.equal((await fetch(`${gateway.url}/api/x`)).status, 200)
    assert.equal(state(a).down, 'passive')
    await a.restart()
    clock.advance(4999)
    assert.equal(state(a).healthy, false)
    clock.advance(1)
    assert.equal(state(a).healthy, true)
  })
})
