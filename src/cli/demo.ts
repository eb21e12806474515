import { printCalcReport, runCalcDemo } from './demo/calc.ts'
import { printCompareReport, runCompareDemo } from './demo/compare.ts'
import { openTarget } from './demo/target.ts'
import { parse } from './options.ts'

const HELP = `Usage: statelab demo calc|compare [--stateless-url URL --stateful-url URL] [--json]

  calc     seed 002's calculator: ((10 + 5) × 2) - 3 = 27 on both APIs, side by side; how many numbers
           and bytes each sent, and what only the stateful one can do (history, undo, redo, stats)
  compare  seed 000's goldfish and long memory: log in, upload document.txt, list my files, once with
           the password on every request and once with a session id; what each request carried and
           what each server remembers

Without URLs, both APIs start in this process on free ports over a throw-away data directory. With
both URLs, the demo uses running APIs and registers a fresh user on each. --json prints one JSON
document. The exit code is 1 when any reply was not the expected one.`

/**
 * `statelab demo calc|compare`: a seed's comparison, run live on both APIs.
 *
 * @example
 * await run(['calc', '--json'])
 */
export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'stateless-url': { type: 'string' },
    'stateful-url': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  const name = positionals[0]
  if (values.help || (name !== 'calc' && name !== 'compare') || positionals.length > 1) {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  const target = await openTarget({ stateless: values['stateless-url'], stateful: values['stateful-url'] })
  try {
    const report = name === 'calc' ? await runCalcDemo(target) : await runCompareDemo(target)
    if (values.json) console.log(JSON.stringify(report, null, 2))
    else if (report.demo === 'calc') printCalcReport(report, target)
    else printCompareReport(report, target)
    if (!report.ok) process.exitCode = 1
  } finally {
    await target.close()
  }
}
