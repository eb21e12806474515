import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type Gateway, type PolicyName, startGateway } from '../../../src/gateway/index.ts'
import { cookieValue, fetchJson, getFrom, TestBackend, waitFor } from './backends.ts'

describe('each policy through the gateway', () => {
  const backends = ['a', 'b', 'c'].map((name) => new TestBackend(name))
  let gateway: Gateway
  const url = (policy: PolicyName, path = '/x') => `${gateway.url}/${policy}${path}`

  after(async () => {
    await gateway?.close()
    await Promise.all(backends.map((b) => b.kill()))
  })
  before(async () => {
    await Promise.all(backends.map((b) => b.listen()))
    const pool = (policy: PolicyName) => ({
      prefix: `/${policy}`,
      backends: backends.map((b) => b.url),
      policy,
    })
    gateway = await startGateway({
      host: '0.0.0.0',
      port: 0,
      pools: {
        'round-robin': pool('round-robin'),
        'least-connections': pool('least-connections'),
        sticky: pool('sticky'),
        'ip-hash': pool('ip-hash'),
      },
      healthCheck: false,
    })
  })

  async function servedBy(target: string, init?: RequestInit): Promise<string> {
    const res = await fetchJson(target, init)
    assert.equal(res.status, 200)
    return res.body.name
  }

  it('round-robin: 30 requests, 10 per backend', async () => {
    const counts: Record<string, number> = {}
    for (let i = 0; i < 30; i++) {
      const name = await servedBy(url('round-robin'))
      counts[name] = (counts[name] ?? 0) + 1
    }
    assert.deepEqual(counts, { a: 10, b: 10, c: 10 })
  })

  it('least-connections: a backend busy with a slow request gets no new ones until it is free', async () => {
    const slow = fetchJson(url('least-connections', '/hold'))
    await waitFor('a request held by a backend', () => backends.some((b) => b.held === 1))
    const busy = backends.find((b) => b.held === 1)!
    for (let i = 0; i < 10; i++) assert.notEqual(await servedBy(url('least-connections')), busy.name)
    busy.releaseHeld()
    assert.equal((await slow).body.name, busy.name)
    const after = new Set<string>()
    for (let i = 0; i < 6; i++) after.add(await servedBy(url('least-connections')))
    assert.ok(after.has(busy.name), 'once free, it takes requests again')
  })

  it('sticky: the first reply sets statelab_lb and 20 requests carrying it reach the same backend', async () => {
    const first = await fetchJson(url('sticky'))
    const lb = cookieValue(first.headers.getSetCookie(), 'statelab_lb')
    assert.ok(lb, 'the first reply sets the affinity cookie')
    const headers = { cookie: `statelab_lb=${lb}` }
    for (let i = 0; i < 20; i++) {
      const res = await fetchJson(url('sticky'), { headers })
      assert.equal(res.body.name, first.body.name)
      assert.deepEqual(res.headers.getSetCookie(), [], 'a client that has the cookie is not sent it again')
    }
    const strangers = new Set<string>()
    for (let i = 0; i < 6; i++) strangers.add(await servedBy(url('sticky')))
    assert.equal(strangers.size, 3, 'clients without the cookie are spread')
  })

  it('ip-hash: an address always reaches the same backend, and addresses spread', async () => {
    const port = new URL(gateway.url).port
    const byAddress = new Map<string, Set<string>>()
    for (let i = 1; i <= 24; i++) {
      const address = `127.0.0.${i}`
      for (let j = 0; j < 3; j++) {
        const res = await getFrom(address, `http://127.0.0.1:${port}/ip-hash/x`)
        assert.equal(res.status, 200)
        byAddress.set(address, (byAddress.get(address) ?? new Set()).add(res.servedBy!))
      }
    }
    for (const [address, names] of byAddress) assert.equal(names.size, 1, `${address} went to ${[...names]}`)
    const used = new Set([...byAddress.values()].flatMap((names) => [...names]))
    assert.ok(used.size >= 2, `24 addresses all went to ${[...used]}`)
    const repeated = new Set<string>()
    for (let i = 0; i < 20; i++) repeated.add(await servedBy(url('ip-hash')))
    assert.equal(repeated.size, 1, '20 requests from one address, one backend')
  })
})
