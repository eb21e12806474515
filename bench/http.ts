// `statelab bench` (npm run bench): every way of remembering the caller, over HTTP, against the ceiling and
// against the peers.
//
// Each subject (bench/lib/http-subjects.ts) runs alone in a child process pinned to its own core, answers one
// small authenticated JSON request, and is checked before it is measured: 200 and the right body with its
// credential, 401 without it. autocannon, in this process on the other core, warms it up, then drives it with
// fixed connections for a fixed time. raw node:http, the ceiling, stays up the whole run and takes turns with
// each subject in slices of a few seconds; a subject's ratio divides by the ceiling's slices around its own,
// because on a shared machine only ratios of neighbours in the same run mean anything. Latency percentiles are
// the median of the subject's slices. Redis subjects also count the Redis commands each request costs (INFO
// commandstats around a fixed number of requests, on a private redis-server when one can be started).

import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import autocannon from 'autocannon'
import type pg from 'pg'
import { formatCount, formatRatio, formatTable, Progress } from '../src/cli/report.ts'
import {
  type AdminRedis,
  type Probe,
  probePostgres,
  probeRedis,
  serviceUrls,
  uniqueName,
  unlinkPrefix,
} from '../src/lab/services.ts'
import { BenchChild } from './lib/bench-child.ts'
import { type CpuProfile, monotonicMicros, summarizeCpuProfile, type Window } from './lib/cpu-profile.ts'
import { CEILING, type Prepared, SUBJECTS, type Subject } from './lib/http-subjects.ts'
import { type Pinning, pinLoadGenerator, pinServer, processCpuSeconds } from './lib/pin.ts'
import { type RedisServer, startRedisServer } from './lib/redis-server.ts'
import {
  describeRun,
  formatCheck,
  RESULTS_DIR,
  runBenchmark,
  type TargetCheck,
  writeResults,
} from './lib/run.ts'

export interface HttpBenchOptions {
  /** Subject names (known ones: the CLI checks them), `raw` added when missing; all of them when undefined. */
  readonly subjects?: readonly string[]
  /** 3 s per subject instead of 10, for smoke runs; `durationS` and `warmupS` still win. */
  readonly quick: boolean
  readonly durationS?: number
  readonly warmupS?: number
  readonly connections?: number
  /** Write the results as JSON under `outDir` (default bench/results/). */
  readonly json: boolean
  readonly outDir?: string
  /** Run every server under `node --cpu-prof` and print where its time went. */
  readonly profile: boolean
}

interface Settings {
  readonly durationS: number
  readonly warmupS: number
  readonly connections: number
}

const FULL: Settings = { durationS: 10, warmupS: 2, connections: 50 }
const QUICK: Settings = { durationS: 3, warmupS: 1, connections: 50 }
const { redis: REDIS_URL, postgres: DATABASE_URL } = serviceUrls()
const PEERS_DIR = fileURLToPath(new URL('./peers/', import.meta.url))
const NPM_CI_TIMEOUT_MS = 300_000
/** Requests whose Redis commands are counted on a private redis-server. */
const COUNTED_REQUESTS = 2000
/** How long autocannon waits for an answer before counting a timeout (an error). */
const REQUEST_TIMEOUT_S = 30
/** The most turns a subject and the ceiling take (about 2 s of the subject each). */
const MAX_TURNS = 5

/** One subject's outcome. Figures are present only when it was measured and answered correctly throughout. */
export interface SubjectResult {
  readonly name: string
  readonly side: 'ours' | 'peer'
  readonly description: string
  status: 'measured' | 'failed' | 'skipped'
  /** Why it failed or was skipped. */
  reason?: string
  /** The checks made before measuring: status with the credential, and without it (authenticated subjects). */
  check?: { readonly withCredential: number; readonly withoutCredential?: number }
  requests?: number
  reqPerSec?: number
  /** The ceiling: req/s of each of its runs (before the first subject and after each one). */
  runs?: number[]
  latencyMs?: { readonly p50: number; readonly p99: number; readonly p99_9: number }
  /** Connection errors and timeouts, and non-2xx answers, during the measured run. */
  errors?: number
  non2xx?: number
  /** Cores the server kept busy while measured (1 = all of its core): below ~0.9, the load generator was the limit. */
  serverCpu?: number
  /** The server's resident memory after the run (after a full GC). */
  rssBytes?: number
  /** The ceiling's req/s just before and just after this subject, averaged. */
  ceilingReqPerSec?: number
  /** req/s divided by `ceilingReqPerSec`. */
  ratio?: number
  /** Each turn's req/s over the ceiling's in the slices just before and after it: how far one turn is from the next. */
  turnRatios?: readonly number[]
  /** Requests per CPU-second of the server, divided by the ceiling's around it. */
  cpuRatio?: number
  /**
   * Redis commands per request, in all and by command (INFO commandstats before and after), and where they were
   * counted: exactly on a private redis-server, or on the shared one (an upper bound).
   */
  redis?: {
    readonly perRequest: number
    readonly byCommand: Record<string, number>
    readonly counted: 'private redis-server' | 'shared Redis, other clients included'
  }
  /** With --profile: where the server's time went in the measured window. */
  profile?: string
}

interface Run {
  readonly settings: Settings
  readonly progress: Progress
  readonly scratch: string
  readonly pinning: Pinning
  readonly profileDir: string | undefined
  redis: Probe<AdminRedis>
  postgres: Probe<pg.Client>
  /** Why the bench/peers packages are unavailable, once an install was tried. */
  peersMissing: string | undefined
}

/** The subjects `names` asks for, in catalogue order, ceiling first (`statelab bench` refuses unknown names). */
export function selectSubjects(names: readonly string[] | undefined): readonly Subject[] {
  if (names === undefined) return SUBJECTS
  return SUBJECTS.filter((s) => s.name === CEILING || names.includes(s.name))
}

/**
 * Runs the benchmark and prints its table on stdout (progress on stderr). Sets `process.exitCode` to 1 when
 * it could not run at all; a subject that fails is reported in the table, not as an exit code.
 *
 * @example
 * await runHttpBench({ subjects: ['ours-jwt', 'fastify-jwt'], quick: true, json: false, profile: false })
 */
export async function runHttpBench(options: HttpBenchOptions): Promise<void> {
  const subjects = selectSubjects(options.subjects)
  const base = options.quick ? QUICK : FULL
  const settings: Settings = {
    durationS: options.durationS ?? base.durationS,
    warmupS: options.warmupS ?? Math.min(base.warmupS, options.durationS ?? base.warmupS),
    connections: options.connections ?? base.connections,
  }
  const progress = new Progress(process.stderr)
  const scratch = mkdtempSync(join(tmpdir(), 'statelab-bench-http-'))
  const startedAt = new Date()
  await runBenchmark('statelab bench', progress, scratch, async () => {
    const run: Run = {
      settings,
      progress,
      scratch,
      pinning: pinLoadGenerator(),
      profileDir: options.profile
        ? join(options.outDir ?? RESULTS_DIR, `http-${startedAt.toISOString().replaceAll(':', '-')}-profiles`)
        : undefined,
      redis: { ok: false, reason: 'not probed' },
      postgres: { ok: false, reason: 'not probed' },
      peersMissing: undefined,
    }
    if (!run.pinning.pinned) progress.note(`server and load generator not pinned: ${run.pinning.reason}`)
    let results: SubjectResult[] = []
    try {
      await probeServices(run, subjects)
      if (subjects.some((s) => s.needsPeers)) run.peersMissing = await installPeers(progress)
      results = await benchAll(run, subjects)
    } finally {
      if (run.redis.ok) run.redis.client.destroy()
      if (run.postgres.ok) await run.postgres.client.end().catch(() => {})
      progress.done()
    }
    const checks = checkTargets(results)
    process.stdout.write(`${formatReport(run, subjects, results, checks)}\n`)
    if (options.json) {
      const document = {
        ...describeRun(startedAt, options.quick),
        settings,
        pinning: run.pinning,
        services: {
          redis: run.redis.ok ? REDIS_URL : run.redis.reason,
          postgres: run.postgres.ok ? DATABASE_URL : run.postgres.reason,
        },
        subjects: results,
        targets: checks,
      }
      writeResults('http', startedAt, document, options.outDir)
    }
  })
}

async function probeServices(run: Run, subjects: readonly Subject[]): Promise<void> {
  const needs = new Set(subjects.map((s) => s.needs))
  if (!needs.has('redis') && !needs.has('postgres')) return
  run.progress.phase('probing Redis and PostgreSQL')
  const [redis, postgres] = await Promise.all([
    needs.has('redis') ? probeRedis(REDIS_URL) : run.redis,
    needs.has('postgres') ? probePostgres(DATABASE_URL) : run.postgres,
  ])
  run.redis = redis
  run.postgres = postgres
}

/** Installs bench/peers' packages when they are missing; returns why they are unavailable, if they are. */
async function installPeers(progress: Progress): Promise<string | undefined> {
  // npm writes this file last, once an install has completed.
  if (existsSync(join(PEERS_DIR, 'node_modules', '.package-lock.json'))) return undefined
  progress.note(
    'installing the peers once: npm ci --prefix bench/peers (their packages stay out of statelab)',
  )
  try {
    await promisify(execFile)('npm', ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], {
      timeout: NPM_CI_TIMEOUT_MS,
    })
    return undefined
  } catch (err) {
    const output = `${(err as { stderr?: string }).stderr ?? ''}`.trim().split('\n').at(-1)
    return `npm ci --prefix bench/peers failed: ${output || (err as Error).message}`
  }
}

/** Why `subject` cannot run in this run, or undefined. */
function unavailable(run: Run, subject: Subject): string | undefined {
  if (subject.needs === 'redis' && !run.redis.ok) return run.redis.reason
  if (subject.needs === 'postgres' && !run.postgres.ok) return run.postgres.reason
  if (subject.needsPeers && run.peersMissing) return run.peersMissing
  return undefined
}

/** What one autocannon run of a subject measured. */
interface Measurement {
  readonly requests: number
  readonly seconds: number
  readonly reqPerSec: number
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly p99_9: number }
  readonly errors: number
  readonly non2xx: number
  readonly serverCpu: number | undefined
}

/** A subject started, logged in, checked and warmed up: ready to be measured, as often as needed. */
interface Started {
  readonly subject: Subject
  /** Its Redis prefix, PostgreSQL schema, scratch folder and profile name. */
  readonly name: string
  readonly child: BenchChild
  readonly url: string
  readonly prepared: Prepared
  readonly check: NonNullable<SubjectResult['check']>
  readonly profiled: boolean
  /** The spans it was measured in, for its profile. */
  readonly windows: Window[]
}

/**
 * The ceiling stays up the whole run. Each subject takes turns with it: ceiling, subject, ceiling, subject ...
 * ceiling, in slices (the subject's twice as long as the ceiling's), and its ratio divides its req/s over all its
 * slices by the ceiling's over the slices around them. Whatever else the machine does comes and goes within
 * seconds; turns that short make both sides share it.
 */
async function benchAll(run: Run, subjects: readonly Subject[]): Promise<SubjectResult[]> {
  const { settings, progress } = run
  const [ceilingSubject, ...others] = subjects
  if (ceilingSubject?.name !== CEILING) throw new Error(`the ceiling, ${CEILING}, must be measured first`)
  const total = others.length + 1
  const turns = Math.min(MAX_TURNS, Math.max(1, Math.round(settings.durationS / 2)))
  const slice = settings.durationS / turns
  const ceiling = resultOf(ceilingSubject)
  const results = [ceiling]
  const ceilingSlices: Measurement[] = []
  let raw: Started | undefined
  try {
    raw = await startSubject(run, ceilingSubject, `1/${total}`)
    ceiling.check = raw.check
    ceilingSlices.push(await measure(run, raw, slice / 2, `1/${total} ${CEILING}`))
    for (const [i, subject] of others.entries()) {
      const counter = `${i + 2}/${total}`
      const result = resultOf(subject)
      results.push(result)
      const skip = unavailable(run, subject)
      if (skip) {
        result.reason = skip
        progress.note(`${subject.name}: skipped: ${skip}`)
        continue
      }
      let started: Started | undefined
      try {
        started = await startSubject(run, subject, counter)
        result.check = started.check
        const mine: Measurement[] = []
        const around = [ceilingSlices.at(-1)!]
        const [n, length] = subject.slow ? [1, settings.durationS] : [turns, slice]
        for (let turn = 1; turn <= n; turn++) {
          const label = `${counter} ${subject.name}, turn ${turn}/${n}`
          mine.push(await measure(run, started, length, label))
          around.push(await measure(run, raw, slice / 2, `${label}: ${CEILING}`))
        }
        ceilingSlices.push(...around.slice(1))
        result.rssBytes = (await started.child.memory()).rss
        const measured = combine(mine)
        const ceilings = combine(around)
        Object.assign(result, figures(measured), {
          status: 'measured',
          ceilingReqPerSec: ceilings.reqPerSec,
          ratio: measured.reqPerSec / ceilings.reqPerSec,
          turnRatios: mine.map((m, i) => m.reqPerSec / combine(around.slice(i, i + 2)).reqPerSec),
          cpuRatio: perCpu(measured) / perCpu(ceilings),
        })
        if (subject.needs === 'redis') result.redis = await countRedisCommands(run, subject, counter)
      } catch (err) {
        result.status = 'failed'
        result.reason = (err as Error).message.split('\n')[0]
        progress.note(`${subject.name}: failed: ${result.reason}`)
      } finally {
        if (started) result.profile = await stopSubject(run, started, `${counter} ${subject.name}`)
      }
    }
    ceiling.rssBytes = (await raw.child.memory()).rss
  } catch (err) {
    if (ceilingSlices.length === 0)
      throw new Error(
        `the ceiling (${CEILING}) failed, so nothing can be compared: ${(err as Error).message}`,
      )
    throw err
  } finally {
    if (raw) ceiling.profile = await stopSubject(run, raw, CEILING)
  }
  Object.assign(ceiling, figures(combine(ceilingSlices)), {
    status: 'measured',
    runs: ceilingSlices.map((m) => m.reqPerSec),
    ratio: 1,
    cpuRatio: 1,
  })
  return results
}

/** Several slices as one: totals, rates over their summed time, and each latency percentile's median. */
function combine(slices: readonly Measurement[]): Measurement {
  const seconds = slices.reduce((sum, m) => sum + m.seconds, 0)
  const requests = slices.reduce((sum, m) => sum + m.requests, 0)
  const cpu = slices.map((m) => m.serverCpu)
  const median = (pick: (m: Measurement) => number) => {
    const sorted = slices.map(pick).sort((a, b) => a - b)
    const middle = sorted.length >> 1
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  }
  return {
    requests,
    seconds,
    reqPerSec: requests / seconds,
    latencyMs: {
      p50: median((m) => m.latencyMs.p50),
      p99: median((m) => m.latencyMs.p99),
      p99_9: median((m) => m.latencyMs.p99_9),
    },
    errors: slices.reduce((sum, m) => sum + m.errors, 0),
    non2xx: slices.reduce((sum, m) => sum + m.non2xx, 0),
    serverCpu: cpu.every((c) => c !== undefined)
      ? slices.reduce((sum, m) => sum + m.serverCpu! * m.seconds, 0) / seconds
      : undefined,
  }
}

/** Requests per CPU-second of the server. */
function perCpu(m: Measurement): number {
  return m.serverCpu ? m.reqPerSec / m.serverCpu : Number.NaN
}

function resultOf(subject: Subject): SubjectResult {
  return { name: subject.name, side: subject.side, description: subject.description, status: 'skipped' }
}

function figures(m: Measurement): Partial<SubjectResult> {
  return {
    requests: m.requests,
    reqPerSec: m.reqPerSec,
    latencyMs: m.latencyMs,
    errors: m.errors,
    non2xx: m.non2xx,
    serverCpu: m.serverCpu,
  }
}

/** Starts the subject's child on the server core, logs in, checks its answers and warms it up. */
async function startSubject(
  run: Run,
  subject: Subject,
  counter: string,
  options: { readonly redisUrl?: string; readonly warm?: boolean } = {},
): Promise<Started> {
  const { progress, settings } = run
  const { redisUrl = REDIS_URL, warm = true } = options
  const name = uniqueName(subject.name.replaceAll('-', '_'))
  const dataDir = join(run.scratch, name)
  mkdirSync(dataDir)
  const { script, arg } = subject.child({
    dataDir,
    redisUrl,
    databaseUrl: DATABASE_URL,
    uniqueName: name,
  })
  const profiling = run.profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${run.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`]
    : []
  progress.phase(`${counter} ${subject.name}: starting`)
  let child: BenchChild | undefined
  try {
    child = await BenchChild.start(script, [JSON.stringify(arg)], profiling)
    pinServer(run.pinning, child.pid)
    const url = `http://127.0.0.1:${child.ready.port}`
    progress.phase(`${counter} ${subject.name}: logging in and checking the answers`)
    const prepared = await subject.prepare(url)
    const check = await checkAnswers(url, subject, prepared)
    const started: Started = {
      subject,
      name,
      child,
      url,
      prepared,
      check,
      profiled: profiling.length > 0,
      windows: [],
    }
    if (warm) {
      progress.phase(`${counter} ${subject.name}: warming up (${settings.warmupS} s)`)
      // A slow subject may answer nothing while warming up; it must not answer wrongly.
      assertClean(
        await cannon(url, prepared, { seconds: settings.warmupS }, settings.connections, undefined),
        'while warming up',
        { allowNone: true },
      )
    }
    return started
  } catch (err) {
    await child?.stop()
    await cleanUp(run, subject, name)
    throw err
  }
}

/** One measured autocannon run, with the server's CPU time around it. */
async function measure(run: Run, started: Started, seconds: number, label: string): Promise<Measurement> {
  const { child } = started
  run.progress.phase(`${label}: ${Number(seconds.toFixed(1))} s under load`)
  const start = monotonicMicros()
  const cpuBefore = processCpuSeconds(child.pid)
  const result = await cannon(
    started.url,
    started.prepared,
    { seconds },
    run.settings.connections,
    `${label} [:bar] :percent`,
  )
  const cpuAfter = processCpuSeconds(child.pid)
  const end = monotonicMicros()
  started.windows.push([start, end])
  assertClean(result, 'under load')
  const requests = result.requests.total
  return {
    requests,
    seconds: result.duration,
    reqPerSec: requests / result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, p99_9: result.latency.p99_9 },
    errors: result.errors,
    non2xx: result.non2xx,
    serverCpu:
      cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : (cpuAfter - cpuBefore) / ((end - start) / 1e6),
  }
}

/**
 * Redis commands per request (INFO commandstats before and after a fixed number of requests), on a second child
 * of the subject. Exact on a private `redis-server` that nothing else talks to; where none can be started, on
 * the shared Redis, whose other clients' commands are counted too (an upper bound).
 */
async function countRedisCommands(
  run: Run,
  subject: Subject,
  counter: string,
): Promise<SubjectResult['redis'] | undefined> {
  let server: RedisServer | undefined
  try {
    server = await startRedisServer()
  } catch (err) {
    run.progress.note(
      `${subject.name}: counting Redis commands on the shared Redis: ${(err as Error).message}`,
    )
  }
  let admin: Probe<AdminRedis> | undefined
  let started: Started | undefined
  try {
    admin = server ? await probeRedis(server.url) : run.redis
    if (!admin.ok) throw new Error(admin.reason)
    started = await startSubject(run, subject, `${counter} ${subject.name}: counting Redis commands`, {
      redisUrl: server?.url ?? REDIS_URL,
      warm: false,
    })
    const before = await commandStats(admin.client)
    const result = await cannon(started.url, started.prepared, { amount: COUNTED_REQUESTS }, 10, undefined)
    const after = await commandStats(admin.client)
    assertClean(result, 'while counting Redis commands')
    return commandsPerRequest(before, after, result.requests.total, server ? 'private' : 'shared')
  } finally {
    if (started) await stopSubject(run, started, `${counter} ${subject.name} (counting)`)
    if (server) {
      if (admin?.ok) admin.client.destroy()
      await server.stop()
    }
  }
}

/** Stops the child, deletes what it stored, and summarizes its profile (with --profile). */
async function stopSubject(run: Run, started: Started, label: string): Promise<string | undefined> {
  run.progress.phase(`${label}: stopping`)
  await started.child.stop()
  await cleanUp(run, started.subject, started.name)
  if (!run.profileDir || !started.profiled || started.windows.length === 0) return undefined
  return summarizeProfile(join(run.profileDir, `${started.name}.cpuprofile`), started.windows)
}

/** 200 and the right body with the credential; 401 without it. Throws saying what was wrong. */
async function checkAnswers(
  url: string,
  subject: Subject,
  prepared: Prepared,
): Promise<NonNullable<SubjectResult['check']>> {
  const { request } = prepared
  const send = (headers: Record<string, string>) =>
    fetch(`${url}${request.path}`, {
      method: request.method,
      headers,
      body: request.body,
      signal: AbortSignal.timeout(10_000),
    })
  const good = await send({ ...request.headers })
  const text = await good.text()
  if (good.status !== 200)
    throw new Error(`the check got ${good.status} with a valid credential: ${text.slice(0, 200)}`)
  const wrong = prepared.wrongAnswer(JSON.parse(text))
  if (wrong) throw new Error(`the check got a wrong answer: ${wrong}`)
  if (!subject.authenticated) return { withCredential: good.status }
  const credentialHeaders = new Set(['authorization', 'x-session-id', 'cookie'])
  const anonymous = await send(
    Object.fromEntries(Object.entries(request.headers).filter(([k]) => !credentialHeaders.has(k))),
  )
  await anonymous.arrayBuffer()
  if (anonymous.status !== 401)
    throw new Error(`the check got ${anonymous.status} instead of 401 without a credential`)
  return { withCredential: good.status, withoutCredential: anonymous.status }
}

/** One autocannon run; a progress bar on a terminal when `bar` is given. */
async function cannon(
  url: string,
  prepared: Prepared,
  load: { readonly seconds: number } | { readonly amount: number },
  connections: number,
  bar: string | undefined,
): Promise<autocannon.Result> {
  const { request, rotate } = prepared
  let turn = 0
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}${request.path}`,
        method: request.method,
        headers: { ...request.headers },
        body: request.body,
        connections,
        // Generous: HTTP Basic's answers queue behind one argon2id hash each.
        timeout: REQUEST_TIMEOUT_S,
        ...('amount' in load ? { amount: load.amount } : { duration: load.seconds }),
        ...(rotate && {
          requests: [
            {
              setupRequest: (req) => ({
                ...req,
                headers: { ...req.headers, ...rotate[turn++ % rotate.length] },
              }),
            },
          ],
        }),
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    )
    if (bar && process.stderr.isTTY)
      autocannon.track(instance, {
        outputStream: process.stderr,
        renderProgressBar: true,
        renderResultsTable: false,
        renderLatencyTable: false,
        progressBarString: bar,
      })
  })
}

function assertClean(
  result: autocannon.Result,
  when: string,
  options: { readonly allowNone?: boolean } = {},
): void {
  if (result.requests.total === 0 && !options.allowNone)
    throw new Error(
      `no request was answered ${when} (${result.duration.toFixed(1)} s): each took longer than that`,
    )
  if (result.errors > 0 || result.non2xx > 0) {
    const statuses = Object.entries(result.statusCodeStats ?? {})
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, s]) => `${s.count} × ${code}`)
    throw new Error(
      `${result.errors} connection errors (${result.timeouts} timeouts) and ${result.non2xx} non-2xx answers ${when}` +
        (statuses.length > 0 ? ` (${statuses.join(', ')})` : ''),
    )
  }
}

/** `calls` per command from INFO commandstats. */
async function commandStats(redis: AdminRedis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats')
  const calls = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]))
  return calls
}

function commandsPerRequest(
  before: Map<string, number>,
  after: Map<string, number>,
  requests: number,
  where: 'private' | 'shared',
): NonNullable<SubjectResult['redis']> {
  const byCommand: Record<string, number> = {}
  let total = 0
  for (const [command, calls] of after) {
    // Our own INFO is not the subject's.
    if (command === 'info') continue
    const delta = calls - (before.get(command) ?? 0)
    if (delta <= 0) continue
    byCommand[command] = delta / requests
    total += delta
  }
  return {
    perRequest: total / requests,
    byCommand,
    counted: where === 'private' ? 'private redis-server' : 'shared Redis, other clients included',
  }
}

/** Deletes what the subject left in Redis or PostgreSQL (its scratch directory goes with the run's). */
async function cleanUp(run: Run, subject: Subject, name: string): Promise<void> {
  try {
    if (subject.needs === 'redis' && run.redis.ok) await unlinkPrefix(run.redis.client, name)
    if (subject.needs === 'postgres' && run.postgres.ok)
      await run.postgres.client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
  } catch (err) {
    run.progress.note(`${subject.name}: cleaning up failed: ${(err as Error).message}`)
  }
}

async function summarizeProfile(file: string, windows: readonly Window[]): Promise<string | undefined> {
  try {
    const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
    return summarizeCpuProfile(profile, { top: 12, windows }).text
  } catch (err) {
    return `no profile: ${(err as Error).message}`
  }
}

const TARGETS = {
  memory: 0.9,
  jwt: 0.75,
  jwtOverFastify: 2,
  redis: 0.6,
  redisCache: 0.85,
  overExpress: 8,
} as const

function checkTargets(results: readonly SubjectResult[]): TargetCheck[] {
  const measured = (name: string) => results.find((r) => r.name === name && r.status === 'measured')
  const checks: TargetCheck[] = []
  const ratioCheck = (name: string, subject: string, min: number) => {
    const r = measured(subject)
    checks.push({
      name,
      pass: r ? r.ratio! >= min : undefined,
      detail: r
        ? `${formatRatio(r.ratio!)} of raw node:http (needs >= ${formatRatio(min)}; turns ${formatTurns(r)})`
        : 'not measured',
    })
  }
  const timesCheck = (name: string, subject: string, over: SubjectResult | undefined, min: number) => {
    const r = measured(subject)
    // Each against its own ceiling: two subjects measured minutes apart compare only through their ratios.
    const times = r && over ? r.ratio! / over.ratio! : undefined
    checks.push({
      name,
      pass: times === undefined ? undefined : times >= min,
      detail:
        times === undefined
          ? 'not measured'
          : `${formatRatio(times)}x ${over!.name} (needs >= ${min}x)${subject === 'ours-basic' ? '; argon2id on every request, by design' : ''}`,
    })
  }
  ratioCheck('stateful, memory store >= 0.90', 'ours-memory', TARGETS.memory)
  ratioCheck('stateless, JWT >= 0.75', 'ours-jwt', TARGETS.jwt)
  timesCheck('stateless, JWT >= 2x fastify+@fastify/jwt', 'ours-jwt', measured('fastify-jwt'), 2)
  ratioCheck('stateful, Redis store >= 0.60', 'ours-redis', TARGETS.redis)
  const redis = measured('ours-redis')?.redis
  checks.push({
    name: 'stateful, Redis store: one Redis round trip per request',
    // Exact on a private redis-server; on the shared one, other clients' commands can only add to ours.
    pass: redis ? Math.abs(redis.perRequest - 1) < 0.005 : undefined,
    detail: redis ? `${formatCommands(redis)} (INFO commandstats)` : 'not measured',
  })
  ratioCheck('stateful, Redis store + SESSION_CACHE >= 0.85', 'ours-redis-cache', TARGETS.redisCache)
  // The faster of the two express setups: the stricter comparison.
  const express = ['express-session', 'express-redis']
    .map(measured)
    .filter((r) => r !== undefined)
    .sort((a, b) => b.reqPerSec! - a.reqPerSec!)[0]
  for (const subject of SUBJECTS.filter((s) => s.side === 'ours'))
    if (results.some((r) => r.name === subject.name))
      timesCheck(`${subject.name} >= 8x express+express-session`, subject.name, express, TARGETS.overExpress)
  return checks
}

function formatCommands(redis: NonNullable<SubjectResult['redis']>): string {
  const parts = Object.entries(redis.byCommand)
    .sort((a, b) => b[1] - a[1])
    .map(([command, n]) => `${command} ${n.toFixed(2)}`)
  return `${redis.perRequest.toFixed(2)} commands per request${parts.length > 0 ? ` (${parts.join(', ')})` : ''}, counted on the ${redis.counted}`
}

/** The lowest and the highest of a subject's turn ratios ("0.85-0.97"); empty for a single turn. */
function formatTurns(r: SubjectResult): string {
  const turns = r.turnRatios ?? []
  return turns.length < 2 ? '' : `${formatRatio(Math.min(...turns))}-${formatRatio(Math.max(...turns))}`
}

function formatReport(
  run: Run,
  subjects: readonly Subject[],
  results: readonly SubjectResult[],
  checks: readonly TargetCheck[],
): string {
  const { settings, pinning } = run
  const ms = (n: number | undefined) => (n === undefined ? '' : n < 10 ? String(n) : String(Math.round(n)))
  const rows = results.map((r) =>
    r.status === 'measured'
      ? [
          r.name,
          formatCount(r.reqPerSec!),
          ms(r.latencyMs?.p50),
          ms(r.latencyMs?.p99),
          ms(r.latencyMs?.p99_9),
          String(r.errors! + r.non2xx!),
          r.serverCpu === undefined ? '' : `${Math.round(r.serverCpu * 100)}%`,
          r.rssBytes === undefined ? '' : (r.rssBytes / 2 ** 20).toFixed(0),
          formatRatio(r.ratio ?? Number.NaN),
          formatTurns(r),
          formatRatio(r.cpuRatio ?? Number.NaN),
        ]
      : [r.name, r.status, '', '', '', '', '', '', '', '', ''],
  )
  const where = pinning.pinned
    ? `server on core ${pinning.serverCpu}, load generator on core ${pinning.loadCpu}`
    : `not pinned (${pinning.reason})`
  const out = [
    `statelab bench: autocannon, ${settings.connections} connections, ${settings.durationS} s per subject after ${settings.warmupS} s warm-up; ${where}`,
    'ratio: req/s over raw node:http req/s, measured in turns with it; turns: the lowest and the highest of its',
    'turns; per CPU: the same for requests per CPU-second of the server, which holds up when other work takes',
    "the server's core away; CPU: share of its core the server used; latencies in ms (median of the turns);",
    'RSS: the server after the run, MiB',
    '',
    formatTable(
      ['subject', 'req/s', 'p50', 'p99', 'p99.9', 'errors', 'CPU', 'RSS', 'ratio', 'turns', 'per CPU'],
      rows,
      [false, true, true, true, true, true, true, true, true, true, true],
    ),
    '',
  ]
  const ceiling = results.find((r) => r.name === CEILING)
  if (ceiling?.runs && ceiling.runs.length > 1)
    out.push(
      `${CEILING} measured in ${ceiling.runs.length} slices between the subjects' turns, ${formatCount(Math.min(...ceiling.runs))} to ${formatCount(Math.max(...ceiling.runs))} req/s; each ratio divides by the slices around its subject's turns`,
    )
  for (const r of results) {
    if (r.status !== 'measured') out.push(`${r.name}: ${r.status}: ${r.reason}`)
    if (r.redis) out.push(`${r.name}: ${formatCommands(r.redis)}`)
  }
  for (const s of subjects)
    if (s.note && results.some((r) => r.name === s.name && r.status === 'measured')) out.push(s.note)
  out.push('')
  out.push(...checks.map(formatCheck))
  for (const r of results) if (r.profile) out.push('', `${r.name} (server, --cpu-prof):`, r.profile)
  return out.join('\n')
}
