import { runHttpBench } from '../../bench/http.ts'
import { CEILING, SUBJECTS } from '../../bench/lib/http-subjects.ts'
import { AppError } from '../core/errors.ts'
import { intFlag, parse } from './options.ts'
import { formatTable } from './report.ts'

const HELP = `Usage: statelab bench [--subjects raw,ours-jwt,...] [--quick] [--duration S] [--warmup S]
                      [--connections N] [--json] [--out DIR] [--profile] [--list]

Measures every way of remembering the caller over HTTP, statelab's and the usual libraries' (bench/peers/),
each in a child process on its own core, with autocannon on the other: req/s, p50/p99/p99.9 latency, errors,
server RSS, and the ratio to bare node:http measured in the same run. Every subject is checked before it is
measured (200 with its credential, 401 without); one that answers wrongly is reported as failed.

  --subjects LIST   the subjects to measure (default all; raw, the ceiling, is always measured)
  --list            list the subjects and exit
  --quick           3 s per subject after 1 s of warm-up (default 10 s after 2 s)
  --duration S      seconds measured per subject; --warmup S: seconds of warm-up before
  --connections N   concurrent connections (default 50)
  --json            also write the results to DIR/http-<time>.json (default DIR bench/results);
                    statelab lab report draws the latest one as charts
  --profile         run every server under node --cpu-prof and print where its time went

The peers' packages (Express, Fastify, jose ...) are installed into bench/peers/node_modules on first use.
Redis and PostgreSQL subjects use REDIS_URL (default redis://127.0.0.1:6379) and DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/test), and are skipped, saying why, when those do not answer.`

function seconds(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0.1 || n > 3600)
    throw new AppError('ERR_CONFIG', `--${name} must be a number of seconds from 0.1 to 3600; got "${value}"`)
  return n
}

function formatSubjects(): string {
  return formatTable(
    ['subject', 'side', 'needs', 'what'],
    SUBJECTS.map((s) => [
      s.name,
      s.side,
      [s.needs, s.needsPeers && 'bench/peers'].filter(Boolean).join(', '),
      s.description,
    ]),
    [false, false, false, false],
  )
}

/**
 * `statelab bench`: every subject against the raw node:http ceiling and against the peers.
 *
 * @example
 * await run(['--quick', '--subjects', 'ours-jwt,fastify-jwt'])
 */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    subjects: { type: 'string' },
    list: { type: 'boolean' },
    quick: { type: 'boolean' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    profile: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help || positionals.length > 0) {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  if (values.list) {
    console.log(`${formatSubjects()}\n\n${CEILING} is always measured: every ratio divides by it.`)
    return
  }
  const connections = intFlag(values.connections, 'connections', 1, 10_000)
  const subjects = values.subjects
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  const unknown = subjects?.filter((name) => !SUBJECTS.some((s) => s.name === name)) ?? []
  if (unknown.length > 0)
    throw new AppError(
      'ERR_CONFIG',
      `--subjects: unknown subject ${unknown.join(', ')}; one of ${SUBJECTS.map((s) => s.name).join(', ')}`,
    )
  await runHttpBench({
    subjects,
    quick: values.quick ?? false,
    durationS: seconds(values.duration, 'duration'),
    warmupS: seconds(values.warmup, 'warmup'),
    connections,
    json: values.json ?? false,
    outDir: values.out,
    profile: values.profile ?? false,
  })
}
