import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import type { TokenDenylist } from '../../src/stores/token-denylist.ts'

export interface TokenDenylistContractOptions {
  /** A fresh, empty denylist that reads time from `clock`. */
  open(clock: FakeClock): Promise<TokenDenylist>
  /** Why the suite cannot run here. */
  skip?: string
}

/** The behaviour every {@link TokenDenylist} promises; each backend's test file calls this once. */
export function runTokenDenylistContract(name: string, options: TokenDenylistContractOptions): void {
  describe(`TokenDenylist contract: ${name}`, { skip: options.skip ?? false }, () => {
    let clock: FakeClock
    let denylist: TokenDenylist

    beforeEach(async () => {
      // Near real time: backends with native expiry (Redis) compute their TTL from this clock.
      clock = new FakeClock(Date.now())
      denylist = await options.open(clock)
    })
    afterEach(async () => {
      await denylist.close?.()
    })

    it('refuses a listed token until it expires, and only that token', async () => {
      const jti = randomUUID()
      await denylist.add(jti, clock.now() + 900_000)
      assert.equal(await denylist.has(jti), true)
      assert.equal(await denylist.has(randomUUID()), false)
      clock.advance(899_999)
      assert.equal(await denylist.has(jti), true)
      clock.advance(1)
      assert.equal(await denylist.has(jti), false)
    })

    it('ignores a token that has already expired', async () => {
      const jti = randomUUID()
      await denylist.add(jti, clock.now() - 1)
      assert.equal(await denylist.has(jti), false)
    })

    it('keeps the later expiry when a token is listed twice', async () => {
      const jti = randomUUID()
      await denylist.add(jti, clock.now() + 60_000)
      await denylist.add(jti, clock.now() + 120_000)
      clock.advance(90_000)
      assert.equal(await denylist.has(jti), true)
    })

    it('sweeps expired entries and keeps live ones', async (t) => {
      if (!denylist.sweepExpired) return t.skip('this backend expires entries natively')
      const [old, young] = [randomUUID(), randomUUID()]
      await denylist.add(old, clock.now() + 1000)
      await denylist.add(young, clock.now() + 5000)
      clock.advance(1000)
      assert.equal(await denylist.sweepExpired(clock.now()), 1)
      assert.equal(await denylist.has(young), true)
    })

    it('answers ping', async () => {
      await denylist.ping?.()
    })
  })
}
