// `statelab lab report`: one self-contained page, rendered from a real `lab compare --quick` result.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AppError } from '../../../src/core/errors.ts'
import type { CompareResult } from '../../../src/lab/experiments/compare.ts'
import { escapeHtml, renderBarChart } from '../../../src/lab/report/charts.ts'
import { collectResults, renderReport } from '../../../src/lab/report/index.ts'
import { formatCompareReport } from '../../../src/lab/results.ts'

const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url))
const FIXTURE = join(FIXTURES, 'compare-2026-11-22T17-13-33.333Z.json')
const compare = JSON.parse(readFileSync(FIXTURE, 'utf8')) as CompareResult

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern, 'g'))?.length ?? 0
}

describe('lab report', () => {
  const html = renderReport(collectResults({ dir: FIXTURES }), new Date('2026-11-22T18:00:00Z'))

  it('has a chart with a title, a description and a table of its numbers for each figure', () => {
    for (const id of [
      'throughput',
      'latency',
      'sessions-lost',
      'memory-per-session',
      'data-sent',
      'revocation',
    ])
      assert.match(html, new RegExp(`<figure id="${id}">`), `no ${id} chart`)
    const charts = count(html, /<svg /)
    assert.ok(charts >= 6, `${charts} charts`)
    assert.equal(count(html, /role="img" aria-labelledby="[\w-]+-title [\w-]+-desc"/), charts)
    assert.equal(count(html, /<title id="/), charts)
    assert.equal(count(html, /<desc id="/), charts)
    // A table fallback under every chart, and the comparison table.
    assert.equal(count(html, /<table>/), charts + 1)
    assert.ok(count(html, /<caption>/) >= charts + 1)
    assert.match(html, /<html lang="en">/)
  })

  it('shows the measured numbers', () => {
    const { scale, crash, memory, revocation } = compare.results
    const jwt = scale.rows.find((r) => r.strategy === 'jwt')!
    assert.ok(
      html.includes(Math.round(jwt.steps[0]!.requestsPerSecond).toLocaleString('en-US')),
      'jwt req/s on one replica',
    )
    const sticky = crash.rows.find((r) => r.strategy === 'sticky')!
    assert.ok(html.includes(`(${sticky.sessionsLost}/${sticky.users})`), 'sticky users lost in the crash')
    const cookie = memory.rows.find((r) => r.strategy === 'cookie')!
    assert.ok(html.includes(`${Math.round(cookie.credentialBytes)} B`), 'cookie bytes per request')
    const jwtRevocation = revocation.rows.find((r) => r.variant === 'jwt')!
    assert.ok(
      html.includes(`${(jwtRevocation.delayMs! / 1000).toFixed(1)} s: at expiry`),
      'jwt revocation delay',
    )
    assert.ok(html.includes('refused at once'))
    // The comparison with the seeds' claims, quoted.
    assert.match(html, /Memory explosion/)
    assert.match(html, /Very High/)
    for (const cell of compare.cells) assert.ok(html.includes(escapeHtml(cell.value)), `cell ${cell.value}`)
  })

  it('says which central store and load balancer the run used (older results: the store alone)', () => {
    assert.ok(html.includes(`; central store: ${escapeHtml(compare.central)}. `))
    const withLb = renderReport({ compare: { ...compare, lb: 'haproxy' }, sources: [] })
    assert.ok(withLb.includes(`; central store: ${escapeHtml(compare.central)}; load balancer: haproxy.`))
    assert.match(
      formatCompareReport({ ...compare, lb: 'nginx' }),
      /^central store: .+; load balancer: nginx$/m,
    )
  })

  it('references nothing outside the page', () => {
    assert.doesNotMatch(html, /https?:\/\//)
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(|\bsrc=|\bhref="(?!#)/i)
  })

  it('escapes what it shows', () => {
    const svg = renderBarChart({
      id: 'x',
      title: '<b>&"',
      description: 'd',
      unit: 'u',
      categories: ['<script>'],
      series: [{ name: 's', values: [1] }],
      format: String,
    })
    assert.doesNotMatch(svg, /<script>|<b>/)
    assert.match(svg, /&lt;script&gt;/)
  })
})

describe('collecting results', () => {
  const dir = mkdtempSync(join(tmpdir(), 'statelab-report-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('takes the latest of each experiment, a compare result’s own experiments included', () => {
    const older = { ...compare.results.memory, startedAt: '2020-01-01T00:00:00.000Z' }
    const newer = {
      ...compare.results.memory,
      startedAt: '2030-01-01T00:00:00.000Z',
      settings: { ...compare.results.memory.settings, sessions: 7 },
    }
    writeFileSync(join(dir, 'memory-2020-01-01T00-00-00.000Z.json'), JSON.stringify(older))
    writeFileSync(join(dir, 'memory-2030-01-01T00-00-00.000Z.json'), JSON.stringify(newer))
    writeFileSync(join(dir, 'compare-2026-11-22T17-13-33.333Z.json'), readFileSync(FIXTURE))
    writeFileSync(join(dir, 'notes.json'), '{}')
    const input = collectResults({ dir })
    assert.equal(input.memory?.settings.sessions, 7)
    assert.equal(input.crash?.startedAt, compare.results.crash.startedAt)
    assert.ok(input.sources.some((s) => s.endsWith('(crash)')))
  })

  it('refuses a file that is not a lab result, and an empty directory, naming them', () => {
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '{"hello": 1}')
    assert.throws(
      () => collectResults({ dir, files: [bad] }),
      (err) => err instanceof AppError && err.code === 'ERR_VALIDATION' && err.message.includes(bad),
    )
    const empty = mkdtempSync(join(tmpdir(), 'statelab-report-empty-'))
    try {
      assert.throws(
        () => collectResults({ dir: empty }),
        (err) => err instanceof AppError && err.code === 'ERR_NOT_FOUND',
      )
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})
