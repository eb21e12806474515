// `statelab lab report`: one self-contained page, rendered from a real `lab compare --quick` result and a
// `statelab bench --json` result.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { formatCheck } from '../../../bench/lib/run.ts'
import { AppError } from '../../../src/core/errors.ts'
import type { CompareResult } from '../../../src/lab/experiments/compare.ts'
import { escapeHtml, renderBarChart } from '../../../src/lab/report/charts.ts'
import { collectResults, type HttpBenchResult, renderReport } from '../../../src/lab/report/index.ts'
import { formatCompareReport } from '../../../src/lab/results.ts'

const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url))
const FIXTURE = join(FIXTURES, 'compare-2026-11-22T17-13-33.333Z.json')
const compare = JSON.parse(readFileSync(FIXTURE, 'utf8')) as CompareResult
const BENCH_FIXTURE = join(FIXTURES, 'http-2026-11-22T19-21-43.211Z.json')
const bench = JSON.parse(readFileSync(BENCH_FIXTURE, 'utf8')) as HttpBenchResult

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern, 'g'))?.length ?? 0
}

/** The `<figure id="id">` of `html`; fails when there is none. */
function figure(html: string, id: string): string {
  const match = html.match(new RegExp(`<figure id="${id}">[\\s\\S]*?</figure>`))
  assert.ok(match, `no ${id} chart`)
  return match[0]
}

describe('lab report', () => {
  const html = renderReport(
    collectResults({ dir: FIXTURES, benchDir: FIXTURES }),
    new Date('2026-11-22T18:00:00Z'),
  )

  it('has a chart with a title, a description and a table of its numbers for each figure', () => {
    for (const id of [
      'throughput',
      'latency',
      'sessions-lost',
      'memory-per-session',
      'data-sent',
      'revocation',
      'bench-ratio',
      'bench-cpu-ratio',
    ])
      assert.match(html, new RegExp(`<figure id="${id}">`), `no ${id} chart`)
    const charts = count(html, /<svg /)
    assert.ok(charts >= 8, `${charts} charts`)
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

  it('shows what a request costs: each subject’s ratio to raw node:http, per second and per CPU-second', () => {
    assert.match(html, /<h2 id="bench">What a request costs<\/h2>/)
    const perSecond = figure(html, 'bench-ratio')
    const perCpu = figure(html, 'bench-cpu-ratio')
    for (const chart of [perSecond, perCpu]) {
      assert.equal(count(chart, /<svg /), 1)
      assert.match(chart, /Higher is cheaper/)
      assert.match(chart, /neighbours in time within one run/)
      // Every subject in the order of the run, peers marked.
      const rows = [
        'raw (ceiling)',
        'ours-jwt',
        'ours-redis',
        'fastify-jwt (peer)',
        'express-redis (peer)',
      ].map((name) => chart.indexOf(`<tr><th scope="row">${name}</th>`))
      assert.ok(
        rows.every((at, i) => at > 0 && (i === 0 || at > rows[i - 1]!)),
        `rows out of order: ${rows}`,
      )
    }
    // One bar per measured figure; the ceiling is 1.00 by definition.
    assert.equal(count(perSecond, /<rect [^>]*><title>/), 4)
    assert.equal(count(perCpu, /<rect [^>]*><title>/), 3)
    for (const [name, ratio] of [
      ['raw (ceiling)', '1.00'],
      ['ours-jwt', '0.78'],
      ['ours-redis', '0.45'],
      ['fastify-jwt (peer)', '0.49'],
    ])
      assert.ok(perSecond.includes(`<tr><th scope="row">${name}</th><td>${ratio}</td></tr>`), name)
    for (const [name, ratio] of [
      ['raw (ceiling)', '1.00'],
      ['ours-jwt', '0.67'],
      ['ours-redis', 'n/a'],
      ['fastify-jwt (peer)', '0.47'],
    ])
      assert.ok(perCpu.includes(`<tr><th scope="row">${name}</th><td>${ratio}</td></tr>`), name)
    const failed =
      'failed: the check got 500 with a valid credential: &lt;h1&gt;Internal Server Error&lt;/h1&gt; &amp; no session'
    for (const chart of [perSecond, perCpu]) {
      assert.ok(chart.includes(`<tr><th scope="row">express-redis (peer)</th><td>${failed}</td></tr>`))
      assert.ok(chart.includes(`class="value">${failed}</text>`), 'the reason as the bar’s label')
    }
    assert.doesNotMatch(html, /<h1>Internal/)
  })

  it('lists the benchmark’s targets as the run recorded them', () => {
    assert.match(
      html,
      /<code>PASS {2}stateless, JWT &gt;= 0\.75: 0\.78 of raw node:http \(needs &gt;= 0\.75\)<\/code>/,
    )
    assert.match(html, /<code>MISS {2}stateful, Redis store &gt;= 0\.60: 0\.45 of raw node:http/)
    assert.match(html, /<code>n\/a {3}stateful, memory store &gt;= 0\.90: not measured<\/code>/)
    for (const check of bench.targets) assert.ok(html.includes(escapeHtml(formatCheck(check))), check.name)
  })

  it('has no benchmark section without a benchmark result, and a missing bench directory is no error', () => {
    const input = collectResults({ dir: FIXTURES, benchDir: join(FIXTURES, 'no-such-directory') })
    assert.equal(input.bench, undefined)
    const without = renderReport(input)
    assert.doesNotMatch(without, /What a request costs|id="bench|<ul class="targets">/)
    assert.match(without, /<figure id="throughput">/)
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
    const input = collectResults({ dir, benchDir: dir })
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
        () => collectResults({ dir: empty, benchDir: empty }),
        (err) => err instanceof AppError && err.code === 'ERR_NOT_FOUND',
      )
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it('takes the latest HTTP benchmark run from the bench directory, other files there aside', () => {
    const benchDir = join(dir, 'bench')
    mkdirSync(join(benchDir, 'http-2026-11-22T19-21-43.211Z-profiles'), { recursive: true })
    const older = { ...bench, startedAt: '2020-01-01T00:00:00.000Z', subjects: bench.subjects.slice(0, 1) }
    writeFileSync(join(benchDir, 'http-2020-01-01T00-00-00.000Z.json'), JSON.stringify(older))
    const newest = join(benchDir, 'http-2026-11-22T19-21-43.211Z.json')
    writeFileSync(newest, readFileSync(BENCH_FIXTURE))
    writeFileSync(join(benchDir, 'tcp-2030-01-01T00-00-00.000Z.json'), '{"startedAt": "2030", "targets": []}')
    // No lab results at all: the benchmark alone makes a page.
    const input = collectResults({ dir: join(dir, 'no-lab-results'), benchDir })
    assert.equal(input.bench?.startedAt, bench.startedAt)
    assert.equal(input.bench?.subjects.length, 5)
    assert.deepEqual(input.sources, [newest])
    assert.match(renderReport(input), /<h2 id="bench">What a request costs<\/h2>/)
  })

  it('recognises a benchmark result among the FILEs by its content', () => {
    const file = join(dir, 'saved-run.json')
    writeFileSync(file, readFileSync(BENCH_FIXTURE))
    const input = collectResults({
      dir: join(dir, 'unused'),
      benchDir: join(dir, 'unused'),
      files: [FIXTURE, file],
    })
    assert.equal(input.bench?.startedAt, bench.startedAt)
    assert.equal(input.compare?.startedAt, compare.startedAt)
    assert.ok(input.sources.includes(file))
  })

  it('refuses a malformed benchmark result as it refuses a lab result, naming it', () => {
    const benchDir = mkdtempSync(join(tmpdir(), 'statelab-report-bench-'))
    try {
      const nameless = join(benchDir, 'http-2031-01-01T00-00-00.000Z.json')
      writeFileSync(
        nameless,
        JSON.stringify({ ...bench, subjects: [{ status: 'measured', ratio: 1 }], startedAt: '2031' }),
      )
      const truncated = join(benchDir, 'http-2032-01-01T00-00-00.000Z.json')
      writeFileSync(truncated, readFileSync(BENCH_FIXTURE, 'utf8').slice(0, 200))
      for (const file of [nameless, truncated])
        assert.throws(
          () => collectResults({ dir: benchDir, files: [file] }),
          (err) => err instanceof AppError && err.code === 'ERR_VALIDATION' && err.message.includes(file),
        )
      // Found in the bench directory, too.
      assert.throws(
        () => collectResults({ dir: join(benchDir, 'no-lab-results'), benchDir }),
        (err) => err instanceof AppError && err.code === 'ERR_VALIDATION',
      )
    } finally {
      rmSync(benchDir, { recursive: true, force: true })
    }
  })
})
