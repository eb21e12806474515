// Child process of bench/tcp.ts: the baselines, a plain `net.Server` with nothing of statelab in it.
//   node --expose-gc bench/lib/tcp-baseline-child.ts idle
//     holds every connection open and reads (and drops) whatever arrives;
//   node --expose-gc bench/lib/tcp-baseline-child.ts sink <dir> [--flush]
//     pipes each connection into a new file in <dir> (fsynced before closing with --flush) and, once the file
//     is closed, answers one line: the bytes written.
import { createWriteStream } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { serveParent } from './bench-child.ts'

const [mode, dir, flag] = process.argv.slice(2)
if (mode !== 'idle' && !(mode === 'sink' && dir !== undefined)) {
  throw new TypeError('usage: tcp-baseline-child.ts idle | sink <dir> [--flush]')
}
const sockets = new Set<Socket>()
let files = 0

function sink(socket: Socket): void {
  const out = createWriteStream(join(dir!, `sink_${process.pid}_${files++}.bin`), {
    flush: flag === '--flush',
  })
  out.on('error', () => socket.destroy())
  out.on('close', () => socket.end(`${out.bytesWritten}\n`))
  socket.pipe(out)
}

const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  sockets.add(socket)
  socket.once('close', () => sockets.delete(socket))
  socket.on('error', () => {})
  if (mode === 'sink') sink(socket)
  else {
    // Half-open is allowed for the sink's answer; an idle connection closes when its client does.
    socket.once('end', () => socket.end())
    socket.resume()
  }
})

await serveParent({
  async start() {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', resolve)
    })
    return { port: (server.address() as { port: number }).port }
  },
  async stop() {
    const closed = new Promise((resolve) => server.close(resolve))
    for (const socket of sockets) socket.destroy()
    await closed
  },
  connections: () => sockets.size,
})
