import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { bytesSent, type Exchange, ScriptedClient } from '../../src/cli/client.ts'
import type { CalcReport } from '../../src/cli/demo/calc.ts'
import type { CompareReport } from '../../src/cli/demo/compare.ts'
import { type Harness, startHarness } from '../support/harness.ts'

const run = promisify(execFile)
const bin = join(import.meta.dirname, '..', '..', 'bin', 'statelab.mjs')

/** The CLI as a user pipes it: stdout is not a terminal (and NO_COLOR is unset: piping alone turns colour off). */
async function statelab(...args: string[]): Promise<string> {
  const env = { ...process.env }
  delete env.NO_COLOR
  const { stdout } = await run(process.execPath, [bin, ...args], { env })
  return stdout
}

function assertCalcReport(report: CalcReport): void {
  assert.equal(report.ok, true, report.failures.join('\n'))
  assert.equal(report.stateless.result, 27)
  assert.equal(report.stateful.result, 27)
  assert.deepEqual(report.stateless.results, [15, 30, 27])
  assert.deepEqual(report.stateful.results, [15, 30, 27])
  assert.deepEqual(report.stateless.numbersSent, [10, 5, 15, 2, 30, 3])
  assert.deepEqual(report.stateful.numbersSent, [10, 5, 2, 3])
  assert.ok(report.stateless.numbersSent.length > report.stateful.numbersSent.length)
  assert.equal(report.stateful.undo, 30)
  assert.equal(report.stateful.redo, 27)
  assert.deepEqual(report.stateful.history, ['10 + 5 = 15', '15 × 2 = 30', '30 - 3 = 27'])
  for (const side of [report.stateless, report.stateful]) {
    assert.ok(side.bytes.head > 0 && side.bytes.body > 0, JSON.stringify(side.bytes))
    assert.equal(side.bytes.total, side.bytes.head + side.bytes.body)
    assert.equal(
      side.bytes.total,
      side.exchanges.reduce((n, e) => n + bytesSent(e), 0),
    )
  }
  assert.equal(report.stateless.bytes.requests, 3)
  assert.equal(report.stateful.bytes.requests, 4)
  assert.deepEqual(
    report.stateless.features.map((e) => e.status),
    [404, 404, 404, 404],
  )
  assert.deepEqual(
    report.stateful.features.map((e) => e.status),
    [200, 200, 200, 200],
  )
}

describe('statelab demo calc', () => {
  it('prints both columns reaching 27, the numbers and bytes each sent, and undo/redo', async () => {
    const stdout = await statelab('demo', 'calc')
    assert.ok(!stdout.includes('\u001b['), 'no colours when piped')
    assert.match(
      stdout,
      /← 200 30 - 3 = 27: the client keeps 27 +│ ← 200 30 - 3 = 27: the server keeps 27 \(history: 3\)\n/,
      'both columns end at 27',
    )
    assert.match(stdout, /│ {3}\{"operation":"multiply","use_last":true,"b":2\}/)
    assert.match(stdout, /numbers sent +6: 10, 5, 15, 2, 30, 3 +4: 10, 5, 2, 3\n/)
    const bytes = /bytes sent \(line\+headers \+ body\) +(\d+) \(\d+ \+ \d+\) +(\d+) \(\d+ \+ \d+\)/.exec(
      stdout,
    )
    assert.ok(bytes, stdout)
    assert.ok(Number(bytes[1]) > 0 && Number(bytes[2]) > 0)
    assert.match(stdout, /result +27 +27\n/)
    assert.match(stdout, /POST \/api\/calc\/undo +404 ERR_NOT_FOUND +200 last result 30/)
    assert.match(stdout, /POST \/api\/calc\/redo +404 ERR_NOT_FOUND +200 last result 27/)
    assert.match(
      stdout,
      /GET \/api\/calc\/history +404 ERR_NOT_FOUND +200 10 \+ 5 = 15, 15 × 2 = 30, 30 - 3 = 27/,
    )
    assert.match(stdout, /✓ Both sides reached 27/)
  })

  it('--json reports both sides, the summary numbers and the results', async () => {
    assertCalcReport(JSON.parse(await statelab('demo', 'calc', '--json')) as CalcReport)
  })

  describe('against running APIs (--stateless-url, --stateful-url)', () => {
    let harness: Harness
    const urls: string[] = []
    before(async () => {
      harness = await startHarness()
      for (const app of [harness.stateless, harness.stateful])
        urls.push(await app.listen({ port: 0, host: '127.0.0.1' }))
    })
    after(() => harness.dispose())

    it('computes 27 on both and leaves no session behind', async () => {
      const report = JSON.parse(
        await statelab('demo', 'calc', '--stateless-url', urls[0]!, '--stateful-url', urls[1]!, '--json'),
      ) as CalcReport
      assertCalcReport(report)
      assert.equal(report.stateless.url, urls[0])
      assert.equal(report.stateful.url, urls[1])
      const sessionId = report.stateful.exchanges[1]!.requestHeaders['x-session-id']!
      const after = await fetch(`${urls[1]}/api/session`, { headers: { 'x-session-id': sessionId } })
      assert.equal(after.status, 401)
    })

    it('exits with 1 when a side does not answer as expected', async () => {
      await assert.rejects(
        statelab('demo', 'calc', '--stateless-url', urls[1]!, '--stateful-url', urls[0]!),
        (err: { code: number; stdout: string }) => {
          assert.equal(err.code, 1)
          assert.match(err.stdout, /✗ \d+ replies were not as expected/)
          assert.match(err.stdout, /stateful: POST \/api\/session\/start .* it answered 404/)
          return true
        },
      )
    })
  })

  it('wants both URLs or neither', async () => {
    await assert.rejects(
      statelab('demo', 'calc', '--stateless-url', 'http://127.0.0.1:1'),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1)
        assert.match(err.stderr, /--stateless-url and --stateful-url go together/)
        return true
      },
    )
  })
})

describe('statelab demo compare --json', () => {
  let report: CompareReport
  before(async () => {
    report = JSON.parse(await statelab('demo', 'compare', '--json')) as CompareReport
  })

  it('runs the same three actions on each side', () => {
    assert.equal(report.ok, true, report.failures.join('\n'))
    const actions = ['identify yourself', 'upload document.txt', 'list my files']
    assert.deepEqual(
      report.stateless.actions.map((a) => a.action),
      actions,
    )
    assert.deepEqual(
      report.stateful.actions.map((a) => a.action),
      actions,
    )
    assert.deepEqual(report.stateless.files, ['document.txt'])
    assert.deepEqual(report.stateful.files, ['document.txt'])
  })

  it('statelessly, every request carries the password in an authorization header', () => {
    for (const { exchange } of report.stateless.actions) {
      assert.match(exchange.requestHeaders.authorization ?? '', /^Basic [A-Za-z0-9+/]+=*$/)
      assert.equal(exchange.requestHeaders['x-session-id'], undefined)
    }
    assert.deepEqual(report.stateless.carried, { password: 3, sessionId: 0 })
  })

  it('statefully, the password travels once and a session id after it', () => {
    const [login, ...rest] = report.stateful.actions.map((a) => a.exchange) as [Exchange, ...Exchange[]]
    assert.equal(login.path, '/api/session/start')
    assert.equal(login.requestHeaders.authorization, undefined)
    assert.equal(typeof (login.requestBody as { password?: unknown }).password, 'string')
    for (const exchange of rest) {
      assert.match(exchange.requestHeaders['x-session-id'] ?? '', /^\S{32,}$/)
      assert.equal(exchange.requestHeaders.authorization, undefined)
    }
    assert.deepEqual(report.stateful.carried, { password: 1, sessionId: 2 })
  })

  it('counts what each request carried, in bytes of headers and body', () => {
    for (const side of [report.stateless, report.stateful]) {
      for (const { exchange } of side.actions) assert.ok(exchange.requestBytes.head > 0)
      assert.ok(side.bytes.total > 0)
      assert.equal(side.bytes.requests, 3)
    }
  })

  it('only the stateful server stores a session about the conversation', () => {
    assert.equal(report.stateless.memory.exchange?.status, 404)
    assert.equal(report.stateless.memory.stored, null)
    const stored = report.stateful.memory.stored as { username: string; files_uploaded: string[] }
    assert.equal(report.stateful.memory.exchange?.status, 200)
    assert.equal(
      stored.username,
      (report.stateful.actions[0]!.exchange.requestBody as { username: string }).username,
    )
    assert.equal(stored.files_uploaded.length, 1)
  })
})

describe('ScriptedClient', () => {
  it('counts exactly the bytes it puts on the wire', async () => {
    const received: number[] = []
    const server = createServer((socket) => {
      let data = Buffer.alloc(0)
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk])
        const end = data.indexOf('\r\n\r\n')
        const length = Number(/content-length: (\d+)/i.exec(data.toString('latin1'))?.[1] ?? 0)
        if (end === -1 || data.length < end + 4 + length) return
        received.push(data.length)
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}',
        )
      })
    })
    after(() => server.close())
    await once(server.listen(0, '127.0.0.1'), 'listening')
    const { port } = server.address() as { port: number }
    const client = new ScriptedClient(`http://127.0.0.1:${port}`)
    await client.send('post', 'POST', '/api/calc', {
      body: { operation: 'add', a: 10, b: 5 },
      headers: { 'x-a': 'b' },
    })
    await client.send('get', 'GET', '/api/files', { headers: { authorization: 'Basic dTpw' } })
    await client.send('empty post', 'POST', '/api/calc/undo', {})
    assert.deepEqual(
      client.exchanges.map((e) => bytesSent(e)),
      received,
    )
    assert.deepEqual(
      client.exchanges[0]!.requestBytes.body,
      Buffer.byteLength('{"operation":"add","a":10,"b":5}'),
    )
  })
})
