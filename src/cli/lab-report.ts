import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { collectResults, renderReport } from '../lab/report/index.ts'
import { parse } from './options.ts'

const HELP = `Usage: statelab lab report [FILE.json ...] [--dir DIR] [--bench-dir DIR] [--out FILE]

Turns the lab's JSON results into one self-contained HTML page (inline SVG charts and CSS, nothing
fetched): throughput and latency per strategy, sessions lost per fault, memory per session, revocation
delay, data sent per request, what a request costs in the HTTP benchmark (each subject's ratio to raw
node:http, per second and per CPU-second, and the run's targets) when a statelab bench --json result
exists, and the seeds' comparison with its verdicts when a compare result exists.

Without FILEs it takes the latest result of each experiment in --dir (default lab-results; a compare
result's own experiments count too) and the latest http-*.json in --bench-dir (default bench/results;
none there is no error). FILEs may be either kind. The page goes to --out FILE (default
DIR/report.html, DIR being --dir's); its path is printed.`

/**
 * `statelab lab report`: lab-results/*.json and bench/results/http-*.json → lab-results/report.html.
 *
 * @example
 * await run([])
 */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    dir: { type: 'string' },
    'bench-dir': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  const dir = values.dir ?? 'lab-results'
  const input = collectResults({ dir, benchDir: values['bench-dir'], files: positionals })
  const file = resolve(values.out ?? join(dir, 'report.html'))
  mkdirSync(resolve(file, '..'), { recursive: true })
  writeFileSync(file, renderReport(input))
  console.log(relative(process.cwd(), file) || file)
}
