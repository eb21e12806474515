import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../config.ts'
import { AppError } from '../../core/errors.ts'
import { buildStatefulApi } from '../../http/stateful-api.ts'
import { buildStatelessApi } from '../../http/stateless-api.ts'
import { createRuntime, type Runtime } from '../../runtime.ts'

/** The two APIs a demo talks to. */
export interface DemoTarget {
  readonly statelessUrl: string
  readonly statefulUrl: string
  /** True when both APIs run in this process over a throw-away data directory. */
  readonly inProcess: boolean
  close(): Promise<void>
}

/**
 * Running APIs at the given URLs (both or neither), or, without URLs, both APIs started in this process on
 * free ports over a temporary data directory that `close` removes.
 */
export async function openTarget(urls: { stateless?: string; stateful?: string }): Promise<DemoTarget> {
  if (urls.stateless !== undefined && urls.stateful !== undefined) {
    return {
      statelessUrl: checkUrl(urls.stateless, 'stateless-url'),
      statefulUrl: checkUrl(urls.stateful, 'stateful-url'),
      inProcess: false,
      close: async () => {},
    }
  }
  if (urls.stateless !== undefined || urls.stateful !== undefined) {
    throw new AppError(
      'ERR_CONFIG',
      '--stateless-url and --stateful-url go together: give both, or neither to start the APIs in this process',
    )
  }
  return startInProcess()
}

async function startInProcess(): Promise<DemoTarget> {
  const dataDir = mkdtempSync(join(tmpdir(), 'statelab-demo-'))
  const apps: FastifyInstance[] = []
  let runtime: Runtime | undefined
  const close = async () => {
    process.off('SIGINT', interrupt)
    await Promise.allSettled(apps.map((app) => app.close()))
    await runtime?.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
  // Ctrl+C in the middle still removes the temporary directory.
  const interrupt = () => void close().finally(() => process.exit(130))
  process.once('SIGINT', interrupt)
  try {
    // env: {}: the demo's own settings, whatever SESSION_STORE or DATABASE_URL the shell holds.
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir,
        host: '127.0.0.1',
        logLevel: 'silent',
        jwtSecret: randomBytes(48).toString('base64url'),
      },
    })
    runtime = await createRuntime(config)
    apps.push(await buildStatelessApi(runtime), await buildStatefulApi(runtime))
    const [statelessUrl, statefulUrl] = await Promise.all(
      apps.map((app) => app.listen({ port: 0, host: config.host })),
    )
    return { statelessUrl: statelessUrl!, statefulUrl: statefulUrl!, inProcess: true, close }
  } catch (err) {
    await close()
    throw err
  }
}

function checkUrl(value: string, flag: string): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new AppError('ERR_CONFIG', `--${flag} must be an http:// or https:// URL; got "${value}"`)
  }
  return value
}
