/**
 * Access tokens revoked before they expire, by `jti`. A stateless server that wants "log out now" must
 * remember these few ids: the price of revocation is a lookup per request. Every backend passes
 * `test/contracts/token-denylist.contract.ts`.
 */
export interface TokenDenylist {
  /** Short backend name, as reported by the API (`memory`, `redis`, `sqlite`, `postgres`). */
  readonly kind: string
  /** Refuses the token with this `jti` until `expiresAt` (ms), when it would have expired anyway. */
  add(jti: string, expiresAt: number): Promise<void>
  /** True while the token is refused; false once it has expired (whether or not it was swept). */
  has(jti: string): Promise<boolean>
  /** Forgets entries expired at `now`; for backends without native expiry. Returns how many. */
  sweepExpired?(now: number): Promise<number>
  ping?(): Promise<void>
  close?(): Promise<void>
}
