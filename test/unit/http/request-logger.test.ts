import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { FastifyBaseLogger } from 'fastify'
import pino from 'pino'
import { requestLogging } from '../../../src/http/request-logger.ts'
import { logLines } from '../../support/log-lines.ts'

function capture(level: string) {
  const { stream, lines, flushed } = logLines()
  let children = 0
  const parent = pino({ level, onChild: () => children++ }, stream).child({ api: 'stateful' })
  const before = children
  return { parent, lines, flushed, children: () => children - before }
}

function requestLogger(parent: pino.Logger, options = {}): FastifyBaseLogger {
  // Fastify passes its own logger first; without a logger of its own (above info) that one writes nothing.
  return requestLogging(parent).childLoggerFactory!.call(
    undefined as never,
    undefined as never,
    { reqId: 'req-1' },
    options,
    undefined as never,
  )
}

describe('request logger', () => {
  it('makes no child for lines below the level, and writes the rest with the request id', async () => {
    const { parent, lines, flushed, children } = capture('warn')
    const log = requestLogger(parent)
    log.info({ req: 'x' }, 'incoming request')
    log.debug('detail')
    assert.equal(children(), 0, 'a child was made for lines nobody writes')
    assert.equal(log.level, 'warn')

    log.warn({ code: 'ERR_X' }, 'went wrong: %s', 'badly')
    log.error(new Error('boom'))
    assert.equal(children(), 1, 'the child is made once')
    await flushed()
    assert.equal(lines.length, 2)
    assert.deepEqual(
      { reqId: lines[0]!.reqId, api: lines[0]!.api, code: lines[0]!.code, msg: lines[0]!.msg },
      { reqId: 'req-1', api: 'stateful', code: 'ERR_X', msg: 'went wrong: badly' },
    )
    assert.equal(lines[1]!.reqId, 'req-1')
    assert.equal((lines[1]!.err as { message: string }).message, 'boom')
  })

  it('passes a level change and further bindings on to the child', async () => {
    const { parent, lines, flushed } = capture('warn')
    const log = requestLogger(parent)
    log.level = 'debug'
    log.debug('now written')
    log.child({ step: 2 }).info('from a grandchild')
    await flushed()
    assert.deepEqual(
      lines.map((line) => [line.reqId, line.step, line.msg]),
      [
        ['req-1', undefined, 'now written'],
        ['req-1', 2, 'from a grandchild'],
      ],
    )
  })

  it("makes pino's child at once for a route with a level of its own", () => {
    const { parent, children } = capture('warn')
    const log = requestLogger(parent, { level: 'debug' })
    assert.equal(children(), 1)
    assert.equal(log.level, 'debug')
  })

  it('gives Fastify the logger only where its per-request lines would be written', () => {
    for (const [level, given] of [
      ['trace', true],
      ['info', true],
      ['warn', false],
      ['silent', false],
    ] as const) {
      const log = pino({ level })
      const options = requestLogging(log)
      assert.equal(options.loggerInstance === log, given, level)
      assert.equal(typeof options.childLoggerFactory, 'function')
    }
  })
})
