// `statelab lab scale`: users log in while there is one replica; then replicas are added behind the
// gateway and the same users keep requesting. Who does the new replica know?

import { type LoadStats, summarize } from '../load.ts'
import type { StrategyName } from '../strategies.ts'
import { type LabResult, replicasText, runPerStrategy, type StrategyRowBase } from './disruption.ts'
import type { LabEnvironment } from './lab-environment.ts'

export interface ScaleOptions {
  readonly strategies: readonly StrategyName[]
  readonly users: number
  /** Requests per user in each step. */
  readonly requests: number
  /** Replica counts, the first being where the users log in. Default 1, 3, 10. */
  readonly steps?: readonly number[]
  /** Requests in flight at once over all users. Default 8. */
  readonly concurrency?: number
  readonly quick?: boolean
}

export interface ScaleStep extends LoadStats {
  readonly replicas: number
  /** Users the servers forgot at least once, from the first step up to this one. */
  readonly usersLostSoFar: number
}

export interface ScaleRow extends StrategyRowBase {
  readonly steps: readonly ScaleStep[]
  /** Users forgotten at least once, over every step. */
  readonly usersLost: readonly number[]
  readonly verdict: string
}

export type ScaleResult = LabResult<
  'scale',
  {
    readonly users: number
    readonly requests: number
    readonly steps: readonly number[]
    readonly concurrency: number
    readonly quick: boolean
  },
  ScaleRow
>

export const DEFAULT_SCALE_STEPS: readonly number[] = [1, 3, 10]
export const QUICK_SCALE_STEPS: readonly number[] = [1, 3]
const DEFAULT_CONCURRENCY = 8

/**
 * Runs `scale` for each strategy in turn on `lab`'s replicas.
 *
 * @example
 * const result = await runScale(lab, { strategies: ['memory', 'jwt'], users: 12, requests: 15, steps: [1, 3] })
 */
export async function runScale(lab: LabEnvironment, options: ScaleOptions): Promise<ScaleResult> {
  const steps = options.steps ?? (options.quick ? QUICK_SCALE_STEPS : DEFAULT_SCALE_STEPS)
  validate(options, steps)
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY
  const { users, requests } = options
  const settings = { users, requests, steps, concurrency, quick: !!options.quick }
  return runPerStrategy(
    lab,
    {
      experiment: 'scale',
      strategies: options.strategies,
      users,
      requests,
      replicas: steps[0]!,
      concurrency,
      settings,
    },
    async ({ strategy, supervisor, gateway, users: crowd, base }): Promise<ScaleRow> => {
      const lost = new Set<number>()
      const results: ScaleStep[] = []
      for (const [i, count] of steps.entries()) {
        if (i > 0) {
          await lab.resize(supervisor, count, strategy)
          gateway.setBackends(supervisor.replicas)
        }
        const label = `${strategy.name} on ${replicasText(count)}`
        const total = (users - base.loginFailures) * requests
        lab.progress.phase(label)
        const run = await crowd.run(requests, {
          onProgress: (done) => lab.progress.advance(label, done, total),
        })
        const stats = summarize(
          run.records,
          run.durationMs,
          supervisor.replicas.map((r) => r.id),
        )
        for (const user of stats.usersForgotten) lost.add(user)
        results.push({ replicas: count, ...stats, usersLostSoFar: lost.size })
      }
      return {
        ...base,
        steps: results,
        usersLost: [...lost].sort((a, b) => a - b),
        verdict: scaleVerdict(users, results),
      }
    },
  )
}

function scaleVerdict(users: number, steps: readonly ScaleStep[]): string {
  const last = steps.at(-1)!
  const failed = steps.reduce((sum, s) => sum + s.failed, 0)
  const others = failed === 0 ? '' : `; ${failed} requests failed otherwise`
  if (last.usersLostSoFar === 0) {
    const busiest = Math.max(...last.share.map((s) => s.percent))
    const skew =
      last.replicas > 1 && busiest > 100 / last.replicas + 25
        ? `, but the new replicas take little load (busiest ${Math.round(busiest)}%)`
        : ''
    return `✅ nobody forgotten after scaling to ${last.replicas}${skew}${others}`
  }
  const worst = steps.map((s) => `${s.replicas}: ${Math.round(s.forgotPercent)}%`).join(', ')
  return `❌ ${last.usersLostSoFar}/${users} users forgotten after scale-out (requests refused per step ${worst})${others}`
}

function validate(options: ScaleOptions, steps: readonly number[]): void {
  if (!Number.isInteger(options.users) || options.users < 1)
    throw new TypeError('scale options.users must be a positive integer')
  if (!Number.isInteger(options.requests) || options.requests < 1)
    throw new TypeError('scale options.requests must be a positive integer')
  if (
    steps.length === 0 ||
    steps.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= steps[i - 1]!))
  )
    throw new TypeError('scale options.steps must be increasing positive integers')
}
