// One self-contained HTML page from the lab's results: charts first, the numbers under each, then what a
// request costs in the HTTP benchmark, the seeds' comparison with its verdicts last. Nothing is fetched: CSS
// and SVG are inline, fonts are the system's.
import type { SubjectResult } from '../../../bench/http.ts'
import { CEILING } from '../../../bench/lib/http-subjects.ts'
import { formatCheck } from '../../../bench/lib/run.ts'
import { formatRatio } from '../../cli/report.ts'
import { NOISE_BYTES_PER_SESSION } from '../experiments/memory.ts'
import { AGREEMENT_WORDS, CELL_MARK, ranOn } from '../results.ts'
import { type BarChart, escapeHtml, renderBarChart, type Series } from './charts.ts'
import type { HttpBenchResult, ReportInput } from './collect.ts'

const CSS = `
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fdfdfc; --muted: #5b5b5b; --rule: #d6d6d6; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececec; --bg: #161616; --muted: #a8a8a8; --rule: #3a3a3a; } }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
  max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.05rem; margin-bottom: .25rem; }
p.lead, .meta { color: var(--muted); margin-top: 0; }
figure { margin: 1.5rem 0 2rem; }
svg { max-width: 100%; height: auto; }
svg text { fill: var(--fg); font: 12px system-ui, sans-serif; }
svg text.legend { font-size: 12px; } svg text.tick { fill: var(--muted); font-size: 11px; }
svg line.grid { stroke: var(--rule); stroke-width: 1; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid var(--rule); padding: .25rem .5rem; text-align: left; vertical-align: top; }
td { font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: .25rem; }
details summary { cursor: pointer; color: var(--muted); }
.verdict-matches { background: rgba(0, 158, 115, .15); } .verdict-contradicts { background: rgba(213, 94, 0, .18); }
.verdict-mixed { background: rgba(230, 159, 0, .18); }
ul.verdicts li { margin-bottom: .4rem; }
ul.targets code { white-space: pre-wrap; }
code { font-size: .9em; }
`

/** "2 CPUs (AMD EPYC), Node v24.21.0" */
function machineText(machine: HttpBenchResult['machine']): string {
  return `${machine.cpus} CPUs (${machine.cpu ?? 'unknown CPU'}), Node ${machine.node}`
}

function formatNumber(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 1 : 0 })
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US')
}

function bytes(value: number): string {
  if (Math.abs(value) >= 2 ** 20) return `${(value / 2 ** 20).toFixed(1)} MiB`
  if (Math.abs(value) >= 2 ** 10) return `${(value / 2 ** 10).toFixed(1)} KiB`
  return `${Math.round(value)} B`
}

function seconds(value: number): string {
  return `${value.toFixed(value < 10 ? 1 : 0)} s`
}

function percent(value: number): string {
  return `${Math.round(value)}%`
}

/** Throughput and latency per strategy, one series per replica count. */
function scaleCharts(input: ReportInput): BarChart[] {
  const scale = input.scale
  if (!scale) return []
  const categories = scale.rows.map((row) => row.strategy)
  const steps = scale.settings.steps
  return [
    {
      id: 'throughput',
      title: 'Throughput per strategy',
      description: `Requests per second through the gateway, for ${scale.settings.users} users with ${scale.settings.concurrency} requests in flight, as replicas are added. Longer is better; refused requests count too.`,
      unit: 'req/s',
      categories,
      series: steps.map((count, i) => ({
        name: `${count} replica${count === 1 ? '' : 's'}`,
        values: scale.rows.map((row) => row.steps[i]?.requestsPerSecond ?? null),
      })),
      format: (v) => formatNumber(v),
    },
    {
      id: 'latency',
      title: 'Latency per strategy',
      description:
        'Median (p50) and 99th percentile (p99) of each request through the gateway, in milliseconds. Shorter is better.',
      unit: 'ms',
      categories,
      series: steps.flatMap((count, i) => [
        { name: `p50, ${count} repl.`, values: scale.rows.map((row) => row.steps[i]?.p50Ms ?? null) },
        { name: `p99, ${count} repl.`, values: scale.rows.map((row) => row.steps[i]?.p99Ms ?? null) },
      ]),
      format: ms,
    },
  ]
}

/** Users forgotten in each fault, as a share of the users. */
function lossChart(input: ReportInput): BarChart[] {
  const faults = [
    [
      'scale-out',
      input.scale?.rows.map((r) => ({ s: r.strategy, lost: r.usersLost.length, users: r.users })),
    ],
    ['crash', input.crash?.rows.map((r) => ({ s: r.strategy, lost: r.sessionsLost, users: r.users }))],
    [
      'scale-down',
      input['scale-down']?.rows.map((r) => ({ s: r.strategy, lost: r.sessionsLost, users: r.users })),
    ],
    [
      'rolling restart',
      input.restart?.rows.map((r) => ({ s: r.strategy, lost: r.sessionsLost, users: r.users })),
    ],
  ] as const
  const present = faults.filter(([, rows]) => rows !== undefined)
  if (present.length === 0) return []
  const categories = [...new Set(present.flatMap(([, rows]) => rows!.map((r) => r.s)))]
  return [
    {
      id: 'sessions-lost',
      title: 'Sessions lost per fault',
      description:
        'Share of the logged-in users the servers forgot (refused with "unknown session" or "invalid token") during each fault. Shorter is better; 0% means nobody had to log in again.',
      unit: '% of users',
      categories,
      series: present.map(([name, rows]) => {
        const of = (strategy: string) => rows!.find((r) => r.s === strategy)
        return {
          name,
          values: categories.map((s) => {
            const row = of(s)
            return row ? (100 * row.lost) / row.users : null
          }),
          labels: categories.map((s) => {
            const row = of(s)
            return row ? `${percent((100 * row.lost) / row.users)} (${row.lost}/${row.users})` : undefined
          }),
        }
      }),
      format: percent,
      max: 100,
    },
  ]
}

/** Heap per session in the replicas, bytes per session in the store, and credential bytes per request. */
function memoryCharts(input: ReportInput): BarChart[] {
  const memory = input.memory
  if (!memory) return []
  const categories = memory.rows.map((row) => row.strategy)
  return [
    {
      id: 'memory-per-session',
      title: 'Server memory per session',
      description: `Bytes each session costs: replica heap after a full GC (all replicas together, so a session every replica holds counts once per replica) and bytes in the central store; measured with ${memory.settings.sessions} sessions and after they ended, on ${memory.settings.replicas} replicas. Shorter is better.`,
      unit: 'bytes per session',
      categories,
      series: [
        {
          name: 'replica heap',
          values: memory.rows.map((row) => Math.max(0, row.heapBytesPerSession)),
          // Below the noise a number would pretend a precision the measurement does not have.
          labels: memory.rows.map((row) =>
            row.heapBytesPerSession < NOISE_BYTES_PER_SESSION
              ? `< ${NOISE_BYTES_PER_SESSION} B (${row.copiesPerSession >= 0.5 ? `${Math.round(row.copiesPerSession)}× held` : 'none held'})`
              : `${bytes(row.heapBytesPerSession)} (${Math.round(row.copiesPerSession)}× held)`,
          ),
        },
        {
          name: 'central store',
          values: memory.rows.map((row) => (row.store ? row.store.bytesPerSession : 0)),
        },
      ],
      format: bytes,
    },
    {
      id: 'memory-at-scale',
      title: `Busiest replica's heap at ${memory.settings.extrapolateTo.toLocaleString('en-US')} sessions`,
      description: `The heap of the replica that grew most, extrapolated linearly from the measured sessions to ${memory.settings.extrapolateTo.toLocaleString('en-US')} (the seeds' "100,000 concurrent users") spread over ${memory.settings.replicas} replicas.`,
      unit: 'heap',
      categories,
      series: [{ name: 'busiest replica', values: memory.rows.map((row) => row.atScale.busiestReplicaHeap) }],
      format: bytes,
    },
    {
      id: 'data-sent',
      title: 'Data sent per request',
      description:
        'Bytes of credential (headers and cookies) the client sends on every request: a session id, or the whole token or sealed session. Shorter is better.',
      unit: 'bytes per request',
      categories,
      series: [{ name: 'credential', values: memory.rows.map((row) => row.credentialBytes) }],
      format: bytes,
    },
  ]
}

/** How long an old credential kept working after the logout. */
function revocationChart(input: ReportInput): BarChart[] {
  const revocation = input.revocation
  if (!revocation) return []
  const bound = revocation.settings.boundMs / 1000
  const rows = revocation.rows
  return [
    {
      id: 'revocation',
      title: 'Revocation delay',
      description: `Seconds a saved copy of the credential kept working after the logout, replayed every ~${revocation.settings.pollMs} ms through the gateway. Credentials that expire on their own ran with a ${revocation.settings.lifetimeSeconds} s lifetime; "never" means still accepted when the run stopped after ${seconds(bound)}. Shorter is better.`,
      unit: 'seconds',
      categories: rows.map((row) => row.variant),
      series: [
        {
          name: 'old credential accepted for',
          values: rows.map((row) => (row.delayMs === null ? bound : row.delayMs / 1000)),
          labels: rows.map((row) =>
            row.delayMs === null
              ? `never (> ${seconds(bound)})`
              : row.delayMs === 0
                ? 'refused at once'
                : row.outcome === 'expiry'
                  ? `${seconds(row.delayMs / 1000)}: at expiry`
                  : seconds(row.delayMs / 1000),
          ),
        },
      ],
      format: seconds,
      max: bound,
    },
  ]
}

/** One bar per subject, in the order of the run: its ratio, or why it was not measured. */
function ratioSeries(
  name: string,
  subjects: readonly SubjectResult[],
  ratio: (subject: SubjectResult) => number | undefined,
): Series {
  return {
    name,
    // JSON writes a ratio that could not be computed (NaN) as null.
    values: subjects.map((s) => (s.status === 'measured' ? (ratio(s) ?? null) : null)),
    labels: subjects.map((s) =>
      s.status === 'measured' ? undefined : `${s.status}: ${s.reason ?? 'no reason recorded'}`,
    ),
  }
}

/** The HTTP benchmark: each subject's ratio to raw node:http, per second and per CPU-second, and its targets. */
function benchSection(input: ReportInput): string {
  const bench = input.bench
  if (!bench) return ''
  const { settings, subjects } = bench
  const categories = subjects.map((s) =>
    s.name === CEILING ? `${s.name} (ceiling)` : s.side === 'peer' ? `${s.name} (peer)` : s.name,
  )
  const reading =
    'Higher is cheaper; raw node:http, the ceiling, is 1.00 by definition. Every ratio divides by raw’s turns around the subject’s own, so it compares neighbours in time within one run: compare ratios, not req/s from different runs.'
  const charts: BarChart[] = [
    {
      id: 'bench-ratio',
      title: 'Requests per second, as a share of raw node:http',
      description: `Each subject’s req/s over raw node:http’s, measured in turns with it. ${reading}`,
      unit: 'ratio to raw',
      categories,
      series: [ratioSeries('req/s ratio', subjects, (s) => s.ratio)],
      format: formatRatio,
      max: 1,
    },
    {
      id: 'bench-cpu-ratio',
      title: 'Requests per CPU-second, as a share of raw node:http',
      description: `The same ratio for requests per CPU-second of the server, which holds when other work takes the server’s core away. ${reading}`,
      unit: 'ratio to raw',
      categories,
      series: [ratioSeries('per-CPU ratio', subjects, (s) => s.cpuRatio)],
      format: formatRatio,
      max: 1,
    },
  ]
  return [
    '<h2 id="bench">What a request costs</h2>',
    `<p class="lead">Each subject answers one small JSON request from its own core, driven by autocannon with ${escapeHtml(String(settings.connections))} connections for ${escapeHtml(String(settings.durationS))} s per subject after ${escapeHtml(String(settings.warmupS))} s of warm-up${bench.quick ? ' (--quick)' : ''}; run ${escapeHtml(bench.startedAt)} on ${escapeHtml(machineText(bench.machine))} (<code>statelab bench --json</code>).</p>`,
    ...charts.map(renderBarChart),
    ...(bench.targets.length === 0
      ? []
      : [
          '<h3>The run’s targets</h3>',
          `<ul class="targets">${bench.targets.map((check) => `<li><code>${escapeHtml(formatCheck(check))}</code></li>`).join('\n')}</ul>`,
        ]),
  ].join('\n')
}

function compareSection(input: ReportInput): string {
  const compare = input.compare
  if (!compare) return ''
  const strategies = compare.settings.strategies
  const aspects = [...new Set(compare.cells.map((c) => c.aspect))]
  const cell = (aspect: string, strategy: string) =>
    compare.cells.find((c) => c.aspect === aspect && c.strategy === strategy)
  const rows = aspects
    .map(
      (aspect) =>
        `<tr><th scope="row">${escapeHtml(aspect)}</th>${strategies
          .map((strategy) => {
            const c = cell(aspect, strategy)
            if (!c) return '<td>-</td>'
            return `<td class="verdict-${c.verdict.replace(' ', '-')}" title="${escapeHtml(c.detail)}">${escapeHtml(c.value)} <span aria-label="${escapeHtml(c.verdict)}">${CELL_MARK[c.verdict]}</span></td>`
          })
          .join('')}</tr>`,
    )
    .join('\n')
  const verdicts = compare.cells
    .filter((c) => c.verdicts.length > 0)
    .map(
      (c) =>
        `<li>${CELL_MARK[c.verdict]} <strong>${escapeHtml(c.strategy)} · ${escapeHtml(c.aspect)}</strong>: ${escapeHtml(c.detail)}. ${c.verdicts
          .map(
            (v) =>
              `Seed ${escapeHtml(v.claim.seed)}, ${escapeHtml(v.claim.row)} / ${escapeHtml(v.claim.column)}: “${escapeHtml(v.claim.says)}”, ${AGREEMENT_WORDS[v.agreement]}.`,
          )
          .join(' ')}</li>`,
    )
    .join('\n')
  return [
    '<h2 id="compare">The seeds’ comparison, measured</h2>',
    `<p class="lead">Every cell is a measurement of this run (${(compare.durationMs / 1000).toFixed(0)} s${compare.settings.quick ? ', --quick' : ''}); the mark says whether it agrees with what the seeds claim: ✅ with every claim, ❌ with none, ≈ with some (the seeds disagree), · no claim.</p>`,
    `<table><caption>Measured comparison (${escapeHtml(compare.settings.users.toString())} users × ${escapeHtml(compare.settings.requests.toString())} requests)</caption>`,
    `<thead><tr><th scope="col">aspect</th>${strategies.map((s) => `<th scope="col">${escapeHtml(s)}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows}</tbody></table>`,
    '<h3>Each claim against the measurement</h3>',
    `<ul class="verdicts">${verdicts}</ul>`,
    '<h3>What each strategy lost and paid</h3>',
    `<ul>${compare.summary.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>`,
  ].join('\n')
}

/**
 * The report page for `input`: charts of throughput and latency, sessions lost per fault, memory per session,
 * revocation delay and data per request (each with its table), what a request costs in the HTTP benchmark,
 * then the measured comparison.
 *
 * @example
 * writeFileSync('lab-results/report.html', renderReport(collectResults({ dir: 'lab-results' })))
 */
export function renderReport(input: ReportInput, generatedAt = new Date()): string {
  const charts = [
    ...scaleCharts(input),
    ...lossChart(input),
    ...memoryCharts(input),
    ...revocationChart(input),
  ]
  const headline = input.compare ?? input.scale ?? input.crash ?? input.memory ?? input.revocation
  const machine = (headline ?? input.bench)?.machine
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>statelab: the lab’s measurements</title>',
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    '<h1>How servers remember users: measured</h1>',
    `<p class="meta">Generated ${escapeHtml(generatedAt.toISOString())}${machine ? ` on ${escapeHtml(machineText(machine))}` : ''}${headline ? `; ${escapeHtml(ranOn(headline))}` : ''}. Timings on a shared machine are rough; who was forgotten is not.</p>`,
    ...charts.map(renderBarChart),
    benchSection(input),
    compareSection(input),
    `<h2>Sources</h2><ul>${input.sources.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>`,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
