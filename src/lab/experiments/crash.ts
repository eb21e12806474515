// `statelab lab crash`: users log in on three replicas and keep requesting; half-way through, the replica
// that took the most logins is SIGKILLed and nobody tells the gateway. Who is forgotten, what fails, and
// how long until every request succeeds again?
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

export type CrashOptions = DisruptionOptions

export interface CrashRow
  extends StrategyRowBase,
    Omit<DisruptionAnalysis, 'usersOnAffected' | 'lostBefore' | 'lostFromAffected'> {
  /** The replica killed: the one that answered the most logins (the first of them on a tie). */
  readonly killed: string
  /** ms after the run began. */
  readonly killedAt: number
  /** GETs the gateway sent again to another replica after a connection error (its failover). */
  readonly resentByGateway: number
  /** Users whose login the killed replica answered. */
  readonly usersOnKilled: number
  /** Users forgotten already before the crash (memory with round-robin: the replicas never shared). */
  readonly lostBeforeCrash: number
  /** Users first forgotten after the crash whose login the killed replica had answered. */
  readonly lostFromKilled: number
  readonly verdict: string
}

export type CrashResult = LabResult<'crash', DisruptionSettings, CrashRow>

/**
 * Runs `crash` for each strategy in turn on `lab`'s replicas.
 *
 * @example
 * const result = await runCrash(lab, { strategies: ['sticky', 'central'], users: 12, requests: 15 })
 */
export async function runCrash(lab: LabEnvironment, options: CrashOptions): Promise<CrashResult> {
  const settings = disruptionSettings('crash', options)
  const { users } = settings
  return runPerStrategy(
    lab,
    { experiment: 'crash', strategies: options.strategies, ...settings, settings },
    async (run): Promise<CrashRow> => {
      const ids = run.supervisor.replicas.map((r) => r.id)
      const homes = homesOf(run.users)
      const victim = busiest(ids, homes)
      const load = await runDisrupted(run, {
        label: `${run.strategy.name}: ${run.users.users.length} users, SIGKILL of ${victim} half-way`,
        note: `SIGKILL ${victim}`,
        action: () => lab.kill(run.supervisor, victim),
      })
      const analysis = analyzeDisruption(load, ids, homes, new Set([victim]))
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
        verdict: disruptionVerdict(analysis, users, { event: 'the crash', replica: 'the killed replica' }),
      }
    },
  )
}
