import type { BalancingPolicy, PolicyBackend, PolicyName, RequestInfo } from './balancing-policy.ts'
import { RoundRobinPolicy } from './round-robin.ts'

export interface StickyCookieOptions {
  /** Default `statelab_lb`. */
  readonly cookieName?: string
  /** The cookie's Path; the gateway uses the pool's prefix so two sticky pools never overwrite each other. */
  readonly path?: string
  /** Adds `Secure` (behind HTTPS). */
  readonly secure?: boolean
  /** Chooses for clients without a usable cookie. Default round-robin. */
  readonly fallback?: BalancingPolicy
}

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/

/**
 * Affinity by cookie: the first reply sets `statelab_lb=<backend id>`; later requests carrying it go to
 * that backend while it is available. When it is not (down, draining, removed), the client is re-picked
 * by the fallback policy and the cookie is reset to the new backend.
 */
export class StickyCookiePolicy implements BalancingPolicy {
  readonly name: PolicyName = 'sticky'
  readonly cookieName: string
  readonly #attributes: string
  readonly #fallback: BalancingPolicy

  constructor(options: StickyCookieOptions = {}) {
    this.cookieName = options.cookieName ?? 'statelab_lb'
    if (!COOKIE_NAME.test(this.cookieName))
      throw new TypeError(
        `StickyCookiePolicy options.cookieName must be a cookie token; got "${this.cookieName}"`,
      )
    const path = options.path ?? '/'
    if (!COOKIE_PATH.test(path))
      throw new TypeError(
        `StickyCookiePolicy options.path must start with "/" and hold no ";"; got "${path}"`,
      )
    this.#attributes = `; Path=${path}; HttpOnly; SameSite=Lax${options.secure ? '; Secure' : ''}`
    this.#fallback = options.fallback ?? new RoundRobinPolicy()
  }

  pick(backends: readonly PolicyBackend[], request: RequestInfo): PolicyBackend | undefined {
    const bound = this.#bound(backends, request)
    return bound ?? this.#fallback.pick(backends, request)
  }

  onRequestStart(backend: PolicyBackend): void {
    this.#fallback.onRequestStart?.(backend)
  }

  onRequestEnd(backend: PolicyBackend): void {
    this.#fallback.onRequestEnd?.(backend)
  }

  affinityCookie(backend: PolicyBackend, request: RequestInfo): string | undefined {
    const sent = request.cookies.get(this.cookieName)
    if (sent?.length === 1 && sent[0] === backend.id) return undefined
    return `${this.cookieName}=${backend.id}${this.#attributes}`
  }

  /** The backend the request's cookie names, if it is among `backends`. A naive client may send several. */
  #bound(backends: readonly PolicyBackend[], request: RequestInfo): PolicyBackend | undefined {
    const sent = request.cookies.get(this.cookieName)
    if (sent === undefined) return undefined
    for (const id of sent) {
      const backend = backends.find((b) => b.id === id)
      if (backend) return backend
    }
    return undefined
  }
}
