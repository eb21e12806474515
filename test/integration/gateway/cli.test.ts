import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { fetchJson, TestBackend } from './backends.ts'

const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'statelab.mjs')

describe('statelab gateway', () => {
  const backends = ['stateless-1', 'stateful-1', 'stateful-2'].map((name) => new TestBackend(name))
  let child: ChildProcess
  let banner = ''
  let url = ''

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    await Promise.all(backends.map((b) => b.kill()))
  })
  before(async () => {
    await Promise.all(backends.map((b) => b.listen()))
    const [stateless, stateful1, stateful2] = backends
    child = spawn(
      process.execPath,
      [
        bin,
        'gateway',
        '--port',
        '0',
        '--stateless',
        stateless!.url,
        '--stateful',
        `${stateful1!.url},${stateful2!.url}`,
        '--policy-stateful',
        'round-robin',
        '--health-interval',
        '100',
      ],
      { env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    child.stdout!.setEncoding('utf8')
    for await (const chunk of child.stdout!) {
      banner += chunk
      if (banner.includes('Stop with Ctrl+C.')) break
    }
    url = /statelab gateway on (http:\S+)/.exec(banner)![1]!
  })

  it('prints where each prefix goes and routes both pools as told', async () => {
    assert.match(
      banner,
      new RegExp(`/api/stateful/\\.\\.\\.\\s+->\\s+${backends[1]!.url}, ${backends[2]!.url}`),
    )
    assert.equal((await fetchJson(`${url}/api/stateless/api/files`)).body.name, 'stateless-1')
    const names = new Set<string>()
    for (let i = 0; i < 4; i++) names.add((await fetchJson(`${url}/api/stateful/api/files`)).body.name)
    assert.deepEqual([...names].sort(), ['stateful-1', 'stateful-2'])
    const pools = (await fetchJson<{ pools: Record<string, { policy: string }> }>(`${url}/_gateway/pools`))
      .body
    assert.deepEqual(
      Object.entries(pools.pools).map(([name, pool]) => [name, pool.policy]),
      [
        ['stateless', 'round-robin'],
        ['stateful', 'round-robin'],
      ],
    )
  })

  it('refuses an unknown policy with a message naming the flag', async () => {
    const run = promisify(execFile)
    await assert.rejects(
      run(process.execPath, [bin, 'gateway', '--port', '0', '--policy-stateful', 'random']),
      (err) => {
        const { stderr, code } = err as { stderr: string; code: number }
        assert.equal(code, 1)
        assert.match(
          stderr,
          /--policy-stateful must be one of round-robin, least-connections, sticky, ip-hash; got "random"/,
        )
        return true
      },
    )
  })
})
