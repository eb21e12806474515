/**
 * Where the external services tests need are, from the environment. Without one a test skips with the
 * reason; with `STATELAB_REQUIRE_SERVICES=1` (CI) a missing service is a failure, never a silent skip.
 */
export interface Service {
  /** The URL to connect to, or undefined when the test must skip. */
  readonly url: string | undefined
  /** The reason to give `describe(..., { skip })`, or false to run. */
  readonly skip: string | false
}

export function service(variable: 'REDIS_URL' | 'DATABASE_URL'): Service {
  const url = process.env[variable]
  if (url) return { url, skip: false }
  if (process.env.STATELAB_REQUIRE_SERVICES === '1') {
    throw new Error(
      `${variable} is not set, and STATELAB_REQUIRE_SERVICES=1 says this run must test against it`,
    )
  }
  return { url: undefined, skip: `${variable} is not set (e.g. ${EXAMPLES[variable]})` }
}

const EXAMPLES = {
  REDIS_URL: 'REDIS_URL=redis://127.0.0.1:6379',
  DATABASE_URL: 'DATABASE_URL=postgres://postgres@127.0.0.1:5432/test',
}

export { uniqueName } from '../../src/lab/services.ts'
