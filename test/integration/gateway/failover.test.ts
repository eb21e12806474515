import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { type GatewayOptions, type PolicyName, startGateway } from '../../../src/gateway/index.ts'
import { assertFetchError } from '../../support/http.ts'
import { cookieValue, fetchJson, TestBackend, waitFor } from './backends.ts'

/** Backends and a one-pool gateway at `/api`, all closed when the test ends. */
async function setUp(
  t: TestContext,
  policy: PolicyName,
  names: string[],
  options: Partial<GatewayOptions> = {},
) {
  const backends = names.map((name) => new TestBackend(name))
  t.after(() => Promise.all(backends.map((b) => b.kill())))
  await Promise.all(backends.map((b) => b.listen()))
  const gateway = await startGateway({
    port: 0,
    pools: { api: { prefix: '/api', backends: backends.map((b) => b.url), policy } },
    healthCheck: false,
    ...options,
  })
  t.after(() => gateway.close())
  return { gateway, backends }
}

describe('failover', () => {
  it('GETs keep succeeding when a backend is killed under load: zero failures', async (t) => {
    const { gateway, backends } = await setUp(t, 'round-robin', ['a', 'b', 'c'])
    const [a] = backends
    let done = 0
    const statuses: number[] = []
    const worker = async () => {
      while (done < 150) {
        done++
        if (done === 40) await a!.kill()
        const res = await fetch(`${gateway.url}/api/items?n=${done}`)
        await res.arrayBuffer()
        statuses.push(res.status)
      }
    }
    await Promise.all(Array.from({ length: 6 }, worker))
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
    )
    assert.ok(
      gateway.stats().api!.find((s) => s.url === a!.url)!.healthy === false,
      'passive detection took it out',
    )
  })

  it('a GET in flight on a backend that dies is replayed on another', async (t) => {
    const { gateway, backends } = await setUp(t, 'round-robin', ['a', 'b'])
    const [a, b] = backends
    const pending = fetchJson(`${gateway.url}/api/hold`)
    await waitFor('a to hold the first request', () => a!.held === 1)
    await a!.kill()
    await waitFor('b to get the replayed request', () => b!.held === 1)
    b!.releaseHeld()
    const res = await pending
    assert.equal(res.status, 200)
    assert.equal(res.body.name, 'b')
  })

  it('a PUT whose backend refuses is replayed elsewhere with the same body', async (t) => {
    const { gateway, backends } = await setUp(t, 'round-robin', ['a', 'b'])
    const [a] = backends
    await a!.kill()
    for (let i = 0; i < 2; i++) {
      const res = await fetchJson(`${gateway.url}/api/users/me/password`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: `{"n":${i}}`,
      })
      assert.equal(res.status, 200)
      assert.equal(res.body.name, 'b')
      assert.equal(res.body.body, `{"n":${i}}`)
    }
  })

  it('a POST to a dead backend is not replayed: 502, and the other backend never sees it', async (t) => {
    const { gateway, backends } = await setUp(t, 'sticky', ['a', 'b'])
    const first = await fetchJson(`${gateway.url}/api/login`)
    const lb = cookieValue(first.headers.getSetCookie(), 'statelab_lb')!
    const pinned = backends.find((b) => b.name === first.body.name)!
    const other = backends.find((b) => b !== pinned)!
    await pinned.kill()

    const post = await fetch(`${gateway.url}/api/calc`, {
      method: 'POST',
      headers: { cookie: `statelab_lb=${lb}`, 'content-type': 'application/json' },
      body: '{"op":"add","values":[1,2]}',
    })
    const message = await assertFetchError(post, 502, 'ERR_BAD_GATEWAY')
    assert.match(message, /ECONNREFUSED.*POST is not retried/)
    assert.deepEqual(
      other.requests.filter((r) => r.method === 'POST'),
      [],
    )

    // A GET with the same cookie is re-picked to the live backend, and the cookie follows it.
    const get = await fetchJson(`${gateway.url}/api/files`, { headers: { cookie: `statelab_lb=${lb}` } })
    assert.equal(get.status, 200)
    assert.equal(get.body.name, other.name)
    const moved = cookieValue(get.headers.getSetCookie(), 'statelab_lb')
    assert.ok(moved && moved !== lb, 'the affinity cookie is reset to the new backend')
    const headers = { cookie: `statelab_lb=${moved}` }
    for (let i = 0; i < 5; i++) {
      const again = await fetchJson(`${gateway.url}/api/files`, { headers })
      assert.equal(again.body.name, other.name)
    }
  })

  it('a POST in flight on a backend that dies fails with 502 and is not replayed', async (t) => {
    const { gateway, backends } = await setUp(t, 'round-robin', ['a', 'b'])
    const [a, b] = backends
    const pending = fetch(`${gateway.url}/api/hold`, { method: 'POST', body: 'once only' })
    await waitFor('a to hold the POST', () => a!.held === 1)
    await a!.kill()
    await assertFetchError(await pending, 502, 'ERR_BAD_GATEWAY')
    assert.equal(b!.requests.length, 0)
  })

  it('every backend refusing a GET ends in 502 ERR_BAD_GATEWAY; none left in the pool, 503', async (t) => {
    const { gateway, backends } = await setUp(t, 'round-robin', ['a', 'b'], { passive: false })
    await Promise.all(backends.map((b) => b.kill()))
    const message = await assertFetchError(await fetch(`${gateway.url}/api/x`), 502, 'ERR_BAD_GATEWAY')
    assert.match(message, /no other backend is available/)
    gateway.setBackends('api', [])
    await assertFetchError(await fetch(`${gateway.url}/api/x`), 503, 'ERR_NO_BACKEND')
  })

  it('a backend that does not answer in time gives 504 ERR_GATEWAY_TIMEOUT, and is not replayed', async (t) => {
    const { gateway, backends } = await setUp(t, 'round-robin', ['a', 'b'], { upstreamTimeoutMs: 150 })
    const [a, b] = backends
    await assertFetchError(await fetch(`${gateway.url}/api/hold`), 504, 'ERR_GATEWAY_TIMEOUT')
    assert.equal(a!.held, 1)
    assert.equal(b!.requests.length, 0)
    a!.releaseHeld()
  })
})
