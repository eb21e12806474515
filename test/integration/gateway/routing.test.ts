import assert from 'node:assert/strict'
import { once } from 'node:events'
import { type IncomingMessage, request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { type Gateway, startGateway } from '../../../src/gateway/index.ts'
import { assertErrorBody, assertFetchError } from '../../support/http.ts'
import { fetchJson, TestBackend } from './backends.ts'

describe('gateway routing (seed 001 layout)', () => {
  const stateless = new TestBackend('stateless-1')
  const stateful = new TestBackend('stateful-1')
  let gateway: Gateway

  after(async () => {
    await gateway?.close()
    await Promise.all([stateless.kill(), stateful.kill()])
  })
  before(async () => {
    await Promise.all([stateless.listen(), stateful.listen()])
    gateway = await startGateway({
      port: 0,
      pools: {
        stateless: { prefix: '/api/stateless', backends: [stateless.url], policy: 'round-robin' },
        stateful: { prefix: '/api/stateful/', backends: [stateful.url], policy: 'sticky' },
        empty: { prefix: '/api/empty', backends: [], policy: 'round-robin' },
      },
      healthCheck: false,
    })
  })

  it('strips each pool prefix and keeps the query string', async () => {
    const one = await fetchJson(`${gateway.url}/api/stateless/api/files?page=2&sort=name`)
    assert.equal(one.status, 200)
    assert.equal(one.body.name, 'stateless-1')
    assert.equal(one.body.url, '/api/files?page=2&sort=name')
    const two = await fetchJson(`${gateway.url}/api/stateful/api/files`)
    assert.equal(two.body.name, 'stateful-1')
    assert.equal(two.body.url, '/api/files')
    const root = await fetchJson(`${gateway.url}/api/stateful?x=1`)
    assert.equal(root.body.url, '/?x=1')
  })

  it('matches whole segments only, and answers unknown paths with the JSON 404', async () => {
    await assertFetchError(await fetch(`${gateway.url}/api/statefulx/api/files`), 404, 'ERR_NOT_FOUND')
    await assertFetchError(await fetch(`${gateway.url}/`), 404, 'ERR_NOT_FOUND')
    await assertFetchError(await fetch(`${gateway.url}/_gateway/nothing`), 404, 'ERR_NOT_FOUND')
  })

  it('refuses dot-dot segments with the JSON 400 instead of forwarding them', async () => {
    const before = stateless.requests.length
    // node:http sends the path as written; fetch would resolve the dots first.
    for (const path of ['/api/stateless/../stateful/x', '/api/stateless/%2e%2e/x']) {
      const req = request(`${gateway.url}${path}`, { path })
      req.end()
      const [res] = (await once(req, 'response')) as [IncomingMessage]
      const chunks: Buffer[] = []
      for await (const chunk of res) chunks.push(chunk as Buffer)
      assertErrorBody(res.statusCode!, JSON.parse(Buffer.concat(chunks).toString()), 400, 'ERR_BAD_REQUEST')
    }
    assert.equal(stateless.requests.length, before)
  })

  it('answers 503 ERR_NO_BACKEND when a pool has no backend', async () => {
    await assertFetchError(await fetch(`${gateway.url}/api/empty/x`), 503, 'ERR_NO_BACKEND')
  })

  it('adds X-Forwarded-For (after what the client sent), -Proto, -Host and -Prefix', async () => {
    const plain = await fetchJson(`${gateway.url}/api/stateless/whoami`)
    assert.equal(plain.body.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(plain.body.headers['x-forwarded-proto'], 'http')
    assert.equal(plain.body.headers['x-forwarded-host'], new URL(gateway.url).host)
    assert.equal(plain.body.headers['x-forwarded-prefix'], '/api/stateless')
    const chained = await fetchJson(`${gateway.url}/api/stateless/whoami`, {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' },
    })
    assert.equal(chained.body.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1')
    assert.equal(chained.body.headers['x-forwarded-proto'], 'http', 'the gateway says how it was reached')
  })

  it("passes the backend's X-Served-By and every Set-Cookie through, next to its own cookie", async () => {
    const res = await fetchJson(`${gateway.url}/api/stateful/set-cookie`)
    assert.equal(res.headers.get('x-served-by'), 'stateful-1')
    const cookies = res.headers.getSetCookie()
    assert.deepEqual(cookies.slice(0, 2), ['backend_a=stateful-1; Path=/', 'backend_b=2; Path=/'])
    assert.match(cookies[2]!, /^statelab_lb=[\w-]+; Path=\/api\/stateful; HttpOnly; SameSite=Lax$/)
    const plain = await fetchJson(`${gateway.url}/api/stateless/set-cookie`)
    assert.equal(plain.headers.getSetCookie().length, 2, 'round-robin sets no cookie of its own')
  })

  it('forwards bodies: JSON, a streamed upload and a replayable PUT', async () => {
    const json = await fetchJson(`${gateway.url}/api/stateful/api/calc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'add', values: [1, 2] }),
    })
    assert.equal(json.body.method, 'POST')
    assert.equal(json.body.body, '{"op":"add","values":[1,2]}')
    assert.equal(json.body.headers['content-type'], 'application/json')

    const big = 'x'.repeat(3 * 1024 * 1024)
    const upload = await fetchJson(`${gateway.url}/api/stateless/api/files`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=zzz' },
      body: big,
    })
    assert.equal(upload.body.body.length, big.length)
    assert.equal(upload.body.headers['content-type'], 'multipart/form-data; boundary=zzz')

    const put = await fetchJson(`${gateway.url}/api/stateless/api/users/me/password`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"new_password":"abc"}',
    })
    assert.equal(put.body.body, '{"new_password":"abc"}')
  })

  it('answers HEAD without a body', async () => {
    const res = await fetch(`${gateway.url}/api/stateless/x`, { method: 'HEAD' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('x-served-by'), 'stateless-1')
    assert.equal(await res.text(), '')
  })

  it('refuses bad options at once, naming the option', async () => {
    const pools = { a: { prefix: '/a', backends: [], policy: 'round-robin' as const } }
    await assert.rejects(startGateway({ port: -1, pools }), /options.port/)
    await assert.rejects(startGateway({ port: 0, pools: {} }), /options.pools/)
    await assert.rejects(
      startGateway({ port: 0, pools: { a: { ...pools.a, policy: 'random' as 'sticky' } } }),
      /options.pools.a.policy must be one of round-robin, least-connections, sticky, ip-hash/,
    )
    await assert.rejects(
      startGateway({ port: 0, pools: { a: pools.a, b: { ...pools.a, prefix: '/a/' } } }),
      /options.pools.b.prefix "\/a\/" is used by another pool/,
    )
    await assert.rejects(
      startGateway({ port: 0, pools, healthCheck: { intervalMs: 0, timeoutMs: 10 } }),
      /options.healthCheck.intervalMs/,
    )
    await assert.rejects(
      startGateway({ port: 0, pools: { a: { ...pools.a, backends: ['ftp://x'] } } }),
      /must be an http:\/\/ or https:\/\/ URL/,
    )
  })
})
