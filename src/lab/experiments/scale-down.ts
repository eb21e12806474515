// `statelab lab scale-down`: users log in on three replicas and keep requesting; half-way through, the
// replica that took the most logins leaves the gateway's pool and is stopped gracefully, as an autoscaler
// does. Who loses their session: the users of that replica, or others too?
import {
  analyzeDisruption,
  busiest,
  type DisruptionAnalysis,
  type DisruptionOptions,
  type DisruptionSettings,
  disruptionSettings,
  disruptionVerdict,
  homesOf,
  type LabResult,
  runDisrupted,
  runPerStrategy,
  type StrategyRowBase,
} from './disruption.ts'
import type { LabEnvironment } from './lab-environment.ts'

export type ScaleDownOptions = DisruptionOptions

export interface ScaleDownRow extends StrategyRowBase, DisruptionAnalysis {
  /** The replica removed: the one that answered the most logins (the first of them on a tie). */
  readonly removed: string
  /** ms after the run began. */
  readonly removedAt: number
  /** GETs the gateway sent again to another replica after a connection error (its failover). */
  readonly resentByGateway: number
  readonly verdict: string
}

export type ScaleDownResult = LabResult<'scale-down', DisruptionSettings, ScaleDownRow>

/**
 * Runs `scale-down` for each strategy in turn on `lab`'s replicas.
 *
 * @example
 * const result = await runScaleDown(lab, { strategies: ['sticky', 'jwt'], users: 12, requests: 15 })
 */
export async function runScaleDown(lab: LabEnvironment, options: ScaleDownOptions): Promise<ScaleDownResult> {
  const settings = disruptionSettings('scale-down', options)
  const { users, replicas } = settings
  return runPerStrategy(
    lab,
    { experiment: 'scale-down', strategies: options.strategies, ...settings, settings },
    async (run): Promise<ScaleDownRow> => {
      const { supervisor, gateway } = run
      const ids = supervisor.replicas.map((r) => r.id)
      const homes = homesOf(run.users)
      const victim = busiest(ids, homes)
      const load = await runDisrupted(run, {
        label: `${run.strategy.name}: ${run.users.users.length} users, ${victim} removed half-way`,
        note: `removing ${victim} (${replicas} → ${replicas - 1})`,
        holdUsers: true,
        action: async () => {
          // Out of the pool first, so that no new request reaches a replica on its way out.
          gateway.setBackends(supervisor.replicas.filter((r) => r.id !== victim))
          await supervisor.remove(victim)
        },
      })
      const analysis = analyzeDisruption(load, ids, homes, new Set([victim]))
      return {
        ...run.base,
        removed: victim,
        removedAt: load.disruptedAt,
        resentByGateway: load.resentByGateway,
        ...analysis,
        verdict: disruptionVerdict(analysis, users, {
          event: 'the removal',
          replica: 'the removed replica',
        }),
      }
    },
  )
}
