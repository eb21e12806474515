// `statelab lab crash`: users log in on three replicas and keep requesting; half-way through, the replica
// that took the most logins is SIGKILLed and nobody tells the gateway. Who is forgotten, what fails, and
// how long until every request succeeds again?
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

export type CrashOptions = DisruptionOptions

export interface CrashRow
  extends DisruptionRowBase,
    Omit<DisruptionAnalysis, 'usersOnAffected' | 'lostBefore' | 'lostFromAffected'> {
  /** The replica killed: the one that answered the most logins (the first of them on a tie). */
  readonly killed: string
  /** ms after the run began. */
  readonly killedAt: number
  /** Users whose login the killed replica answered. */
  readonly usersOnKilled: number
  /** Users forgotten already before the crash (memory with round-robin: the replicas never shared). */
  readonly lostBeforeCrash: number
  /** Users first forgotten after the crash whose login the killed replica had answered. */
  readonly lostFromKilled: number
}

export type CrashResult = LabResult<'crash', DisruptionSettings, CrashRow>

/**
 * Runs `crash` for each strategy in turn on `lab`'s replicas.
 *
 * @example
 * const result = await runCrash(lab, { strategies: ['sticky', 'central'], users: 12, requests: 15 })
 */
export async function runCrash(lab: LabEnvironment, options: CrashOptions): Promise<CrashResult> {
  return runDisruption(lab, 'crash', options, (run, { ids, homes }) => {
    const victim = busiest(ids, homes)
    return {
      label: `${run.strategy.name}: ${run.users.users.length} users, SIGKILL of ${victim} half-way`,
      note: `SIGKILL ${victim}`,
      affected: [victim],
      action: () => lab.kill(run.supervisor, victim),
      words: { event: 'the crash', replica: 'the killed replica' },
      row: (load, analysis, verdict): CrashRow => {
        const { usersOnAffected, lostBefore, lostFromAffected, ...rest } = analysis
        return {
          ...run.base,
          killed: victim,
          killedAt: load.disruptedAt,
          resentByGateway: load.resentByGateway,
          ...rest,
          usersOnKilled: usersOnAffected,
          lostBeforeCrash: lostBefore,
          lostFromKilled: lostFromAffected,
          verdict,
        }
      },
    }
  })
}
