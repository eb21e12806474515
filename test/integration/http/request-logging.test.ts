import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createLogger } from '../../../src/runtime.ts'
import { startHarness } from '../../support/harness.ts'
import { logLines } from '../../support/log-lines.ts'
import { startSession, withSession } from '../../support/stateful.ts'

/** A logger as statelab makes it, at `level`, whose lines land in `lines`. */
function capturedLog(level: string) {
  const { stream, lines, flushed } = logLines()
  return { log: createLogger(level, stream), lines, flushed }
}

describe('request logging', () => {
  it('at info, logs every request with its request id, and the error it answered', async (t) => {
    const { log, lines, flushed } = capturedLog('info')
    const h = await startHarness({ log })
    t.after(() => h.dispose())
    const res = await h.stateful.inject({
      url: '/api/users/me?page=2',
      headers: { 'x-request-id': 'req-info-1' },
    })
    assert.equal(res.statusCode, 401)
    await flushed()
    const mine = lines.filter((line) => line.reqId === 'req-info-1')
    assert.deepEqual(
      mine.map((line) => line.msg ?? line.code),
      ['incoming request', mine[1]!.msg, 'request completed'],
    )
    assert.deepEqual(mine[0]!.req, {
      id: 'req-info-1',
      method: 'GET',
      path: '/api/users/me',
      remoteAddress: '127.0.0.1',
    })
    assert.equal(mine[1]!.code, 'ERR_UNAUTHENTICATED')
    assert.deepEqual(mine[2]!.res, { statusCode: 401 })
    assert.equal(typeof mine[2]!.responseTime, 'number')
    assert.ok(mine.every((line) => line.api === 'stateful'))
  })

  it('at warn, writes nothing for requests that went well or were refused, and logs a failure with its request id', async (t) => {
    const { log, lines, flushed } = capturedLog('warn')
    const h = await startHarness({ log, overrides: { sessionStore: 'sqlite' } })
    t.after(() => h.dispose())
    const user = await h.register()
    const token = await startSession(h.stateful, user)
    assert.equal(
      (await h.stateful.inject({ url: '/api/users/me', headers: withSession(token) })).statusCode,
      200,
    )
    assert.equal((await h.stateful.inject({ url: '/api/users/me' })).statusCode, 401)
    await flushed()
    assert.equal(lines.length, 0, JSON.stringify(lines))

    // The session store fails under the next request: a 5xx is written at error level with the request id.
    await h.runtime.sessions.store.close?.()
    const failed = await h.stateful.inject({
      url: '/api/users/me',
      headers: { ...withSession(token), 'x-request-id': 'req-warn-1' },
    })
    assert.ok(failed.statusCode >= 500, `answered ${failed.statusCode}`)
    await flushed()
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!.reqId, 'req-warn-1')
    assert.equal(lines[0]!.level, 50)
    assert.equal(lines[0]!.api, 'stateful')
  })
})
