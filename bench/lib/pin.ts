// Keeps a server and its load generator off each other's core, where the OS lets us (Linux `taskset`).
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

const CLOCK_TICKS_PER_SECOND = 100

/** The cores a benchmark's two sides run on, or why they are not pinned. */
export type Pinning =
  | { readonly pinned: true; readonly loadCpu: number; readonly serverCpu: number }
  | { readonly pinned: false; readonly reason: string }

/** Pins this process (the load generator) to core 0 and says where servers go, or why nothing is pinned. */
export function pinLoadGenerator(): Pinning {
  if (availableParallelism() < 2) return { pinned: false, reason: 'fewer than 2 cores available' }
  try {
    setAffinity(process.pid, 0)
  } catch (err) {
    return { pinned: false, reason: `taskset failed: ${(err as Error).message.split('\n')[0]}` }
  }
  return { pinned: true, loadCpu: 0, serverCpu: 1 }
}

/** Pins every thread of `pid` to the server's core; a no-op when nothing is pinned. */
export function pinServer(pinning: Pinning, pid: number | undefined): void {
  if (pinning.pinned && pid !== undefined) setAffinity(pid, pinning.serverCpu)
}

function setAffinity(pid: number, cpu: number): void {
  // -a: every thread (libuv's pool, V8's compiler and GC threads), not only the main one.
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore', timeout: 5000 })
}

/** CPU time `pid` has used so far (user + system, all threads), in seconds; undefined where /proc is absent. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    // After the command name (which may hold spaces, so split after its closing parenthesis): utime and stime
    // are fields 14 and 15, in clock ticks (100 per second on Linux).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
  } catch {
    return undefined
  }
}
