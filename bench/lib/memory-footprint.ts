// Child process of bench/stores.ts, so that nothing else lives in its heap:
//   node --expose-gc bench/lib/memory-footprint.ts <store|map> <count>
// Prints one JSON line: heap and RSS growth after `count` sessions (each of its own user, as logins make them).
import { systemClock } from '../../src/core/clock.ts'
import { MemorySessionStore } from '../../src/stores/memory/index.ts'
import { makeSession } from './sessions.ts'

/** What the child prints. */
export interface Footprint {
  readonly kind: 'store' | 'map'
  readonly count: number
  readonly jsonBytes: number
  readonly heapBytes: number
  readonly rssBytes: number
}

function settle(): NodeJS.MemoryUsage {
  if (!globalThis.gc) throw new Error('run with node --expose-gc')
  // Twice: the first pass may only promote objects that the second frees.
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage()
}

async function main(): Promise<void> {
  const [kind, countArg] = process.argv.slice(2)
  const count = Number(countArg)
  if ((kind !== 'store' && kind !== 'map') || !Number.isSafeInteger(count) || count < 1) {
    throw new TypeError('usage: node --expose-gc bench/lib/memory-footprint.ts <store|map> <count>')
  }
  const store = new MemorySessionStore({ clock: systemClock, maxSessions: count, sweepIntervalMs: 0 })
  // The baseline: what the same JSON costs in a bare Map, with none of the store's bookkeeping.
  const map = new Map<string, string>()
  const jsonBytes = Buffer.byteLength(JSON.stringify(makeSession(0)))
  const before = settle()
  for (let i = 0; i < count; i++) {
    const session = makeSession(i)
    if (kind === 'store') await store.create(session)
    else map.set(session.id, JSON.stringify(session))
  }
  const after = settle()
  const footprint: Footprint = {
    kind,
    count,
    jsonBytes,
    heapBytes: after.heapUsed - before.heapUsed,
    rssBytes: after.rss - before.rss,
  }
  process.stdout.write(`${JSON.stringify(footprint)}\n`)
  // Keeps both alive until measured.
  if (store.size + map.size !== count) throw new Error('sessions went missing')
  await store.close()
}

await main()
