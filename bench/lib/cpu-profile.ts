// Where a process spent its time, from the .cpuprofile that `node --cpu-prof` writes when it exits.

/** The parts of a V8 CPU profile this summary reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number
    readonly callFrame: {
      readonly functionName: string
      readonly url: string
      readonly lineNumber: number
    }
    readonly children?: readonly number[]
  }[]
  /** Monotonic clock, µs: the clock of `process.hrtime()` in every process of the machine. */
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** A span of the monotonic clock, in µs (`process.hrtime.bigint() / 1000n`). */
export type Window = readonly [startUs: number, endUs: number]

export interface ProfileSummary {
  /** Time covered by the samples summarized. */
  readonly seconds: number
  /** Share of those samples by area: idle, GC, statelab's src/ folders, node: internals, packages. */
  readonly areas: readonly { readonly name: string; readonly share: number }[]
  /** The functions with the most self time. */
  readonly self: readonly { readonly name: string; readonly share: number }[]
  /** statelab's own functions (src/) with the most time including what they call. */
  readonly inclusive: readonly { readonly name: string; readonly share: number }[]
  /** The same as lines of text. */
  readonly text: string
}

/** The monotonic clock now, in µs, comparable with a profile's sample times. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/**
 * Self time by area and by function, and statelab's functions by inclusive time, as shares of the samples
 * taken within `windows` (all samples when none are given).
 */
export function summarizeCpuProfile(
  profile: CpuProfile,
  options: { readonly top: number; readonly windows?: readonly Window[] },
): ProfileSummary {
  const { top, windows } = options
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parents = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id)
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const areas = new Map<string, number>()
  const add = (counts: Map<string, number>, key: string) => counts.set(key, (counts.get(key) ?? 0) + 1)
  let total = 0
  let time = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i] ?? 0
    if (windows && !windows.some(([start, end]) => time >= start && time <= end)) continue
    const node = nodes.get(profile.samples[i]!)
    if (!node) continue
    total++
    add(self, functionName(node.callFrame))
    add(areas, areaOf(node.callFrame.url, node.callFrame.functionName))
    // Each statelab function once per sample, however deep it recurses.
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parents.get(id)) {
      const frame = nodes.get(id)!.callFrame
      if (!frame.url.includes('/src/')) continue
      const name = functionName(frame)
      if (!seen.has(name)) add(inclusive, name)
      seen.add(name)
    }
  }
  const ranked = (counts: Map<string, number>) =>
    [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ name, share: n / Math.max(1, total) }))
  const interval =
    profile.samples.length > 0 ? (profile.endTime - profile.startTime) / profile.samples.length : 0
  const summary = {
    seconds: (total * interval) / 1e6,
    areas: ranked(areas).filter((a) => a.share >= 0.005),
    self: ranked(self).slice(0, top),
    inclusive: ranked(inclusive).slice(0, top),
  }
  const percent = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`
  const lines = (list: readonly { name: string; share: number }[]) =>
    list.map((entry) => `    ${percent(entry.share)}  ${entry.name}`)
  const text = [
    `${summary.seconds.toFixed(1)} s sampled${windows ? ' in the measured windows' : ''}`,
    '  by area (self time):',
    ...lines(summary.areas),
    '  heaviest functions (self time):',
    ...lines(summary.self),
    "  statelab's functions (including what they call):",
    ...lines(summary.inclusive),
  ].join('\n')
  return { ...summary, text }
}

function functionName(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const where = shortUrl(frame.url)
  return where
    ? `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`
    : frame.functionName
}

/** `src/tcp/frame-reader.ts`, `node:internal/streams/readable`, `pino/lib/proto.js`: short but unambiguous. */
function shortUrl(url: string): string {
  if (url === '') return ''
  if (url.startsWith('node:')) return url
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) return url.slice(modules + '/node_modules/'.length)
  const src = url.lastIndexOf('/src/')
  if (src !== -1) return url.slice(src + 1)
  const bench = url.lastIndexOf('/bench/')
  return bench !== -1 ? url.slice(bench + 1) : url
}

function areaOf(url: string, functionName: string): string {
  if (url === '') {
    // V8's pseudo-frames, and native code (hashing, fs and socket bindings) that has no script.
    if (functionName === '(idle)') return 'idle'
    if (functionName === '(garbage collector)') return 'garbage collector'
    if (functionName === '(program)') return 'native (program)'
    return `native: ${functionName}`
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 3).join('/')
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/')
    return `package ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`
  }
  const src = url.lastIndexOf('/src/')
  if (src !== -1)
    return `statelab ${url
      .slice(src + 1)
      .split('/')
      .slice(0, 2)
      .join('/')}`
  return shortUrl(url)
}
