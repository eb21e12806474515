import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { BalancingPolicy, PolicyBackend, RequestInfo } from '../../src/gateway/index.ts'

export interface BalancingPolicyContractOptions {
  /** A fresh policy. */
  create(): BalancingPolicy
  /** Why the suite cannot run here. */
  skip?: string
}

/** `n` backends with distinct ids and URLs. */
export function backends(n: number, from = 0): PolicyBackend[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `backend-${from + i}`,
    url: `http://127.0.0.1:${4000 + from + i}`,
  }))
}

/** A request from `ip` with the given cookie header. */
export function requestFrom(ip: string, cookie?: string): RequestInfo {
  const cookies = new Map<string, string[]>()
  for (const pair of cookie?.split(';') ?? []) {
    const [name, value] = pair.trim().split('=') as [string, string]
    cookies.set(name, [...(cookies.get(name) ?? []), value])
  }
  return { ip, headers: cookie ? { cookie } : {}, cookies }
}

/** A different client each time: another address, no cookie. */
function client(i: number): RequestInfo {
  return requestFrom(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
}

/** The behaviour every {@link BalancingPolicy} promises; each policy's test calls this once. */
export function runBalancingPolicyContract(name: string, options: BalancingPolicyContractOptions): void {
  describe(`BalancingPolicy contract: ${name}`, { skip: options.skip ?? false }, () => {
    it('picks nothing from an empty list', () => {
      const policy = options.create()
      assert.equal(policy.pick([], client(1)), undefined)
      assert.equal(policy.pick([], requestFrom('10.0.0.1', 'statelab_lb=backend-0')), undefined)
    })

    it('always picks the only backend there is', () => {
      const policy = options.create()
      const [only] = backends(1)
      for (let i = 0; i < 50; i++) assert.equal(policy.pick([only!], client(i)), only)
    })

    it('picks one of the given objects, from lists that change between calls, without changing them', () => {
      const policy = options.create()
      const all = backends(6)
      for (let i = 0; i < 300; i++) {
        const list = Object.freeze(all.slice(i % 3, 3 + (i % 4)))
        const picked = policy.pick(list, client(i))
        assert.ok(
          picked !== undefined && list.includes(picked),
          `picked ${picked?.id} from a list without it`,
        )
        policy.onRequestStart?.(picked)
        if (i % 2 === 0) policy.onRequestEnd?.(picked)
      }
    })

    it('reaches every backend when many different clients arrive', () => {
      const policy = options.create()
      const list = backends(3)
      const seen = new Set<string>()
      for (let i = 0; i < 300; i++) seen.add(policy.pick(list, client(i))!.id)
      assert.deepEqual([...seen].sort(), ['backend-0', 'backend-1', 'backend-2'])
    })

    it('never picks a backend that is not in the list, whatever the request names', () => {
      const policy = options.create()
      const list = backends(2, 1)
      for (let i = 0; i < 50; i++) {
        const picked = policy.pick(list, requestFrom(`10.0.0.${i}`, 'statelab_lb=backend-0'))
        assert.notEqual(picked?.id, 'backend-0')
      }
    })

    it('accepts start and end for backends that left the list, and keeps picking', () => {
      const policy = options.create()
      const [gone, ...rest] = backends(3)
      policy.onRequestStart?.(gone!)
      policy.onRequestStart?.(gone!)
      for (let i = 0; i < 10; i++) assert.ok(rest.includes(policy.pick(rest, client(i))!))
      policy.onRequestEnd?.(gone!)
      policy.onRequestEnd?.(gone!)
      assert.ok(rest.includes(policy.pick(rest, client(99))!))
    })

    it('a client carrying its affinity cookie gets the same backend and no new cookie', (t) => {
      const policy = options.create()
      if (!policy.affinityCookie) return t.skip('this policy keeps no affinity in cookies')
      const list = backends(3)
      const first = policy.pick(list, client(1))!
      const setCookie = policy.affinityCookie(first, client(1))
      assert.ok(setCookie, 'a client without the cookie gets one')
      assert.match(setCookie, /^[\w-]+=[\w-]+(; [\w-]+(=[^;]+)?)*$/, 'a Set-Cookie value')
      const again = requestFrom('10.9.9.9', setCookie.split(';')[0])
      for (let i = 0; i < 20; i++) {
        const picked = policy.pick(list, again)!
        assert.equal(picked, first)
        assert.equal(policy.affinityCookie(picked, again), undefined)
      }
    })
  })
}
