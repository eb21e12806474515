// `statelab lab scale-down`: users log in on three replicas and keep requesting; half-way through, the
// replica that took the most logins leaves the gateway's pool and is stopped gracefully, as an autoscaler
// does. Who loses their session: the users of that replica, or others too?
import {
  busiest,
  type DisruptionAnalysis,
  type DisruptionOptions,
  type DisruptionRowBase,
  type DisruptionSettings,
  type LabResult,
  runDisruption,
} from './disruption.ts'
import type { LabEnvironment } from './lab-environment.ts'

export type ScaleDownOptions = DisruptionOptions

export interface ScaleDownRow extends DisruptionRowBase, DisruptionAnalysis {
  /** The replica removed: the one that answered the most logins (the first of them on a tie). */
  readonly removed: string
  /** ms after the run began. */
  readonly removedAt: number
}

export type ScaleDownResult = LabResult<'scale-down', DisruptionSettings, ScaleDownRow>

/**
 * Runs `scale-down` for each strategy in turn on `lab`'s replicas.
 *
 * @example
 * const result = await runScaleDown(lab, { strategies: ['sticky', 'jwt'], users: 12, requests: 15 })
 */
export async function runScaleDown(lab: LabEnvironment, options: ScaleDownOptions): Promise<ScaleDownResult> {
  return runDisruption(lab, 'scale-down', options, (run, { ids, homes, settings: { replicas } }) => {
    const { supervisor, gateway } = run
    const victim = busiest(ids, homes)
    return {
      label: `${run.strategy.name}: ${run.users.users.length} users, ${victim} removed half-way`,
      note: `removing ${victim} (${replicas} → ${replicas - 1})`,
      holdUsers: true,
      affected: [victim],
      action: async () => {
        // Out of the pool first, so that no new request reaches a replica on its way out.
        gateway.setBackends(supervisor.replicas.filter((r) => r.id !== victim))
        await supervisor.remove(victim)
      },
      words: { event: 'the removal', replica: 'the removed replica' },
      row: (load, analysis, verdict): ScaleDownRow => ({
        ...run.base,
        removed: victim,
        removedAt: load.disruptedAt,
        resentByGateway: load.resentByGateway,
        ...analysis,
        verdict,
      }),
    }
  })
}
