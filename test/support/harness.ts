import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { type Config, loadConfig } from '../../src/config.ts'
import { FakeClock } from '../../src/core/clock.ts'
import type { Argon2Params } from '../../src/core/users/passwords.ts'
import { buildStatefulApi } from '../../src/http/stateful-api.ts'
import { buildStatelessApi } from '../../src/http/stateless-api.ts'
import { createLogger, createRuntime, type Runtime } from '../../src/runtime.ts'

/** Real argon2id, at a cost that keeps a test suite fast. Production uses the OWASP parameters. */
export const TEST_ARGON2: Argon2Params = { memory: 1024, passes: 1, parallelism: 1 }

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long'

export interface Harness {
  readonly runtime: Runtime
  readonly clock: FakeClock
  readonly dataDir: string
  readonly stateless: FastifyInstance
  readonly stateful: FastifyInstance
  /** Registers a user and returns its credentials. */
  register(username?: string, password?: string): Promise<{ username: string; password: string }>
  /** Closes both apps and the runtime (the data directory stays until `dispose`). */
  close(): Promise<void>
  /** `close`, then removes the data directory. */
  dispose(): Promise<void>
}

let counter = 0

/**
 * Both APIs on one runtime over a fresh temporary data directory, a fake clock and silent logs (or `log`).
 * Pass `dataDir` to reopen an existing one (a restart). Nothing listens until a test calls `listen`.
 */
export async function startHarness(
  options: { overrides?: Partial<Config>; dataDir?: string; clock?: FakeClock; log?: Logger } = {},
): Promise<Harness> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'statelab-test-'))
  const clock = options.clock ?? new FakeClock(Date.now())
  const config = loadConfig({
    env: {},
    overrides: { dataDir, logLevel: 'silent', jwtSecret: TEST_SECRET, ...options.overrides },
  })
  const runtime = await createRuntime(config, {
    clock,
    argon2: TEST_ARGON2,
    log: options.log ?? createLogger('silent'),
  })
  const stateless = await buildStatelessApi(runtime)
  const stateful = await buildStatefulApi(runtime)
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await Promise.all([stateless.close(), stateful.close()])
    await runtime.close()
  }
  return {
    runtime,
    clock,
    dataDir,
    stateless,
    stateful,
    async register(username = `user${++counter}-${process.pid}`, password = 'correct horse battery staple') {
      await runtime.users.register(username, password)
      return { username, password }
    },
    close,
    async dispose() {
      await close()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
