// `statelab bench` as CI runs it: a smoke run of two subjects that need no peers install. It asserts that
// results are produced and correct, never how fast anything was.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { SubjectResult } from '../../bench/http.ts'

const run = promisify(execFile)
const bin = join(import.meta.dirname, '..', '..', 'bin', 'statelab.mjs')

function statelab(...args: string[]) {
  return run(process.execPath, [bin, 'bench', ...args], { timeout: 120_000 })
}

describe('statelab bench', () => {
  const out = mkdtempSync(join(tmpdir(), 'statelab-bench-test-'))
  after(() => rmSync(out, { recursive: true, force: true }))

  it('measures raw node:http and the stateless API with a JWT, checked first, and writes the JSON', async () => {
    const { stdout } = await statelab(
      '--quick',
      '--duration',
      '1',
      '--warmup',
      '0.5',
      '--subjects',
      'ours-jwt',
      '--json',
      '--out',
      out,
    )
    assert.match(stdout, /^raw\s+[\d,]+\s/m)
    assert.match(stdout, /^ours-jwt\s+[\d,]+\s/m)
    assert.match(stdout, /stateless, JWT >= 0\.75: [\d.]+ of raw node:http/)

    const files = readdirSync(out).filter((f) => /^http-.*\.json$/.test(f))
    assert.equal(files.length, 1)
    const results = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as {
      subjects: SubjectResult[]
      targets: { name: string; pass: boolean | undefined }[]
    }
    assert.deepEqual(
      results.subjects.map((s) => [s.name, s.status]),
      [
        ['raw', 'measured'],
        ['ours-jwt', 'measured'],
      ],
    )
    const [raw, jwt] = results.subjects as [SubjectResult, SubjectResult]
    assert.deepEqual(raw.check, { withCredential: 200 })
    assert.deepEqual(jwt.check, { withCredential: 200, withoutCredential: 401 })
    for (const subject of [raw, jwt]) {
      assert.ok(subject.requests! > 0, `${subject.name} answered requests`)
      assert.equal(subject.errors, 0)
      assert.equal(subject.non2xx, 0)
      assert.ok(Number.isFinite(subject.ratio), `${subject.name} ratio ${subject.ratio}`)
      assert.ok(subject.rssBytes! > 0)
    }
    assert.equal(raw.ratio, 1)
    // One ratio per turn; with a single turn it is the subject's ratio itself.
    const turns = jwt.turnRatios ?? []
    assert.ok(turns.length >= 1 && turns.every(Number.isFinite), `turn ratios ${turns}`)
    if (turns.length === 1) assert.ok(Math.abs(turns[0]! - jwt.ratio!) < 1e-9)
    assert.ok(raw.runs!.length >= 2, 'the ceiling is measured before and after the subject')
    assert.ok(results.targets.some((t) => t.name === 'stateless, JWT >= 0.75' && t.pass !== undefined))
  })

  it('lists the subjects, and refuses an unknown one by name', async () => {
    const { stdout } = await statelab('--list')
    for (const name of ['raw', 'ours-jwt', 'ours-memory', 'ours-redis', 'fastify-jwt', 'express-session'])
      assert.match(stdout, new RegExp(`^${name}\\s`, 'm'))
    await assert.rejects(statelab('--subjects', 'raw,nope'), (err: { stderr: string; code: number }) => {
      assert.equal(err.code, 1)
      assert.match(err.stderr, /unknown subject nope/)
      return true
    })
  })
})
