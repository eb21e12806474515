// `statelab lab restart`: users log in on three replicas and keep requesting; half-way through, every
// replica is restarted, one after the other (drained, restarted on its port, back in the pool), as a
// deployment does. Who is logged out, and what fails?
import {
  type DisruptionAnalysis,
  type DisruptionOptions,
  type DisruptionRowBase,
  type DisruptionSettings,
  type LabResult,
  runDisruption,
} from './disruption.ts'
import type { LabEnvironment } from './lab-environment.ts'

export type RestartOptions = DisruptionOptions

export interface RestartRow extends DisruptionRowBase, DisruptionAnalysis {
  /** The replicas restarted, in order: every one. */
  readonly restarted: readonly string[]
  /** ms after the run began. */
  readonly restartedAt: number
  /** How long the rolling restart took. */
  readonly restartMs: number
  /** Replicas the gateway had not taken back within the wait (its next health check was late). */
  readonly notRoutedAgain: readonly string[]
}

export type RestartResult = LabResult<'restart', DisruptionSettings, RestartRow>

/**
 * Runs `restart` for each strategy in turn on `lab`'s replicas.
 *
 * @example
 * const result = await runRestart(lab, { strategies: ['sticky', 'central'], users: 12, requests: 15 })
 */
export async function runRestart(lab: LabEnvironment, options: RestartOptions): Promise<RestartResult> {
  return runDisruption(lab, 'restart', options, (run, { ids }) => {
    const { supervisor, gateway } = run
    const notRoutedAgain: string[] = []
    return {
      label: `${run.strategy.name}: ${run.users.users.length} users, rolling restart of ${ids.length} replicas half-way`,
      note: `rolling restart of ${ids.join(', ')}`,
      holdUsers: true,
      affected: ids,
      action: async () => {
        for (const replica of supervisor.replicas) {
          await gateway.drain(replica)
          const fresh = await supervisor.restart(replica.id)
          // Listed again, the drained replica is back in the pool.
          gateway.setBackends(supervisor.replicas)
          if (!(await gateway.waitUntilRouted(fresh))) notRoutedAgain.push(fresh.id)
        }
      },
      words: { event: 'the restarts', replica: 'a restarted replica' },
      row: (load, analysis, verdict): RestartRow => ({
        ...run.base,
        restarted: ids,
        restartedAt: load.disruptedAt,
        restartMs: (load.interruptionEndedAt ?? load.durationMs) - load.disruptedAt,
        notRoutedAgain,
        resentByGateway: load.resentByGateway,
        ...analysis,
        verdict,
      }),
    }
  })
}
