import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'statelab.mjs')

/** The bash blocks under "## API by example", in order, as one script. */
function readmeScript(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## API by example'), readme.indexOf('\n## Errors'))
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n')
}

describe('statelab up, as a user runs it', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'statelab-e2e-'))
  let server: ChildProcess
  let banner = ''
  let stateless = ''
  let stateful = ''
  let gateway = ''

  before(async () => {
    server = spawn(
      process.execPath,
      [
        bin,
        'up',
        '--stateless-port',
        '0',
        '--stateful-port',
        '0',
        '--gateway-port',
        '0',
        '--data-dir',
        dataDir,
      ],
      {
        env: { ...process.env, LOG_LEVEL: 'warn', JWT_SECRET: 'e2e-secret-e2e-secret-e2e-secret-e2e' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    server.stdout!.setEncoding('utf8')
    for await (const chunk of server.stdout!) {
      banner += chunk
      if (banner.includes('Stop with Ctrl+C.')) break
    }
    stateless = /stateless API\s+(http:\S+)/.exec(banner)![1]!
    stateful = /stateful API\s+(http:\S+)/.exec(banner)![1]!
    gateway = /gateway\s+(http:\S+)/.exec(banner)![1]!
  })
  after(async () => {
    if (server.exitCode === null) {
      server.kill('SIGTERM')
      await once(server, 'exit')
    }
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('creates the demo user on first run and prints its password once', async () => {
    const password = /created user "demo" with password (\S+)/.exec(banner)?.[1]
    assert.ok(password, banner)
    const reply = await fetch(`${stateless}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo', password }),
    })
    assert.equal(reply.status, 200)
  })

  it('puts the gateway in front of both APIs, with the layout of seed 001', async () => {
    for (const kind of ['stateless', 'stateful']) {
      const reply = await fetch(`${gateway}/api/${kind}/health`)
      assert.equal(reply.status, 200)
      assert.equal(((await reply.json()) as { api: string }).api, kind)
    }
    const password = /created user "demo" with password (\S+)/.exec(banner)![1]!
    const start = await fetch(`${gateway}/api/stateful/api/session/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo', password }),
    })
    assert.equal(start.status, 201)
    const { session_id } = (await start.json()) as { session_id: string }
    const session = await fetch(`${gateway}/api/stateful/api/session`, {
      headers: { 'x-session-id': session_id },
    })
    assert.equal(session.status, 200)
    assert.equal(((await session.json()) as { username: string }).username, 'demo')
  })

  it('runs every curl example of the README', async () => {
    const script = readmeScript()
      .replaceAll('http://localhost:3000', stateless)
      .replaceAll('http://localhost:3001', stateful)
    const cwd = mkdtempSync(join(tmpdir(), 'statelab-readme-'))
    try {
      const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd })
      const promised = [...readmeScript().matchAll(/# \{"error":\{"code":"(ERR_\w+)"/g)].map((m) => m[1])
      assert.ok(promised.length >= 6)
      for (const code of promised) assert.ok(stdout.includes(`"code":"${code}"`), `README promises ${code}`)
      assert.match(stdout, /hello, stateless world/)
      assert.match(
        stdout,
        /"message_count":1,"files_uploaded":\["[0-9a-f-]{36}"\],"total_bytes":22,"version":3/,
      )
    } finally {
      rmSync(cwd, { recursive: true, force: true })
    }
  })

  for (const kind of ['stateless', 'stateful'] as const) {
    it(`statelab client ${kind} walks the seed's workflow`, async () => {
      const url = kind === 'stateless' ? stateless : stateful
      const { stdout } = await run(process.execPath, [bin, 'client', kind, '--url', url, '--json'])
      const steps = (JSON.parse(stdout) as { step: string; status: number }[]).map(
        (e) => `${e.step}: ${e.status}`,
      )
      assert.deepEqual(
        steps,
        kind === 'stateless'
          ? [
              'register a user: 201',
              'log in: 200',
              'upload a file: 201',
              'download it: 200',
              'delete it: 200',
              'without the token: refused: 401',
            ]
          : [
              'register a user: 201',
              'start a session: 201',
              'upload a file: 201',
              'list my files: 200',
              'download it: 200',
              'what the server remembers: 200',
              'end the session: 200',
              'the ended session: refused: 401',
            ],
      )
    })
  }

  it('prints the side-by-side view when not asked for JSON', async () => {
    const { stdout } = await run(process.execPath, [bin, 'client', 'stateful', '--url', stateful])
    assert.match(stdout, /→ POST \/api\/session\/start\s+│ ← 201/)
    assert.match(stdout, /each request carried only a session id/)
  })
})
