import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { type BackendStats, type GatewayOptions, startGateway } from '../../../src/gateway/index.ts'
import { assertFetchError } from '../../support/http.ts'
import { fetchJson, TestBackend, waitFor } from './backends.ts'

interface PoolView {
  prefix: string
  policy: string
  backends: BackendStats[]
}

async function setUp(t: TestContext, names: string[], options: Partial<GatewayOptions> = {}) {
  const backends = names.map((name) => new TestBackend(name))
  t.after(() => Promise.all(backends.map((b) => b.kill())))
  await Promise.all(backends.map((b) => b.listen()))
  const gateway = await startGateway({
    port: 0,
    pools: {
      stateless: { prefix: '/api/stateless', backends: [backends[0]!.url], policy: 'round-robin' },
      stateful: { prefix: '/api/stateful', backends: [backends[0]!.url, backends[1]!.url], policy: 'sticky' },
    },
    healthCheck: { intervalMs: 1000, timeoutMs: 500 },
    ...options,
  })
  t.after(() => gateway.close())
  const admin = (path: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/_gateway${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  return { gateway, backends, admin }
}

const json = async <T>(res: Response | Promise<Response>, status = 200): Promise<T> => {
  const r = await res
  const text = await r.text()
  assert.equal(r.status, status, text)
  return JSON.parse(text) as T
}

describe('admin API under /_gateway/', () => {
  it('GET /pools lists every pool with its backends, health and counters', async (t) => {
    const { gateway, backends, admin } = await setUp(t, ['a', 'b'])
    await fetchJson(`${gateway.url}/api/stateless/x`)
    const { pools } = await json<{ pools: Record<string, PoolView> }>(admin('/pools'))
    assert.deepEqual(Object.keys(pools), ['stateless', 'stateful'])
    assert.equal(pools.stateless!.prefix, '/api/stateless')
    assert.equal(pools.stateful!.policy, 'sticky')
    const [a] = pools.stateless!.backends
    assert.deepEqual(
      { url: a!.url, requests: a!.requests, active: a!.active, healthy: a!.healthy, draining: a!.draining },
      { url: backends[0]!.url, requests: 1, active: 0, healthy: true, draining: false },
    )
    assert.match(a!.id, /^[\w-]{12}$/)
    const one = await json<PoolView>(admin('/pools/stateful'))
    assert.equal(one.backends.length, 2)
    await assertFetchError(await admin('/pools/nope'), 404, 'ERR_NOT_FOUND')
  })

  it('PUT /pools/:pool replaces the backends: traffic moves, bad input is refused', async (t) => {
    const { gateway, backends, admin } = await setUp(t, ['a', 'b', 'c'])
    const [, b, c] = backends
    const view = await json<PoolView>(admin('/pools/stateless', 'PUT', { backends: [`${b!.url}/`, c!.url] }))
    assert.deepEqual(
      view.backends.map((s) => [s.url, s.healthy]),
      [
        [b!.url, true],
        [c!.url, true],
      ],
    )
    const names = new Set<string>()
    for (let i = 0; i < 6; i++) names.add((await fetchJson(`${gateway.url}/api/stateless/x`)).body.name)
    assert.deepEqual([...names].sort(), ['b', 'c'])

    await assertFetchError(
      await admin('/pools/stateless', 'PUT', { backends: ['not a url'] }),
      400,
      'ERR_VALIDATION',
    )
    await assertFetchError(
      await admin('/pools/stateless', 'PUT', { backends: [b!.url, `${b!.url}/`] }),
      400,
      'ERR_VALIDATION',
    )
    await assertFetchError(await admin('/pools/stateless', 'PUT', { backend: b!.url }), 400, 'ERR_VALIDATION')
    await assertFetchError(await admin('/pools/nope', 'PUT', { backends: [] }), 404, 'ERR_NOT_FOUND')
    assert.equal(
      (await json<PoolView>(admin('/pools/stateless'))).backends.length,
      2,
      'unchanged by refusals',
    )

    const empty = await json<PoolView>(admin('/pools/stateless', 'PUT', { backends: [] }))
    assert.deepEqual(empty.backends, [])
    await assertFetchError(await fetch(`${gateway.url}/api/stateless/x`), 503, 'ERR_NO_BACKEND')
  })

  it('POST /pools/:pool/drain stops new requests at once and answers when in-flight ones are done', async (t) => {
    const { gateway, backends, admin } = await setUp(t, ['a', 'b'], {
      pools: {
        api: { prefix: '/api', backends: [], policy: 'round-robin' },
      },
    })
    const [a, b] = backends
    gateway.setBackends('api', [a!.url, b!.url])
    const held = fetchJson(`${gateway.url}/api/hold`)
    await waitFor('a to hold a request', () => a!.held === 1)

    let drained = false
    const drain = json<{ drained: string; backends: BackendStats[] }>(
      admin('/pools/api/drain', 'POST', { backend: a!.url }),
    ).then((body) => {
      drained = true
      return body
    })
    await waitFor('a marked draining', () => gateway.stats().api![0]!.draining)
    for (let i = 0; i < 6; i++) assert.equal((await fetchJson(`${gateway.url}/api/x`)).body.name, 'b')
    assert.equal(drained, false, 'the drain waits for the held request')
    assert.equal(gateway.stats().api![0]!.active, 1)

    a!.releaseHeld()
    assert.equal((await held).body.name, 'a', 'the in-flight request finishes on the draining backend')
    const body = await drain
    assert.equal(body.drained, a!.url)
    assert.deepEqual(
      body.backends.map((s) => [s.draining, s.active]),
      [
        [true, 0],
        [false, 0],
      ],
    )

    // Listing it again puts it back.
    await json(admin('/pools/api', 'PUT', { backends: [a!.url, b!.url] }))
    const names = new Set<string>()
    for (let i = 0; i < 4; i++) names.add((await fetchJson(`${gateway.url}/api/x`)).body.name)
    assert.deepEqual([...names].sort(), ['a', 'b'])
    await assertFetchError(
      await admin('/pools/api/drain', 'POST', { backend: 'http://127.0.0.1:1' }),
      404,
      'ERR_NOT_FOUND',
    )
  })

  it('drain() in code resolves at once for an idle backend, and sticky clients on it move', async (t) => {
    const { gateway, backends } = await setUp(t, ['a', 'b'])
    const first = await fetchJson(`${gateway.url}/api/stateful/x`)
    const cookie = first.headers.getSetCookie()[0]!.split(';')[0]!
    const mine = backends.find((b) => b.name === first.body.name)!
    await gateway.drain('stateful', mine.url)
    const moved = await fetchJson(`${gateway.url}/api/stateful/x`, { headers: { cookie } })
    assert.notEqual(moved.body.name, mine.name, 'draining is strict: sticky clients are re-picked too')
    assert.ok(moved.headers.getSetCookie()[0]?.startsWith('statelab_lb='))
    assert.throws(() => gateway.setBackends('nope', []), /unknown pool "nope"/)
  })

  it('with a token, every admin request needs it; with admin: false there is no admin API', async (t) => {
    const { admin } = await setUp(t, ['a', 'b'], { admin: { token: 's3cret-token' } })
    await assertFetchError(await admin('/pools'), 401, 'ERR_UNAUTHENTICATED')
    await assertFetchError(
      await admin('/pools', 'GET', undefined, { authorization: 'Bearer wrong' }),
      401,
      'ERR_UNAUTHENTICATED',
    )
    await json(admin('/pools', 'GET', undefined, { authorization: 'Bearer s3cret-token' }))

    const closed = await setUp(t, ['c', 'd'], { admin: false })
    await assertFetchError(await closed.admin('/pools'), 404, 'ERR_NOT_FOUND')
  })
})
