import type { FastifyInstance } from 'fastify'
import {
  type CalcMemory,
  clearHistory,
  EMPTY_CALC_MEMORY,
  lastResult,
  redo,
  remember,
  undo,
} from '../../core/calc/calc-memory.ts'
import { calculate, OPERATIONS } from '../../core/calc/calculator.ts'
import { AppError } from '../../core/errors.ts'
import { countMessage, type SessionData } from '../../core/sessions/session.ts'
import type { Runtime } from '../../runtime.ts'
import type { AuthenticateHook } from '../app.ts'
import type { Principal } from '../authenticator.ts'
import { iso } from './users.ts'

// Validation is the calculator's own (each mistake has its code); the schema documents the shape.
const calcBody = {
  type: 'object',
  description: `{operation, a, b} for ${OPERATIONS.slice(0, 7).join(', ')} (sqrt takes only a); {operation, values} for average, sum, min, max`,
  properties: {
    operation: { description: OPERATIONS.join(' | ') },
    a: { description: 'first operand' },
    b: { description: 'second operand' },
    values: { description: 'numbers for an aggregate, at most 10,000' },
  },
} as const

/** Seed 002's stateless calculator: every request carries every number, and the server forgets them. */
export function registerStatelessCalcRoutes(app: FastifyInstance): void {
  app.post(
    '/api/calc',
    {
      schema: {
        tags: ['calc'],
        summary: 'Calculate; the server remembers nothing, so send the previous result back yourself',
        body: calcBody,
      },
    },
    async (request) => {
      if ((request.body as { use_last?: unknown } | undefined)?.use_last === true) {
        throw new AppError(
          'ERR_CALC_NO_LAST_RESULT',
          'This server remembers nothing, so it has no last result: send the previous result as "a"',
        )
      }
      return calculate(request.body)
    },
  )
}

/** Seed 002's stateful calculator: the session remembers the last result, the history, undo and redo. */
export function registerStatefulCalcRoutes(
  app: FastifyInstance,
  runtime: Runtime,
  authenticate: AuthenticateHook,
): void {
  const limit = runtime.config.calcHistoryLimit
  const describe = (memory: CalcMemory) => ({
    last_result: lastResult(memory) ?? null,
    history_length: memory.history.length,
    can_undo: memory.history.length > 0,
    can_redo: memory.undone.length > 0,
  })

  /**
   * Changes the calculator's memory inside the session with compare-and-swap, counting the request's message
   * in the same write (the routes are marked `countsMessage`); returns the new memory. A step the calculator
   * refuses still counts the message, then the refusal is thrown.
   */
  async function change(principal: Principal, update: (memory: CalcMemory, now: number) => CalcMemory) {
    let refused: { error: unknown } | undefined
    // From the session the authenticator has just read, not its id: saves a read, and a decode of the whole
    // history, per request; should another request change it meanwhile, compare-and-swap re-reads it.
    const session = await runtime.sessions.advance(
      principal.session ?? principal.sessionId!,
      (data: SessionData) => {
        refused = undefined
        const counted = countMessage(data)
        try {
          return { ...counted, calc: update(data.calc ?? EMPTY_CALC_MEMORY, runtime.clock.now()) }
        } catch (error) {
          refused = { error }
          return counted
        }
      },
    )
    if (refused) throw refused.error
    return session.data.calc ?? EMPTY_CALC_MEMORY
  }
  /** Route options of the routes that call {@link change}. */
  const changing = { preHandler: authenticate, config: { countsMessage: true } }

  app.post<{ Body: Record<string, unknown> }>(
    '/api/calc',
    {
      ...changing,
      schema: {
        tags: ['calc'],
        summary: 'Calculate in my session; {"use_last": true} stands for the last result',
        body: {
          ...calcBody,
          properties: { ...calcBody.properties, use_last: { description: 'true: use the last result as a' } },
        },
      },
    },
    async (request) => {
      const body = request.body ?? {}
      const memory = await change(request.principal, (memory, now) => {
        let last: number | undefined
        if (body.use_last === true) {
          last = lastResult(memory)
          if (last === undefined) {
            throw new AppError(
              'ERR_CALC_NO_LAST_RESULT',
              'There is no last result yet: calculate something first',
            )
          }
        }
        return remember(memory, { ...calculate(body, last), at: now }, limit)
      })
      const step = memory.history.at(-1)!
      return {
        operation: step.operation,
        expression: step.expression,
        result: step.result,
        ...describe(memory),
      }
    },
  )

  app.get(
    '/api/calc/history',
    {
      preHandler: authenticate,
      schema: { tags: ['calc'], summary: 'Every step of my calculation, oldest first' },
    },
    async (request) => {
      const memory = request.principal.session?.data.calc ?? EMPTY_CALC_MEMORY
      return {
        ...describe(memory),
        limit,
        history: memory.history.map((s) => ({ expression: s.expression, result: s.result, at: iso(s.at) })),
      }
    },
  )

  app.post(
    '/api/calc/undo',
    { ...changing, schema: { tags: ['calc'], summary: 'Take back the last step' } },
    async (request) => describe(await change(request.principal, undo)),
  )

  app.post(
    '/api/calc/redo',
    { ...changing, schema: { tags: ['calc'], summary: 'Put back the last undone step' } },
    async (request) => describe(await change(request.principal, redo)),
  )

  app.delete(
    '/api/calc/history',
    { ...changing, schema: { tags: ['calc'], summary: 'Forget the history and the last result' } },
    async (request) => describe(await change(request.principal, clearHistory)),
  )

  app.get(
    '/api/calc/stats',
    {
      preHandler: authenticate,
      schema: { tags: ['calc'], summary: 'Calculations per operation, and the session age' },
    },
    async (request) => {
      const session = request.principal.session!
      const counts = session.data.calc?.counts ?? {}
      return {
        operations: counts,
        total_operations: Object.values(counts).reduce((total, n) => total + (n ?? 0), 0),
        session_age_seconds: Math.floor((runtime.clock.now() - session.createdAt) / 1000),
        ...describe(session.data.calc ?? EMPTY_CALC_MEMORY),
      }
    },
  )
}
