import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay, setImmediate as nextTurn } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { ErrorCode } from '../../../src/core/errors.ts'
import { type Harness, startHarness } from '../../support/harness.ts'
import { assertError } from '../../support/http.ts'
import { startSession, withSession } from '../../support/stateful.ts'

type Headers = Record<string, string>

const calc = (app: FastifyInstance, payload: unknown, headers: Headers = {}) =>
  app.inject({ method: 'POST', url: '/api/calc', headers, payload: payload as Record<string, unknown> })

/** A JSON body sent as written, for numbers JSON.stringify cannot produce (1e309 parses to Infinity). */
const calcRaw = (app: FastifyInstance, json: string, headers: Headers = {}) =>
  app.inject({
    method: 'POST',
    url: '/api/calc',
    headers: { ...headers, 'content-type': 'application/json' },
    payload: json,
  })

/** POSTs a calculation that must succeed; returns the body. */
async function calcOk(app: FastifyInstance, payload: unknown, headers: Headers = {}) {
  const res = await calc(app, payload, headers)
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

const history = (app: FastifyInstance, headers: Headers) =>
  app.inject({ method: 'GET', url: '/api/calc/history', headers })
const stats = (app: FastifyInstance, headers: Headers) =>
  app.inject({ method: 'GET', url: '/api/calc/stats', headers })
const undo = (app: FastifyInstance, headers: Headers) =>
  app.inject({ method: 'POST', url: '/api/calc/undo', headers })
const redo = (app: FastifyInstance, headers: Headers) =>
  app.inject({ method: 'POST', url: '/api/calc/redo', headers })
const clear = (app: FastifyInstance, headers: Headers) =>
  app.inject({ method: 'DELETE', url: '/api/calc/history', headers })

/** GET /api/calc/history's body, asserting 200. */
async function historyOf(app: FastifyInstance, headers: Headers) {
  const res = await history(app, headers)
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

const TEN_THOUSAND = Array.from({ length: 10_000 }, () => 1)

/** Every way a calculation can be wrong, with the code each must answer (always 400). */
const BAD_CALCULATIONS: readonly { name: string; json: string; code: ErrorCode; message?: RegExp }[] = [
  { name: 'unknown operation', json: '{"operation":"root","a":4}', code: 'ERR_CALC_OPERATION' },
  { name: 'missing operation', json: '{"a":1,"b":2}', code: 'ERR_CALC_OPERATION' },
  { name: 'non-string operation', json: '{"operation":7,"a":1,"b":2}', code: 'ERR_CALC_OPERATION' },
  {
    name: 'non-numeric operand',
    json: '{"operation":"add","a":"10","b":5}',
    code: 'ERR_CALC_OPERAND',
    message: /"a"/,
  },
  { name: 'missing operand', json: '{"operation":"add","a":10}', code: 'ERR_CALC_OPERAND', message: /"b"/ },
  {
    name: 'Infinity operand',
    json: '{"operation":"add","a":1e309,"b":1}',
    code: 'ERR_CALC_OPERAND',
    message: /"a".*Infinity/,
  },
  { name: 'null operand', json: '{"operation":"sqrt","a":null}', code: 'ERR_CALC_OPERAND', message: /"a"/ },
  {
    name: 'values not an array',
    json: '{"operation":"sum","values":"1,2"}',
    code: 'ERR_CALC_OPERAND',
    message: /"values"/,
  },
  { name: 'empty values', json: '{"operation":"min","values":[]}', code: 'ERR_CALC_OPERAND' },
  { name: 'missing values', json: '{"operation":"average"}', code: 'ERR_CALC_OPERAND' },
  {
    name: 'a non-number among the values',
    json: '{"operation":"max","values":[1,2,3,"x",5]}',
    code: 'ERR_CALC_OPERAND',
    message: /"values\[3\]"/,
  },
  {
    name: '10,001 values',
    json: JSON.stringify({ operation: 'sum', values: [...TEN_THOUSAND, 1] }),
    code: 'ERR_CALC_TOO_MANY_VALUES',
  },
  { name: 'divide by zero', json: '{"operation":"divide","a":1,"b":0}', code: 'ERR_CALC_DIVISION_BY_ZERO' },
  { name: 'modulo by zero', json: '{"operation":"modulo","a":1,"b":0}', code: 'ERR_CALC_DIVISION_BY_ZERO' },
  { name: '1e308 × 10', json: '{"operation":"multiply","a":1e308,"b":10}', code: 'ERR_CALC_NOT_FINITE' },
  { name: 'sqrt(-1)', json: '{"operation":"sqrt","a":-1}', code: 'ERR_CALC_NOT_FINITE' },
  { name: '0 ^ -1', json: '{"operation":"power","a":0,"b":-1}', code: 'ERR_CALC_NOT_FINITE' },
]

describe('calculator API', () => {
  let harness: Harness
  let stateless: FastifyInstance
  let stateful: FastifyInstance
  after(() => harness.dispose())
  before(async () => {
    harness = await startHarness()
    stateless = harness.stateless
    stateful = harness.stateful
  })

  /** A fresh session of a fresh user, as headers. */
  const newSession = async () => withSession(await startSession(stateful, await harness.register()))

  describe('stateless', () => {
    it('calculates without authentication and answers exactly {operation, expression, result}', async () => {
      assert.deepEqual(await calcOk(stateless, { operation: 'add', a: 10, b: 5 }), {
        operation: 'add',
        expression: '10 + 5',
        result: 15,
      })
      assert.deepEqual(await calcOk(stateless, { operation: 'average', values: [1, 2, 6] }), {
        operation: 'average',
        expression: 'average(1, 2, 6)',
        result: 3,
      })
    })

    it('takes 10,000 values', async () => {
      const body = await calcOk(stateless, { operation: 'sum', values: TEN_THOUSAND })
      assert.equal(body.result, 10_000)
      assert.equal(body.expression, 'sum(1, 1, 1, 1, 1, … 9995 more)')
    })

    it('answers use_last with 409 ERR_CALC_NO_LAST_RESULT: the server remembers nothing', async () => {
      const res = await calc(stateless, { operation: 'add', use_last: true, b: 1 })
      const message = assertError(res, 409, 'ERR_CALC_NO_LAST_RESULT')
      assert.match(message, /remembers nothing/)
      // The client carries the chain instead: ((10 + 5) × 2) - 3.
      const sum = await calcOk(stateless, { operation: 'add', a: 10, b: 5 })
      const product = await calcOk(stateless, { operation: 'multiply', a: sum.result, b: 2 })
      const difference = await calcOk(stateless, { operation: 'subtract', a: product.result, b: 3 })
      assert.equal(difference.result, 27)
    })

    it('has no history, undo or stats', async () => {
      assertError(await history(stateless, {}), 404, 'ERR_NOT_FOUND')
      assertError(await undo(stateless, {}), 404, 'ERR_NOT_FOUND')
      assertError(await stats(stateless, {}), 404, 'ERR_NOT_FOUND')
    })
  })

  describe('every error with 400 and its own code', () => {
    for (const api of ['stateless', 'stateful'] as const) {
      describe(api, () => {
        let app: FastifyInstance
        let headers: Headers = {}
        before(async () => {
          app = api === 'stateless' ? stateless : stateful
          if (api === 'stateful') headers = await newSession()
        })

        for (const { name, json, code, message } of BAD_CALCULATIONS) {
          it(`${name} → ${code}`, async () => {
            const text = assertError(await calcRaw(app, json, headers), 400, code)
            if (message) assert.match(text, message)
          })
        }

        if (api === 'stateful') {
          it('remembers none of the failed calculations', async () => {
            const body = await historyOf(app, headers)
            assert.deepEqual(body.history, [])
            assert.equal(body.last_result, null)
            assert.equal((await stats(app, headers)).json().total_operations, 0)
          })
        }
      })
    }
  })

  describe('stateful', () => {
    it('answers 401 ERR_UNAUTHENTICATED without a session', async () => {
      for (const request of [
        calc(stateful, { operation: 'add', a: 1, b: 2 }),
        history(stateful, {}),
        undo(stateful, {}),
        redo(stateful, {}),
        clear(stateful, {}),
        stats(stateful, {}),
      ]) {
        assertError(await request, 401, 'ERR_UNAUTHENTICATED')
      }
    })

    it("runs the seed's chain ((10 + 5) × 2) - 3 = 27 with use_last", async () => {
      const session = await newSession()
      assert.deepEqual(await calcOk(stateful, { operation: 'add', a: 10, b: 5 }, session), {
        operation: 'add',
        expression: '10 + 5',
        result: 15,
        last_result: 15,
        history_length: 1,
        can_undo: true,
        can_redo: false,
      })
      const product = await calcOk(stateful, { operation: 'multiply', use_last: true, b: 2 }, session)
      assert.equal(product.expression, '15 × 2')
      assert.equal(product.result, 30)
      const difference = await calcOk(stateful, { operation: 'subtract', use_last: true, b: 3 }, session)
      assert.equal(difference.expression, '30 - 3')
      assert.equal(difference.result, 27)
      assert.equal(difference.last_result, 27)
      assert.equal(difference.history_length, 3)
      // use_last also stands in for sqrt's a and goes first among an aggregate's values.
      assert.equal(
        (await calcOk(stateful, { operation: 'sum', use_last: true, values: [3] }, session)).result,
        30,
      )
      const root = await calcOk(stateful, { operation: 'sqrt', use_last: true, a: 1 }, session)
      assert.equal(root.expression, '√30')
    })

    it('answers use_last before any calculation with 409 ERR_CALC_NO_LAST_RESULT', async () => {
      const session = await newSession()
      const res = await calc(stateful, { operation: 'add', use_last: true, b: 1 }, session)
      const message = assertError(res, 409, 'ERR_CALC_NO_LAST_RESULT')
      assert.doesNotMatch(message, /remembers nothing/)
      assert.equal((await historyOf(stateful, session)).history_length, 0)
    })

    it('lists every step with its expression, result and time', async () => {
      const session = await newSession()
      const times: string[] = []
      for (const payload of [
        { operation: 'add', a: 10, b: 5 },
        { operation: 'multiply', use_last: true, b: 2 },
        { operation: 'max', values: [1, 9, 4] },
      ]) {
        harness.clock.advance(61_000)
        times.push(new Date(harness.clock.now()).toISOString())
        await calcOk(stateful, payload, session)
      }
      harness.clock.advance(5_000)
      assert.deepEqual(await historyOf(stateful, session), {
        last_result: 9,
        history_length: 3,
        can_undo: true,
        can_redo: false,
        limit: 1000,
        history: [
          { expression: '10 + 5', result: 15, at: times[0] },
          { expression: '15 × 2', result: 30, at: times[1] },
          { expression: 'max(1, 9, 4)', result: 9, at: times[2] },
        ],
      })
    })

    it('undoes to the very beginning and redoes to the very end', async () => {
      const session = await newSession()
      for (const payload of [
        { operation: 'add', a: 10, b: 5 },
        { operation: 'multiply', use_last: true, b: 2 },
        { operation: 'subtract', use_last: true, b: 3 },
      ]) {
        await calcOk(stateful, payload, session)
      }
      const undone: unknown[] = []
      for (const expected of [30, 15, null]) {
        const res = await undo(stateful, session)
        assert.equal(res.statusCode, 200, res.body)
        undone.push(res.json())
        assert.equal(res.json().last_result, expected)
      }
      assert.deepEqual(undone.at(-1), {
        last_result: null,
        history_length: 0,
        can_undo: false,
        can_redo: true,
      })
      assertError(await undo(stateful, session), 409, 'ERR_CALC_NOTHING_TO_UNDO')
      const empty = await historyOf(stateful, session)
      assert.equal(empty.last_result, null)
      assert.deepEqual(empty.history, [])
      // With nothing left, use_last has nothing to stand for.
      assertError(
        await calc(stateful, { operation: 'add', use_last: true, b: 1 }, session),
        409,
        'ERR_CALC_NO_LAST_RESULT',
      )

      for (const expected of [15, 30, 27]) {
        const res = await redo(stateful, session)
        assert.equal(res.statusCode, 200, res.body)
        assert.equal(res.json().last_result, expected)
      }
      assertError(await redo(stateful, session), 409, 'ERR_CALC_NOTHING_TO_REDO')
      const full = await historyOf(stateful, session)
      assert.deepEqual(
        full.history.map((s: { expression: string }) => s.expression),
        ['10 + 5', '15 × 2', '30 - 3'],
      )
      assert.equal(full.can_redo, false)
      // Undo and redo are not calculations.
      assert.equal((await stats(stateful, session)).json().total_operations, 3)
    })

    it('clears redo with a new calculation after undo', async () => {
      const session = await newSession()
      await calcOk(stateful, { operation: 'add', a: 1, b: 1 }, session)
      await calcOk(stateful, { operation: 'add', use_last: true, b: 1 }, session)
      assert.equal((await undo(stateful, session)).json().can_redo, true)
      const body = await calcOk(stateful, { operation: 'multiply', use_last: true, b: 10 }, session)
      assert.equal(body.result, 20)
      assert.equal(body.can_redo, false)
      assertError(await redo(stateful, session), 409, 'ERR_CALC_NOTHING_TO_REDO')
      assert.deepEqual(
        (await historyOf(stateful, session)).history.map((s: { result: number }) => s.result),
        [2, 20],
      )
    })

    it('counts calculations per operation and reports the session age', async () => {
      const session = await newSession()
      for (const payload of [
        { operation: 'add', a: 1, b: 2 },
        { operation: 'add', use_last: true, b: 2 },
        { operation: 'sqrt', a: 16 },
        { operation: 'sum', values: [1, 2] },
      ]) {
        await calcOk(stateful, payload, session)
      }
      await undo(stateful, session)
      harness.clock.advance(90_500)
      const res = await stats(stateful, session)
      assert.equal(res.statusCode, 200, res.body)
      assert.deepEqual(res.json(), {
        operations: { add: 2, sqrt: 1, sum: 1 },
        total_operations: 4,
        session_age_seconds: 90,
        last_result: 4,
        history_length: 3,
        can_undo: true,
        can_redo: true,
      })
    })

    it('forgets the history and the last result on DELETE, but keeps the stats', async () => {
      const session = await newSession()
      await calcOk(stateful, { operation: 'add', a: 1, b: 2 }, session)
      await calcOk(stateful, { operation: 'multiply', use_last: true, b: 3 }, session)
      await undo(stateful, session)
      const res = await clear(stateful, session)
      assert.equal(res.statusCode, 200, res.body)
      assert.deepEqual(res.json(), { last_result: null, history_length: 0, can_undo: false, can_redo: false })
      const empty = await historyOf(stateful, session)
      assert.deepEqual(empty.history, [])
      assert.equal(empty.last_result, null)
      assertError(await undo(stateful, session), 409, 'ERR_CALC_NOTHING_TO_UNDO')
      assertError(await redo(stateful, session), 409, 'ERR_CALC_NOTHING_TO_REDO')
      assertError(
        await calc(stateful, { operation: 'add', use_last: true, b: 1 }, session),
        409,
        'ERR_CALC_NO_LAST_RESULT',
      )
      const counted = (await stats(stateful, session)).json()
      assert.deepEqual(counted.operations, { add: 1, multiply: 1 })
      assert.equal(counted.total_operations, 2)
    })

    it('changes the session once per request, counting the message in that write, refused steps too', async () => {
      const session = await newSession()
      const state = async () => {
        const res = await stateful.inject({ url: '/api/session', headers: session })
        assert.equal(res.statusCode, 200, res.body)
        const { version, message_count } = res.json()
        return { version, messages: message_count }
      }
      const start = await state()
      await calcOk(stateful, { operation: 'add', a: 1, b: 2 }, session)
      assertError(
        await calc(stateful, { operation: 'divide', a: 1, b: 0 }, session),
        400,
        'ERR_CALC_DIVISION_BY_ZERO',
      )
      assert.equal((await undo(stateful, session)).statusCode, 200)
      assert.equal((await redo(stateful, session)).statusCode, 200)
      assert.equal((await clear(stateful, session)).statusCode, 200)
      // Five requests that change something: five messages, and five versions (one write each), not ten.
      assert.deepEqual(await state(), { version: start.version + 5, messages: start.messages + 5 })
      const after = await historyOf(stateful, session)
      assert.equal(after.history_length, 0)
    })

    it('keeps the memory per session: a second session of the same user starts empty', async () => {
      const user = await harness.register()
      const first = withSession(await startSession(stateful, user))
      await calcOk(stateful, { operation: 'add', a: 40, b: 2 }, first)
      const second = withSession(await startSession(stateful, user))
      const empty = await historyOf(stateful, second)
      assert.deepEqual(empty.history, [])
      assert.equal(empty.last_result, null)
      assert.equal((await stats(stateful, second)).json().total_operations, 0)
      assertError(
        await calc(stateful, { operation: 'add', use_last: true, b: 1 }, second),
        409,
        'ERR_CALC_NO_LAST_RESULT',
      )
      await calcOk(stateful, { operation: 'add', a: 1, b: 1 }, second)
      // And the second session's work does not reach the first.
      const firstHistory = await historyOf(stateful, first)
      assert.equal(firstHistory.last_result, 42)
      assert.equal(firstHistory.history_length, 1)
    })

    it('loses no step when 20 use_last requests hit one session at once', async (t) => {
      const session = await newSession()
      await calcOk(stateful, { operation: 'add', a: 0, b: 0 }, session)
      // A store that answers reads late and unevenly (as a networked one would) makes the requests interleave:
      // they read the same version before any writes back, and one that lost a swap and backed off can win
      // its next one while another is between reading and writing. A single turn would not do: the winner
      // would finish alone within the losers' backoff, hiding a use_last read outside the compare-and-swap.
      const { store } = harness.runtime.sessions
      const get = store.get.bind(store)
      let reads = 0
      t.mock.method(store, 'get', async (id: string) => {
        const found = await get(id)
        const ms = [0, 2, 1][reads++ % 3]!
        await (ms === 0 ? nextTurn() : delay(ms))
        return found
      })
      const compareAndSwap = store.compareAndSwap.bind(store)
      let conflicts = 0
      t.mock.method(store, 'compareAndSwap', async (...args: Parameters<typeof compareAndSwap>) => {
        await nextTurn()
        const swapped = await compareAndSwap(...args)
        if (!swapped) conflicts++
        return swapped
      })

      const responses = await Promise.all(
        Array.from({ length: 20 }, () => calc(stateful, { operation: 'add', use_last: true, b: 1 }, session)),
      )
      assert.deepEqual(
        responses.map((res) => res.statusCode),
        responses.map(() => 200),
        responses.map((res) => res.body).join('\n'),
      )
      // The requests really raced: some lost a compare-and-swap and retried on the new version.
      assert.ok(conflicts > 0, 'the requests never collided; the test proves nothing')
      const results = responses.map((res) => res.json().result).sort((x, y) => x - y)
      assert.deepEqual(
        results,
        Array.from({ length: 20 }, (_, i) => i + 1),
      )
      const body = await historyOf(stateful, session)
      assert.equal(body.history_length, 21)
      assert.equal(body.history.length, 21)
      assert.equal(body.last_result, 20)
      assert.deepEqual(
        body.history.map((s: { result: number }) => s.result),
        Array.from({ length: 21 }, (_, i) => i),
      )
    })
  })

  describe('stateful with calcHistoryLimit 5', () => {
    let limited: Harness
    after(() => limited.dispose())
    before(async () => {
      limited = await startHarness({ overrides: { calcHistoryLimit: 5 } })
    })

    it('keeps the newest 5 steps of 8, and undo 5 times empties the history', async () => {
      const app = limited.stateful
      const session = withSession(await startSession(app, await limited.register()))
      await calcOk(app, { operation: 'add', a: 1, b: 0 }, session)
      for (let i = 2; i <= 8; i++) await calcOk(app, { operation: 'add', use_last: true, b: 1 }, session)
      const body = await historyOf(app, session)
      assert.equal(body.limit, 5)
      assert.equal(body.history_length, 5)
      assert.deepEqual(
        body.history.map((s: { result: number }) => s.result),
        [4, 5, 6, 7, 8],
      )
      assert.equal(body.last_result, 8)
      for (const expected of [7, 6, 5, 4, null]) {
        const res = await undo(app, session)
        assert.equal(res.statusCode, 200, res.body)
        assert.equal(res.json().last_result, expected)
      }
      assertError(await undo(app, session), 409, 'ERR_CALC_NOTHING_TO_UNDO')
      assert.deepEqual((await historyOf(app, session)).history, [])
      // The dropped steps were still calculated.
      assert.equal((await stats(app, session)).json().total_operations, 8)
    })
  })
})
