import type { Pool } from './pool.ts'

/** The pool whose prefix a request path starts with (longest prefix first) and the path to send on. */
export interface Route {
  readonly pool: Pool
  /** The request URL without the prefix, query string included; never empty. */
  readonly upstreamUrl: string
}

/** Matches whole path segments: `/api/stateful` takes `/api/stateful/x` and `/api/stateful`, not `/api/statefulx`. */
export class Router {
  readonly #pools: readonly Pool[]

  constructor(pools: readonly Pool[]) {
    this.#pools = [...pools].sort((a, b) => b.prefix.length - a.prefix.length)
  }

  match(url: string): Route | undefined {
    const query = url.indexOf('?')
    const path = query < 0 ? url : url.slice(0, query)
    for (const pool of this.#pools) {
      const { prefix } = pool
      if (path === prefix || path.startsWith(`${prefix}/`)) {
        const rest = url.slice(prefix.length)
        return { pool, upstreamUrl: rest.startsWith('/') ? rest : `/${rest}` }
      }
    }
    return undefined
  }
}
