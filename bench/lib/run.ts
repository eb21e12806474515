import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { Progress } from '../../src/cli/report.ts'
import { describeMachine } from '../../src/lab/results.ts'

/** Where every benchmark writes its JSON (git-ignored). */
export const RESULTS_DIR = new URL('../results/', import.meta.url).pathname

/** Writes a benchmark's results as `<dir>/<name>-<time>.json` (default bench/results/) and says where. */
export function writeResults(name: string, startedAt: Date, results: unknown, dir = RESULTS_DIR): void {
  mkdirSync(dir, { recursive: true })
  // Colons are not allowed in Windows file names.
  const file = join(dir, `${name}-${startedAt.toISOString().replaceAll(':', '-')}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  process.stdout.write(`\nresults: ${relative(process.cwd(), file)}\n`)
}

/** The fields every benchmark's results start with: when it ran, whether quick, and on what machine. */
export function describeRun(startedAt: Date, quick: boolean, machine: Record<string, unknown> = {}) {
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    quick,
    machine: { ...describeMachine(), ...machine },
  }
}

/** A check that throws unless `ms` more fits in `budgetMs` (counted from this call) and `signal` is not aborted. */
export function timeBudget(budgetMs: number, signal: AbortSignal): (ms: number) => void {
  const deadline = performance.now() + budgetMs
  return (ms) => {
    signal.throwIfAborted()
    if (performance.now() + ms > deadline)
      throw new Error(`the run's time budget (${budgetMs / 1000} s) is spent`)
  }
}

/** Runs a benchmark's main: a failure is reported in one line (a TypeError is a bad option), scratch removed. */
export async function runBenchmark(
  name: string,
  progress: Progress,
  scratch: string,
  main: () => Promise<void>,
) {
  try {
    await main()
  } catch (err) {
    progress.done()
    const message = err instanceof TypeError ? err.message : ((err as Error).stack ?? String(err))
    process.stderr.write(`${name} failed: ${message}\n`)
    process.exitCode = 1
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/** A benchmark target: met, missed, or not measured this run. Reported, never a reason to fail. */
export interface TargetCheck {
  readonly name: string
  readonly pass: boolean | undefined
  readonly detail: string
}

/** `PASS`, `MISS` or `n/a`, then what was measured against what. */
export function formatCheck(check: TargetCheck): string {
  return `${check.pass === undefined ? 'n/a ' : check.pass ? 'PASS' : 'MISS'}  ${check.name}: ${check.detail}`
}
