import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type BalancingPolicy,
  IpHashPolicy,
  LeastConnectionsPolicy,
  type PolicyBackend,
  RoundRobinPolicy,
  StickyCookiePolicy,
} from '../../src/gateway/index.ts'
import { backends, requestFrom, runBalancingPolicyContract } from './balancing-policy.contract.ts'

runBalancingPolicyContract('round-robin', { create: () => new RoundRobinPolicy() })
runBalancingPolicyContract('least-connections', { create: () => new LeastConnectionsPolicy() })
runBalancingPolicyContract('sticky', { create: () => new StickyCookiePolicy() })
runBalancingPolicyContract('ip-hash', { create: () => new IpHashPolicy() })

/** How many picks each backend id got. */
function tally(
  policy: BalancingPolicy,
  list: readonly PolicyBackend[],
  n: number,
  ip = (i: number) => `10.0.${i >> 8}.${i & 255}`,
) {
  const counts = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const id = policy.pick(list, requestFrom(ip(i)))!.id
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

describe('RoundRobinPolicy', () => {
  it('gives every backend exactly its share, in turn', () => {
    const policy = new RoundRobinPolicy()
    const list = backends(3)
    const order = Array.from({ length: 6 }, () => policy.pick(list, requestFrom('10.0.0.1'))!.id)
    assert.deepEqual(order, ['backend-0', 'backend-1', 'backend-2', 'backend-0', 'backend-1', 'backend-2'])
    assert.deepEqual([...tally(policy, list, 3000).values()], [1000, 1000, 1000])
  })

  it('keeps turning when the list shrinks', () => {
    const policy = new RoundRobinPolicy()
    const counts = tally(policy, backends(2), 1001)
    assert.ok(Math.abs(counts.get('backend-0')! - counts.get('backend-1')!) <= 1)
  })
})

describe('LeastConnectionsPolicy', () => {
  it('sends the next request to the backend with the fewest in flight', () => {
    const policy = new LeastConnectionsPolicy()
    const [a, b, c] = backends(3)
    const list = [a!, b!, c!]
    for (const busy of [a!, a!, b!]) policy.onRequestStart(busy)
    assert.equal(policy.pick(list, requestFrom('10.0.0.1')), c)
    policy.onRequestStart(c!)
    policy.onRequestStart(c!)
    assert.equal(policy.pick(list, requestFrom('10.0.0.1')), b)
    policy.onRequestEnd(a!)
    policy.onRequestEnd(a!)
    assert.equal(policy.pick(list, requestFrom('10.0.0.1')), a)
    assert.equal(policy.active(a!.id), 0)
  })

  it('rotates among ties, so sequential traffic spreads evenly', () => {
    const policy = new LeastConnectionsPolicy()
    const list = backends(3)
    const counts = new Map<string, number>()
    for (let i = 0; i < 300; i++) {
      const picked = policy.pick(list, requestFrom('10.0.0.1'))!
      policy.onRequestStart(picked)
      policy.onRequestEnd(picked)
      counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1)
    }
    assert.deepEqual([...counts.values()], [100, 100, 100])
  })
})

describe('StickyCookiePolicy', () => {
  it('sets an HttpOnly, SameSite=Lax cookie naming the backend, with the path it is given', () => {
    const policy = new StickyCookiePolicy({ path: '/api/stateful' })
    const [a] = backends(1)
    assert.equal(
      policy.affinityCookie(a!, requestFrom('10.0.0.1')),
      'statelab_lb=backend-0; Path=/api/stateful; HttpOnly; SameSite=Lax',
    )
    assert.match(
      new StickyCookiePolicy({ secure: true }).affinityCookie(a!, requestFrom('10.0.0.1'))!,
      /; Secure$/,
    )
  })

  it('keeps a client on its backend across 20 requests, whoever else arrives', () => {
    const policy = new StickyCookiePolicy()
    const list = backends(3)
    const mine = requestFrom('10.0.0.1', 'statelab_lb=backend-2')
    for (let i = 0; i < 20; i++) {
      assert.equal(policy.pick(list, mine)!.id, 'backend-2')
      policy.pick(list, requestFrom(`10.0.1.${i}`))
    }
  })

  it('re-picks a client whose backend is gone and resets its cookie to the new one', () => {
    const policy = new StickyCookiePolicy()
    const [a, b, c] = backends(3)
    const client = requestFrom('10.0.0.1', `statelab_lb=${a!.id}`)
    const picked = policy.pick([b!, c!], client)!
    assert.ok(picked === b || picked === c)
    assert.match(policy.affinityCookie(picked, client)!, new RegExp(`^statelab_lb=${picked.id};`))
  })

  it('follows the first usable value when a naive client sends the cookie twice', () => {
    const policy = new StickyCookiePolicy()
    const list = backends(3)
    const client = requestFrom('10.0.0.1', 'statelab_lb=elsewhere; statelab_lb=backend-1')
    assert.equal(policy.pick(list, client)!.id, 'backend-1')
    assert.ok(policy.affinityCookie(list[1]!, client), 'the duplicate is replaced by one cookie')
  })

  it('refuses a cookie name or path that would break the header', () => {
    assert.throws(() => new StickyCookiePolicy({ cookieName: 'a b' }), /options.cookieName/)
    assert.throws(() => new StickyCookiePolicy({ path: '/x; Domain=evil' }), /options.path/)
  })
})

describe('IpHashPolicy', () => {
  const ips = Array.from({ length: 3000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)

  it('sends the same address to the same backend, whatever the order of the list', () => {
    const policy = new IpHashPolicy()
    const list = backends(4)
    const reversed = [...list].reverse()
    for (const ip of ips.slice(0, 200)) {
      const picked = policy.pick(list, requestFrom(ip))
      assert.equal(policy.pick(list, requestFrom(ip)), picked)
      assert.equal(policy.pick(reversed, requestFrom(ip)), picked)
    }
  })

  it('spreads many addresses evenly (each backend within 15% of its share)', () => {
    const counts = tally(new IpHashPolicy(), backends(3), ips.length, (i) => ips[i]!)
    for (const [id, count] of counts) assert.ok(Math.abs(count - 1000) < 150, `${id} got ${count} of 3000`)
  })

  it('removing a backend moves only its own clients; adding one takes clients only for itself', () => {
    const policy = new IpHashPolicy()
    const four = backends(4)
    const before = new Map(ips.map((ip) => [ip, policy.pick(four, requestFrom(ip))!.id]))
    const three = four.filter((b) => b.id !== 'backend-2')
    let moved = 0
    for (const ip of ips) {
      const after = policy.pick(three, requestFrom(ip))!.id
      if (before.get(ip) === 'backend-2') moved++
      else assert.equal(after, before.get(ip), `${ip} moved although its backend stayed`)
    }
    assert.ok(moved > 0)
    const five = [...four, ...backends(1, 4)]
    let taken = 0
    for (const ip of ips) {
      const after = policy.pick(five, requestFrom(ip))!.id
      if (after === 'backend-4') taken++
      else assert.equal(after, before.get(ip), `${ip} moved to an old backend when one was added`)
    }
    assert.ok(
      Math.abs(taken - ips.length / 5) < ips.length / 5 / 4,
      `the new backend took ${taken} of ${ips.length}`,
    )
  })
})
