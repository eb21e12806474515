import { AppError } from '../core/errors.ts'
import { type CrashResult, runCrash } from '../lab/experiments/crash.ts'
import { LabEnvironment } from '../lab/experiments/lab-environment.ts'
import { type RestartResult, runRestart } from '../lab/experiments/restart.ts'
import { runScale, type ScaleResult } from '../lab/experiments/scale.ts'
import { runScaleDown, type ScaleDownResult } from '../lab/experiments/scale-down.ts'
import {
  formatCrashReport,
  formatRestartReport,
  formatScaleDownReport,
  formatScaleReport,
  LabProgress,
  writeResults,
} from '../lab/results.ts'
import { CENTRAL_STORES, type CentralStore, parseStrategyNames, STRATEGY_NAMES } from '../lab/strategies.ts'
import { parse } from './options.ts'

const FULL = { users: 24, requests: 40 }
const QUICK = { users: 12, requests: 20 }

const EXPERIMENTS = ['scale', 'crash', 'restart', 'scale-down'] as const
type Experiment = (typeof EXPERIMENTS)[number]
type LabResult = ScaleResult | CrashResult | RestartResult | ScaleDownResult

const HELP = `Usage: statelab lab scale|crash|restart|scale-down [--strategies ${STRATEGY_NAMES.join(',')}] [--users V] [--requests R]
                            [--quick] [--store sqlite|redis|postgres] [--concurrency N] [--out DIR] [--json] [--verbose]

Runs replicas of the APIs as child processes on 127.0.0.1 behind the built-in gateway, breaks them on
purpose and measures what each way of remembering users loses.

  scale   users log in while there is one replica; replicas are added (1 → 3 → 10; --quick: 1 → 3) and
          the users keep requesting: the share of requests refused because the server forgot the user,
          req/s, p50/p99 and each replica's share of the load, per step
  crash   3 replicas; half-way through, the replica that took the most logins is SIGKILLed: sessions
          lost, requests failed, and the time until every request succeeds again
  restart      3 replicas; half-way through, each is drained, restarted on its port and put back, one
               after the other (a deployment): users logged out, requests failed
  scale-down   3 replicas; half-way through, the replica that took the most logins leaves the pool and
               stops gracefully: who lost their session, its users or others

Strategies:
  jwt      stateless replicas, a JWT on every request, round-robin
  memory   sessions in each replica's memory, round-robin (the broken case)
  sticky   sessions in each replica's memory, a sticky-cookie balancer
  central  sessions in a store every replica shares: Redis when REDIS_URL (default
           redis://127.0.0.1:6379) answers, else a SQLite file; --store chooses (postgres uses
           DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)

Each virtual user logs in once, then repeats GET /api/files (--requests per step for scale, in all
for the others) with at most --concurrency requests in flight (default 8); a user the server forgot does
not log in again. Defaults: ${FULL.users} users × ${FULL.requests} requests (--quick: ${QUICK.users} × ${QUICK.requests}).

The table goes to stdout (--json: the whole result instead), progress to stderr, and the result to
<DIR>/<experiment>-<time>.json (default DIR lab-results). Redis keys and PostgreSQL schemas the run
creates are deleted at the end.`

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new AppError('ERR_CONFIG', `--${name} must be an integer from 1 to 100000; got "${value}"`)
  return n
}

function storeFlag(value: string | undefined): CentralStore | undefined {
  if (value === undefined) return undefined
  if (!(CENTRAL_STORES as readonly string[]).includes(value))
    throw new AppError('ERR_CONFIG', `--store must be one of ${CENTRAL_STORES.join(', ')}; got "${value}"`)
  return value as CentralStore
}

type RunOptions = Parameters<typeof runCrash>[1]

const RUNS: { readonly [E in Experiment]: (lab: LabEnvironment, options: RunOptions) => Promise<LabResult> } =
  {
    scale: runScale,
    crash: runCrash,
    restart: runRestart,
    'scale-down': runScaleDown,
  }

function isExperiment(name: string | undefined): name is Experiment {
  return (EXPERIMENTS as readonly (string | undefined)[]).includes(name)
}

function formatReport(result: LabResult): string {
  switch (result.experiment) {
    case 'scale':
      return formatScaleReport(result)
    case 'crash':
      return formatCrashReport(result)
    case 'restart':
      return formatRestartReport(result)
    case 'scale-down':
      return formatScaleDownReport(result)
  }
}

/**
 * `statelab lab scale|crash|restart|scale-down`: an experiment on replicas behind the gateway.
 *
 * @example
 * await run(['crash', '--quick', '--strategies', 'sticky,central'])
 */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    strategies: { type: 'string' },
    users: { type: 'string' },
    requests: { type: 'string' },
    quick: { type: 'boolean' },
    store: { type: 'string' },
    concurrency: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  const experiment = positionals[0]
  if (values.help || !isExperiment(experiment) || positionals.length > 1) {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  const quick = values.quick === true
  const defaults = quick ? QUICK : FULL
  const strategies = parseStrategyNames(values.strategies ?? STRATEGY_NAMES.join(','))
  const users = positiveInt(values.users, 'users') ?? defaults.users
  const requests = positiveInt(values.requests, 'requests') ?? defaults.requests
  const concurrency = positiveInt(values.concurrency, 'concurrency')
  const store = storeFlag(values.store)
  if (experiment !== 'scale' && requests < 2)
    throw new AppError(
      'ERR_CONFIG',
      `--requests must be at least 2 for ${experiment}: the disruption comes half-way`,
    )

  const progress = new LabProgress(process.stderr)
  const lab = await LabEnvironment.open({
    store,
    progress,
    log: values.verbose ? (line) => progress.note(line) : undefined,
  })
  // Ctrl-C: stop the replicas and delete what the run wrote before leaving.
  const interrupt = () => {
    progress.note('interrupted: stopping the replicas')
    void lab.close().finally(() => process.exit(130))
  }
  process.once('SIGINT', interrupt)
  let result: LabResult
  try {
    const options = { strategies, users, requests, concurrency, quick }
    result = await RUNS[experiment](lab, options)
  } finally {
    progress.phase('stopping the replicas')
    await lab.close()
    progress.done()
    process.off('SIGINT', interrupt)
  }
  const file = writeResults(result, values.out)
  if (values.json) console.log(JSON.stringify(result, null, 2))
  else {
    console.log(formatReport(result))
    console.log(`\nresults: ${file}`)
  }
}
