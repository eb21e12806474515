import { AppError } from '../core/errors.ts'
import { type CompareResult, runCompare } from '../lab/experiments/compare.ts'
import { type CrashResult, runCrash } from '../lab/experiments/crash.ts'
import { LabEnvironment } from '../lab/experiments/lab-environment.ts'
import { type MemoryResult, runMemory } from '../lab/experiments/memory.ts'
import { type RestartResult, runRestart } from '../lab/experiments/restart.ts'
import { type RevocationResult, runRevocation } from '../lab/experiments/revocation.ts'
import { runScale, type ScaleResult } from '../lab/experiments/scale.ts'
import { runScaleDown, type ScaleDownResult } from '../lab/experiments/scale-down.ts'
import { LB_NAMES } from '../lab/lb/index.ts'
import {
  formatCompareReport,
  formatCrashReport,
  formatMemoryReport,
  formatRestartReport,
  formatRevocationReport,
  formatScaleDownReport,
  formatScaleReport,
  LabProgress,
  writeResults,
} from '../lab/results.ts'
import {
  availableStrategyNames,
  CENTRAL_STORES,
  parseStrategyNames,
  STRATEGY_NAMES,
} from '../lab/strategies.ts'
import { choiceFlag, intFlag, parse } from './options.ts'

const FULL = { users: 24, requests: 40 }
const QUICK = { users: 12, requests: 20 }

const EXPERIMENTS = ['scale', 'crash', 'restart', 'scale-down', 'revocation', 'memory', 'compare'] as const
type Experiment = (typeof EXPERIMENTS)[number]
type LabResult =
  | ScaleResult
  | CrashResult
  | RestartResult
  | ScaleDownResult
  | RevocationResult
  | MemoryResult
  | CompareResult

const HELP = `Usage: statelab lab scale|crash|restart|scale-down|revocation|memory|compare [--strategies ${STRATEGY_NAMES.join(',')}] [--users V] [--requests R]
                            [--quick] [--store sqlite|redis|postgres] [--concurrency N] [--lb builtin|${LB_NAMES.join('|')}]
                            [--sessions N] [--out DIR] [--json] [--verbose]
       statelab lab report [FILE.json ...] [--dir DIR] [--bench-dir DIR] [--out FILE]   (one HTML page of charts from the results)
       statelab lab lb-config --lb ${LB_NAMES.join('|')} [...]   (a HAProxy or nginx configuration: lb-config --help)

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
  revocation   users log out (JWT: also with a denylist, and "log out everywhere"); a copy of what they
               sent is replayed through the gateway every ~50 ms, then asked of every replica: how long
               the old credential keeps working (tokens and sealed cookies run with a 5 s lifetime,
               --quick 2 s, so that their expiry comes within the run). --users per row, default 4
  memory       --sessions sessions (default 3,000, --quick 300) started on 2 replicas: each replica's heap
               after a full GC (SIGUSR1 opens its inspector on 127.0.0.1), its RSS, the bytes in the
               central store, extrapolated to 100,000 sessions; and the bytes of credential per request
  compare      all of the above on shared replicas, then the seeds' comparison tables (001, 002, 003)
               with a measured value in every cell and a verdict on each seed's claim
  report       lab-results/report.html: one self-contained page of charts from the latest JSON result of
               each experiment (or the files given)

  --lb haproxy|nginx   put HAProxy or nginx in front of the replicas instead of the built-in gateway, as a
                       child process with its files in a temporary directory (Debian packages haproxy,
                       nginx); the same policies, health checks and failover (docs/lab.md)

Strategies:
  jwt      stateless replicas, a JWT on every request, round-robin
  memory   sessions in each replica's memory, round-robin (the broken case)
  sticky   sessions in each replica's memory, a sticky-cookie balancer
  central  sessions in a store every replica shares: Redis when REDIS_URL (default
           redis://127.0.0.1:6379) answers, else a SQLite file; --store chooses (postgres uses
           DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
  replicated  every session in every replica's memory, each change broadcast to the others through
           Redis pub/sub (REDIS_URL); a new replica copies its peers' sessions before it serves;
           round-robin. Needs Redis: without it, refused when named and left out by default
  cookie   no session on the server: the whole session sealed (AES-256-GCM) in the client's cookie,
           re-issued as it changes; round-robin

Each virtual user logs in once, then repeats GET /api/files (--requests per step for scale, in all
for the others) with at most --concurrency requests in flight (default 8); a user the server forgot does
not log in again. Defaults: ${FULL.users} users × ${FULL.requests} requests (--quick: ${QUICK.users} × ${QUICK.requests}).

The table goes to stdout (--json: the whole result instead), progress to stderr, and the result to
<DIR>/<experiment>-<time>.json (default DIR lab-results). Redis keys and PostgreSQL schemas the run
creates are deleted at the end.`

const positiveInt = (value: string | undefined, name: string) => intFlag(value, name, 1, 100_000)

type RunOptions = Parameters<typeof runCrash>[1] & {
  /** --users as given: the experiments with their own default (revocation) take it only then. */
  readonly usersGiven: number | undefined
  readonly sessions: number | undefined
}

const RUNS: { readonly [E in Experiment]: (lab: LabEnvironment, options: RunOptions) => Promise<LabResult> } =
  {
    scale: runScale,
    crash: runCrash,
    restart: runRestart,
    'scale-down': runScaleDown,
    revocation: (lab, options) => runRevocation(lab, { ...options, users: options.usersGiven }),
    memory: runMemory,
    compare: runCompare,
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
    case 'revocation':
      return formatRevocationReport(result)
    case 'memory':
      return formatMemoryReport(result)
    case 'compare':
      return formatCompareReport(result)
  }
}

/**
 * `statelab lab scale|crash|restart|scale-down`: an experiment on replicas behind the gateway.
 *
 * @example
 * await run(['crash', '--quick', '--strategies', 'sticky,central'])
 */
export async function run(args: string[]): Promise<void> {
  if (args[0] === 'lb-config') return (await import('./lab-lb-config.ts')).run(args.slice(1))
  if (args[0] === 'report') return (await import('./lab-report.ts')).run(args.slice(1))
  const { values, positionals } = parse(args, {
    lb: { type: 'string' },
    strategies: { type: 'string' },
    users: { type: 'string' },
    requests: { type: 'string' },
    quick: { type: 'boolean' },
    store: { type: 'string' },
    concurrency: { type: 'string' },
    sessions: { type: 'string' },
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
  const named = values.strategies === undefined ? undefined : parseStrategyNames(values.strategies)
  const usersGiven = positiveInt(values.users, 'users')
  const users = usersGiven ?? defaults.users
  const sessions = positiveInt(values.sessions, 'sessions')
  const requests = positiveInt(values.requests, 'requests') ?? defaults.requests
  const concurrency = positiveInt(values.concurrency, 'concurrency')
  const store = choiceFlag(values.store, 'store', CENTRAL_STORES)
  if (experiment !== 'scale' && requests < 2)
    throw new AppError(
      'ERR_CONFIG',
      `--requests must be at least 2 for ${experiment}: the disruption comes half-way`,
    )

  const progress = new LabProgress(process.stderr)
  const lab = await LabEnvironment.open({
    store,
    lb: choiceFlag(values.lb, 'lb', ['builtin', ...LB_NAMES]),
    // compare runs every experiment: they share the replicas instead of starting their own.
    keepReplicas: experiment === 'compare',
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
    // Not named: every strategy this machine can run (replicated needs Redis; named, it is refused without).
    const strategies = named ?? availableStrategyNames(lab.central)
    if (!named && !lab.central.broadcast.ok)
      progress.note(`replicated left out: it broadcasts through Redis, and ${lab.central.broadcast.reason}`)
    const options = { strategies, users, usersGiven, requests, concurrency, quick, sessions }
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
