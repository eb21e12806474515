// The results a report is made of: the JSON files the lab wrote, the latest of each experiment, and the
// latest HTTP benchmark run.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SubjectResult } from '../../../bench/http.ts'
import type { TargetCheck } from '../../../bench/lib/run.ts'
import { AppError } from '../../core/errors.ts'
import type { CompareResult } from '../experiments/compare.ts'
import type { CrashResult } from '../experiments/crash.ts'
import type { MemoryResult } from '../experiments/memory.ts'
import type { RestartResult } from '../experiments/restart.ts'
import type { RevocationResult } from '../experiments/revocation.ts'
import type { ScaleResult } from '../experiments/scale.ts'
import type { ScaleDownResult } from '../experiments/scale-down.ts'
import type { describeMachine } from '../results.ts'

/** Where `statelab bench --json` writes its `http-<time>.json` files. */
const BENCH_DIR = 'bench/results'

/** The part of a `statelab bench --json` document (bench/http.ts) a report reads. */
export interface HttpBenchResult {
  readonly startedAt: string
  readonly quick: boolean
  readonly machine: ReturnType<typeof describeMachine>
  readonly settings: { readonly durationS: number; readonly warmupS: number; readonly connections: number }
  /** In the order they ran, the ceiling (ratio 1) first. */
  readonly subjects: readonly SubjectResult[]
  readonly targets: readonly TargetCheck[]
}

/** The latest result of each experiment found, the latest HTTP benchmark run, and the files they came from. */
export interface ReportInput {
  readonly scale?: ScaleResult
  readonly crash?: CrashResult
  readonly 'scale-down'?: ScaleDownResult
  readonly restart?: RestartResult
  readonly revocation?: RevocationResult
  readonly memory?: MemoryResult
  readonly compare?: CompareResult
  readonly bench?: HttpBenchResult
  readonly sources: readonly string[]
}

type AnyResult = NonNullable<ReportInput[Exclude<keyof ReportInput, 'bench' | 'sources'>]>

const KNOWN = new Set(['scale', 'crash', 'scale-down', 'restart', 'revocation', 'memory', 'compare'])

/** Whether `value` is a `statelab bench --json` document: its subjects each with a name and a status. */
function isHttpBench(value: object): value is HttpBenchResult {
  const { startedAt, subjects, targets } = value as Record<string, unknown>
  return (
    typeof startedAt === 'string' &&
    Array.isArray(targets) &&
    Array.isArray(subjects) &&
    subjects.every(
      (s: { name?: unknown; status?: unknown } | null) =>
        typeof s?.name === 'string' && typeof s.status === 'string',
    )
  )
}

function parseResult(file: string): AnyResult | HttpBenchResult {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new AppError('ERR_VALIDATION', `${file} is not JSON: ${(err as Error).message}`)
  }
  const result = (value ?? {}) as { experiment?: unknown; startedAt?: unknown }
  if (
    typeof result.experiment === 'string' &&
    KNOWN.has(result.experiment) &&
    typeof result.startedAt === 'string'
  )
    return result as AnyResult
  if (result.experiment === undefined && isHttpBench(result)) return result
  throw new AppError(
    'ERR_VALIDATION',
    `${file} is neither a lab result (a known "experiment" and "startedAt") nor an HTTP benchmark result ("startedAt", "subjects" and "targets"); lab-results/*.json and bench/results/http-*.json are`,
  )
}

/** The `<prefix>-<ISO time>.json` files of `dir` whose prefix `keep` accepts; none when there is no `dir`. */
function listResults(dir: string, keep: (prefix: string) => boolean): string[] {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((name) => name.endsWith('.json') && keep(name.replace(/-\d{4}-\d\d-\d\dT.*$/, '')))
    .map((name) => join(dir, name))
}

/**
 * The latest result of each experiment and the latest HTTP benchmark run among `files`, or, when none are
 * given, among the `*.json` files of `dir` and the `http-*.json` files of `benchDir` (default bench/results;
 * none there is no error). A compare result's own experiments count as results too, of its time.
 */
export function collectResults(options: {
  readonly dir: string
  readonly benchDir?: string
  readonly files?: readonly string[]
}): ReportInput {
  const benchDir = options.benchDir ?? BENCH_DIR
  let files = options.files ?? []
  if (files.length === 0)
    files = [
      ...listResults(options.dir, (prefix) => KNOWN.has(prefix)),
      ...listResults(benchDir, (prefix) => prefix === 'http'),
    ]
  const latest = new Map<string, AnyResult>()
  const from = new Map<string, string>()
  let bench: HttpBenchResult | undefined
  const offer = (result: AnyResult, file: string) => {
    const known = latest.get(result.experiment)
    if (known && known.startedAt >= result.startedAt) return
    latest.set(result.experiment, result)
    from.set(result.experiment, file)
  }
  for (const file of files) {
    const result = parseResult(file)
    if (!('experiment' in result)) {
      if (!bench || bench.startedAt < result.startedAt) {
        bench = result
        from.set('bench', file)
      }
      continue
    }
    offer(result, file)
    if (result.experiment === 'compare')
      for (const nested of Object.values(result.results)) offer(nested, `${file} (${nested.experiment})`)
  }
  if (latest.size === 0 && !bench)
    throw new AppError(
      'ERR_NOT_FOUND',
      `no lab results in ${options.dir}/ and no HTTP benchmark result in ${benchDir}/: run an experiment first (statelab lab compare --quick), or statelab bench --json`,
    )
  return {
    ...Object.fromEntries(latest),
    ...(bench && { bench }),
    sources: [...new Set(from.values())].sort(),
  } as ReportInput
}
