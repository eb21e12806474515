// The results a report is made of: the JSON files the lab wrote, the latest of each experiment.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppError } from '../../core/errors.ts'
import type { CompareResult } from '../experiments/compare.ts'
import type { CrashResult } from '../experiments/crash.ts'
import type { MemoryResult } from '../experiments/memory.ts'
import type { RestartResult } from '../experiments/restart.ts'
import type { RevocationResult } from '../experiments/revocation.ts'
import type { ScaleResult } from '../experiments/scale.ts'
import type { ScaleDownResult } from '../experiments/scale-down.ts'

/** The latest result of each experiment found, and the files they came from. */
export interface ReportInput {
  readonly scale?: ScaleResult
  readonly crash?: CrashResult
  readonly 'scale-down'?: ScaleDownResult
  readonly restart?: RestartResult
  readonly revocation?: RevocationResult
  readonly memory?: MemoryResult
  readonly compare?: CompareResult
  readonly sources: readonly string[]
}

type AnyResult = Exclude<ReportInput[keyof ReportInput], readonly string[] | undefined>

const KNOWN = new Set(['scale', 'crash', 'scale-down', 'restart', 'revocation', 'memory', 'compare'])

function parseResult(file: string): AnyResult {
  let value: unknown
  try {
    value = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new AppError('ERR_VALIDATION', `${file} is not a JSON lab result: ${(err as Error).message}`)
  }
  const { experiment, startedAt } = (value ?? {}) as { experiment?: unknown; startedAt?: unknown }
  if (typeof experiment !== 'string' || !KNOWN.has(experiment) || typeof startedAt !== 'string')
    throw new AppError(
      'ERR_VALIDATION',
      `${file} is not a lab result (no known "experiment" and "startedAt"); lab-results/*.json are`,
    )
  return value as AnyResult
}

/**
 * The latest result of each experiment among `files`, or among the `*.json` files of `dir` when none are
 * given. A compare result's own experiments count as results too, of its time.
 */
export function collectResults(options: {
  readonly dir: string
  readonly files?: readonly string[]
}): ReportInput {
  let files = options.files ?? []
  if (files.length === 0) {
    let names: string[]
    try {
      names = readdirSync(options.dir)
    } catch {
      throw new AppError(
        'ERR_NOT_FOUND',
        `no ${options.dir}/ directory: run an experiment first (statelab lab compare --quick)`,
      )
    }
    files = names
      .filter((name) => name.endsWith('.json') && KNOWN.has(name.replace(/-\d{4}-\d\d-\d\dT.*$/, '')))
      .map((name) => join(options.dir, name))
  }
  const latest = new Map<string, AnyResult>()
  const from = new Map<string, string>()
  const offer = (result: AnyResult, file: string) => {
    const known = latest.get(result.experiment)
    if (known && known.startedAt >= result.startedAt) return
    latest.set(result.experiment, result)
    from.set(result.experiment, file)
  }
  for (const file of files) {
    const result = parseResult(file)
    offer(result, file)
    if (result.experiment === 'compare')
      for (const nested of Object.values(result.results)) offer(nested, `${file} (${nested.experiment})`)
  }
  if (latest.size === 0)
    throw new AppError(
      'ERR_NOT_FOUND',
      `no lab results in ${options.dir}/: run an experiment first (statelab lab compare --quick)`,
    )
  return { ...Object.fromEntries(latest), sources: [...new Set(from.values())].sort() } as ReportInput
}
