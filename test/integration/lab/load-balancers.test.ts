// The lab's verdicts do not depend on the balancer: through HAProxy and nginx (child processes, from the
// Debian packages) scale and crash give what the built-in gateway gives (experiments.test.ts).
import { execFileSync } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { runCrash } from '../../../src/lab/experiments/crash.ts'
import { LabEnvironment } from '../../../src/lab/experiments/lab-environment.ts'
import { runScale } from '../../../src/lab/experiments/scale.ts'
import { findLbBinary, LB_NAMES, type LbName } from '../../../src/lab/lb/index.ts'
import {
  assertCrashVerdicts,
  assertScaleVerdicts,
  REQUESTS,
  STEPS,
  USERS,
} from '../../support/lab-verdicts.ts'

const required = process.env.STATELAB_REQUIRE_SERVICES === '1' || process.env.CI === 'true'

/** Installs the missing Debian packages when this is root with apt-get; else the reason to skip. */
function ensureInstalled(lbs: readonly LbName[]): string | false {
  const missing = () => lbs.filter((lb) => !isInstalled(lb))
  if (missing().length > 0 && process.getuid?.() === 0 && hasAptGet()) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const install = () =>
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing()], {
        env,
        stdio: 'ignore',
        timeout: 600_000,
      })
    try {
      install()
    } catch {
      // A fresh image has no package lists yet.
      execFileSync('apt-get', ['update'], { env, stdio: 'ignore', timeout: 600_000 })
      install()
    }
  }
  const still = missing()
  if (still.length === 0) return false
  const reason = `${still.join(' and ')} not installed, and this is not root with apt-get (apt-get install ${still.join(' ')})`
  if (required)
    throw new Error(`${reason}; STATELAB_REQUIRE_SERVICES=1 or CI=true says this run must test them`)
  return reason
}

function isInstalled(lb: LbName): boolean {
  try {
    findLbBinary(lb)
    return true
  } catch {
    return false
  }
}

function hasAptGet(): boolean {
  try {
    execFileSync('apt-get', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const skip = ensureInstalled(LB_NAMES)

for (const lb of LB_NAMES) {
  describe(`lab experiments through ${lb}`, { skip }, () => {
    let lab: LabEnvironment | undefined
    after(() => lab?.close())
    before(async () => {
      lab = await LabEnvironment.open({ store: 'sqlite', keepReplicas: true, lb })
    })

    it('scale 1 → 3: memory forgets users, jwt nobody and spreads the load', async () => {
      const result = await runScale(lab!, {
        strategies: ['memory', 'jwt'],
        users: USERS,
        requests: REQUESTS,
        steps: STEPS,
      })
      assertScaleVerdicts(result, ['memory', 'jwt'])
    })

    it('crash of 1 of 3: sticky loses only the dead replica’s users, central nobody, no GET fails', async () => {
      const result = await runCrash(lab!, {
        strategies: ['sticky', 'central'],
        users: USERS,
        requests: REQUESTS,
      })
      assertCrashVerdicts(result, ['sticky', 'central'])
    })
  })
}
