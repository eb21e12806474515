/** The names `startGateway` and `statelab gateway --policy-*` accept. */
export type PolicyName = 'round-robin' | 'least-connections' | 'sticky' | 'ip-hash'

/** One backend as a policy sees it: a stable id (also the sticky cookie's value) and its origin. */
export interface PolicyBackend {
  /** Derived from the URL alone, so it survives gateway restarts and is the same in every gateway. */
  readonly id: string
  readonly url: string
}

/** What a policy may look at in a request. */
export interface RequestInfo {
  /** The client's address as the gateway's socket sees it (forwarded headers are not trusted). */
  readonly ip: string
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** Cookie values by name; a name sent more than once keeps every value, in order. */
  readonly cookies: ReadonlyMap<string, readonly string[]>
}

/**
 * Chooses a backend for each request. The gateway hands `pick` only the backends that may take new
 * requests (healthy, not draining, not already tried by this request), so a policy never checks health.
 *
 * @example
 * const policy = createPolicy('least-connections')
 * const backend = policy.pick(available, { ip: '10.0.0.7', headers: {}, cookies: new Map() })
 */
export interface BalancingPolicy {
  readonly name: PolicyName
  /** One of `backends`, or undefined when the list is empty. Synchronous and cheap: it runs per request. */
  pick(backends: readonly PolicyBackend[], request: RequestInfo): PolicyBackend | undefined
  /** A request was sent to `backend`. */
  onRequestStart?(backend: PolicyBackend): void
  /** A request sent to `backend` ended, however it ended. Called exactly once per `onRequestStart`. */
  onRequestEnd?(backend: PolicyBackend): void
  /**
   * The `Set-Cookie` value that ties this client to `backend`, or undefined when the request already
   * carries it (or the policy keeps no affinity in cookies).
   */
  affinityCookie?(backend: PolicyBackend, request: RequestInfo): string | undefined
}
