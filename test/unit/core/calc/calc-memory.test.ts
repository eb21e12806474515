import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type CalcMemory,
  type CalcStep,
  clearHistory,
  EMPTY_CALC_MEMORY,
  lastResult,
  redo,
  remember,
  undo,
} from '../../../../src/core/calc/calc-memory.ts'
import type { Operation } from '../../../../src/core/calc/calculator.ts'
import { AppError, type ErrorCode } from '../../../../src/core/errors.ts'

const LIMIT = 100

/** A step whose result and time are `n`, so order is easy to read back. */
function step(n: number, operation: Operation = 'add'): CalcStep {
  return { operation, expression: `${n} + 0`, result: n, at: 1000 + n }
}

/** Memory after remembering `results` in order. */
function after(results: readonly number[], limit = LIMIT): CalcMemory {
  return results.reduce((memory, n) => remember(memory, step(n), limit), EMPTY_CALC_MEMORY)
}

const resultsOf = (memory: CalcMemory) => memory.history.map((s) => s.result)

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => err instanceof AppError && err.code === code)
}

/** Deep-freezes a memory so that any mutation throws. */
function frozen(memory: CalcMemory): CalcMemory {
  for (const s of [...memory.history, ...memory.undone]) Object.freeze(s)
  Object.freeze(memory.history)
  Object.freeze(memory.undone)
  Object.freeze(memory.counts)
  return Object.freeze(memory)
}

describe('calc memory', () => {
  it('starts empty, with no last result', () => {
    assert.deepEqual(EMPTY_CALC_MEMORY, { history: [], undone: [], counts: {} })
    assert.ok(Object.isFrozen(EMPTY_CALC_MEMORY))
    assert.equal(lastResult(EMPTY_CALC_MEMORY), undefined)
  })

  describe('remember', () => {
    it('appends the step, which becomes the last result', () => {
      const memory = after([15, 30])
      assert.deepEqual(memory.history, [step(15), step(30)])
      assert.equal(lastResult(memory), 30)
    })

    it('counts calculations per operation', () => {
      let memory = EMPTY_CALC_MEMORY
      for (const operation of ['add', 'multiply', 'add', 'sqrt'] as const) {
        memory = remember(memory, step(1, operation), LIMIT)
      }
      assert.deepEqual(memory.counts, { add: 2, multiply: 1, sqrt: 1 })
    })

    it('keeps at most `limit` steps, dropping the oldest', () => {
      const memory = after([1, 2, 3, 4, 5, 6, 7, 8], 5)
      assert.deepEqual(resultsOf(memory), [4, 5, 6, 7, 8])
      assert.equal(lastResult(memory), 8)
      // Dropped steps are still counted: they were calculated.
      assert.deepEqual(memory.counts, { add: 8 })
    })

    it('keeps exactly `limit` steps without dropping any', () => {
      assert.deepEqual(resultsOf(after([1, 2, 3], 3)), [1, 2, 3])
      assert.deepEqual(resultsOf(after([1, 2], 1)), [2])
    })

    it('clears redo', () => {
      const undone = undo(undo(after([1, 2, 3])))
      assert.equal(undone.undone.length, 2)
      const memory = remember(undone, step(9), LIMIT)
      assert.deepEqual(memory.undone, [])
      assert.deepEqual(resultsOf(memory), [1, 9])
      throwsCode(() => redo(memory), 'ERR_CALC_NOTHING_TO_REDO')
    })
  })

  describe('undo and redo', () => {
    it('undo takes back the last step; the previous result becomes the last', () => {
      const memory = undo(after([1, 2, 3]))
      assert.deepEqual(resultsOf(memory), [1, 2])
      assert.deepEqual(memory.undone, [step(3)])
      assert.equal(lastResult(memory), 2)
    })

    it('undoes to the very beginning, then ERR_CALC_NOTHING_TO_UNDO', () => {
      let memory = after([1, 2, 3])
      for (let i = 0; i < 3; i++) memory = undo(memory)
      assert.deepEqual(memory.history, [])
      assert.equal(lastResult(memory), undefined)
      throwsCode(() => undo(memory), 'ERR_CALC_NOTHING_TO_UNDO')
    })

    it('ERR_CALC_NOTHING_TO_UNDO on the empty memory', () => {
      throwsCode(() => undo(EMPTY_CALC_MEMORY), 'ERR_CALC_NOTHING_TO_UNDO')
    })

    it('redo puts back undone steps newest-undone first, to the very end, then ERR_CALC_NOTHING_TO_REDO', () => {
      const full = after([1, 2, 3])
      let memory = undo(undo(undo(full)))
      memory = redo(memory)
      assert.deepEqual(resultsOf(memory), [1])
      memory = redo(memory)
      assert.deepEqual(resultsOf(memory), [1, 2])
      memory = redo(memory)
      assert.deepEqual(memory.history, full.history)
      assert.deepEqual(memory.undone, [])
      assert.equal(lastResult(memory), 3)
      throwsCode(() => redo(memory), 'ERR_CALC_NOTHING_TO_REDO')
    })

    it('ERR_CALC_NOTHING_TO_REDO when nothing was undone', () => {
      throwsCode(() => redo(EMPTY_CALC_MEMORY), 'ERR_CALC_NOTHING_TO_REDO')
      throwsCode(() => redo(after([1])), 'ERR_CALC_NOTHING_TO_REDO')
    })

    it('neither takes back nor adds to the counts', () => {
      const memory = after([1, 2])
      assert.deepEqual(undo(undo(memory)).counts, { add: 2 })
      assert.deepEqual(redo(undo(memory)).counts, { add: 2 })
    })
  })

  describe('clearHistory', () => {
    it('forgets the history, the last result and redo, but keeps the counts', () => {
      const memory = clearHistory(undo(after([1, 2, 3])))
      assert.deepEqual(memory, { history: [], undone: [], counts: { add: 3 } })
      assert.equal(lastResult(memory), undefined)
      throwsCode(() => undo(memory), 'ERR_CALC_NOTHING_TO_UNDO')
      throwsCode(() => redo(memory), 'ERR_CALC_NOTHING_TO_REDO')
    })

    it('counts go on from where they were', () => {
      const memory = remember(clearHistory(after([1, 2])), step(3, 'sqrt'), LIMIT)
      assert.deepEqual(memory.counts, { add: 2, sqrt: 1 })
      assert.deepEqual(resultsOf(memory), [3])
    })
  })

  it('never changes the memory it is given', () => {
    const base = frozen(undo(after([1, 2, 3])))
    const snapshot = structuredClone(base)
    // Frozen inputs: any in-place change would throw in strict mode.
    const changed = [
      remember(base, step(4), LIMIT),
      remember(base, step(4), 1),
      undo(base),
      redo(base),
      clearHistory(base),
    ]
    assert.deepEqual(base, snapshot)
    for (const memory of changed) {
      assert.notEqual(memory, base)
      assert.notEqual(memory.history, base.history)
    }
    assert.equal(lastResult(base), 2)
  })

  it('works from the frozen empty memory', () => {
    const memory = remember(EMPTY_CALC_MEMORY, step(1), LIMIT)
    assert.equal(lastResult(memory), 1)
    assert.deepEqual(EMPTY_CALC_MEMORY, { history: [], undone: [], counts: {} })
  })
})
