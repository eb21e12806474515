import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { calculate, MAX_VALUES, OPERATIONS } from '../../../../src/core/calc/calculator.ts'
import { AppError, type ErrorCode } from '../../../../src/core/errors.ts'

/** Asserts that `calculate(input, last)` throws an AppError with `code`; returns its message. */
function calcError(code: ErrorCode, input: unknown, last?: number): string {
  let caught: unknown
  try {
    calculate(input, last)
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof AppError, `expected AppError ${code}, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  return caught.message
}

describe('calculate', () => {
  describe('every operation', () => {
    const cases = [
      [{ operation: 'add', a: 10, b: 5 }, '10 + 5', 15],
      [{ operation: 'subtract', a: 10, b: 15 }, '10 - 15', -5],
      [{ operation: 'multiply', a: 15, b: 2 }, '15 × 2', 30],
      [{ operation: 'divide', a: 7, b: 2 }, '7 ÷ 2', 3.5],
      [{ operation: 'power', a: 2, b: 10 }, '2 ^ 10', 1024],
      [{ operation: 'modulo', a: 17, b: 5 }, '17 mod 5', 2],
      [{ operation: 'sqrt', a: 81 }, '√81', 9],
      [{ operation: 'average', values: [1, 2, 3, 6] }, 'average(1, 2, 3, 6)', 3],
      [{ operation: 'sum', values: [1, 2, 3.5] }, 'sum(1, 2, 3.5)', 6.5],
      [{ operation: 'min', values: [4, -2, 9] }, 'min(4, -2, 9)', -2],
      [{ operation: 'max', values: [4, -2, 9] }, 'max(4, -2, 9)', 9],
    ] as const
    for (const [input, expression, result] of cases) {
      it(`${input.operation}: ${expression} = ${result}`, () => {
        assert.deepEqual(calculate(input), { operation: input.operation, expression, result })
      })
    }

    it('covers every operation the calculator knows', () => {
      assert.deepEqual(new Set(cases.map(([input]) => input.operation)), new Set(OPERATIONS))
    })

    it('takes a single value for an aggregate', () => {
      assert.deepEqual(calculate({ operation: 'min', values: [7] }), {
        operation: 'min',
        expression: 'min(7)',
        result: 7,
      })
    })
  })

  describe('the last result', () => {
    it('stands in for a in a binary operation, ignoring any a sent', () => {
      assert.deepEqual(calculate({ operation: 'subtract', a: 100, b: 3 }, 30), {
        operation: 'subtract',
        expression: '30 - 3',
        result: 27,
      })
      assert.deepEqual(calculate({ operation: 'multiply', b: 2 }, 15), {
        operation: 'multiply',
        expression: '15 × 2',
        result: 30,
      })
    })

    it('stands in for a in sqrt', () => {
      assert.deepEqual(calculate({ operation: 'sqrt' }, 16), {
        operation: 'sqrt',
        expression: '√16',
        result: 4,
      })
    })

    it('goes first among the values of an aggregate', () => {
      assert.deepEqual(calculate({ operation: 'sum', values: [1, 2] }, 10), {
        operation: 'sum',
        expression: 'sum(10, 1, 2)',
        result: 13,
      })
      assert.deepEqual(calculate({ operation: 'min', values: [5] }, -1), {
        operation: 'min',
        expression: 'min(-1, 5)',
        result: -1,
      })
    })

    it('is the only value of an aggregate sent without values', () => {
      assert.deepEqual(calculate({ operation: 'average' }, 8), {
        operation: 'average',
        expression: 'average(8)',
        result: 8,
      })
      assert.equal(calculate({ operation: 'max', values: [] }, 8).result, 8)
    })

    it('still needs b, and still rejects values that are not an array', () => {
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'add' }, 1), /"b"/)
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'sum', values: 'oops' }, 1), /"values"/)
    })

    it('does not shift the index an error names', () => {
      const message = calcError('ERR_CALC_OPERAND', { operation: 'sum', values: [1, 'x'] }, 5)
      assert.match(message, /"values\[1\]"/)
    })

    it('counts towards the most values an aggregate takes', () => {
      const full = Array.from({ length: MAX_VALUES - 1 }, () => 1)
      assert.equal(calculate({ operation: 'sum', values: full }, 1).result, MAX_VALUES)
      calcError('ERR_CALC_TOO_MANY_VALUES', { operation: 'sum', values: [...full, 1] }, 1)
    })
  })

  describe('errors', () => {
    it('ERR_CALC_OPERATION for an unknown, missing or non-string operation', () => {
      assert.match(calcError('ERR_CALC_OPERATION', { operation: 'root', a: 4 }), /"root"/)
      assert.match(calcError('ERR_CALC_OPERATION', { a: 1, b: 2 }), /got null/)
      calcError('ERR_CALC_OPERATION', { operation: 1, a: 1, b: 2 })
      // Inherited property names are not operations.
      calcError('ERR_CALC_OPERATION', { operation: 'toString', a: 1, b: 2 })
    })

    it('ERR_CALC_OPERAND for a body that is not an object', () => {
      for (const input of [null, undefined, 42, 'add', [1, 2]]) calcError('ERR_CALC_OPERAND', input)
    })

    it('ERR_CALC_OPERAND naming a missing or non-numeric operand', () => {
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'add', b: 1 }), /"a".*got null/)
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'add', a: 1 }), /"b"/)
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'add', a: '1', b: 1 }), /"a".*got "1"/)
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'divide', a: 1, b: true }), /"b"/)
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'sqrt', a: [4] }), /"a"/)
    })

    it('ERR_CALC_OPERAND for NaN and ±Infinity, showing the value', () => {
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'add', a: Number.NaN, b: 1 }), /"a".*got NaN/)
      assert.match(
        calcError('ERR_CALC_OPERAND', { operation: 'add', a: 1, b: Number.POSITIVE_INFINITY }),
        /"b".*got Infinity/,
      )
      assert.match(
        calcError('ERR_CALC_OPERAND', { operation: 'sqrt', a: Number.NEGATIVE_INFINITY }),
        /got -Infinity/,
      )
    })

    it('ERR_CALC_OPERAND for values that are missing, not an array or empty', () => {
      for (const values of [undefined, null, 5, '1,2', { 0: 1 }, []]) {
        assert.match(calcError('ERR_CALC_OPERAND', { operation: 'sum', values }), /"values"/)
      }
    })

    it('ERR_CALC_OPERAND naming the bad value by its index', () => {
      const message = calcError('ERR_CALC_OPERAND', { operation: 'average', values: [1, 2, 3, '4', 5] })
      assert.match(message, /"values\[3\]"/)
      assert.match(calcError('ERR_CALC_OPERAND', { operation: 'max', values: [1, null] }), /"values\[1\]"/)
      assert.match(
        calcError('ERR_CALC_OPERAND', { operation: 'min', values: [Number.NaN] }),
        /"values\[0\]".*NaN/,
      )
    })

    it('ERR_CALC_TOO_MANY_VALUES above 10,000 values; 10,000 is fine', () => {
      assert.equal(MAX_VALUES, 10_000)
      const values = Array.from({ length: 10_000 }, (_, i) => i + 1)
      assert.equal(calculate({ operation: 'sum', values }).result, 50_005_000)
      const message = calcError('ERR_CALC_TOO_MANY_VALUES', { operation: 'sum', values: [...values, 1] })
      assert.match(message, /10001/)
    })

    it('ERR_CALC_DIVISION_BY_ZERO for divide and modulo by 0 or -0', () => {
      calcError('ERR_CALC_DIVISION_BY_ZERO', { operation: 'divide', a: 1, b: 0 })
      calcError('ERR_CALC_DIVISION_BY_ZERO', { operation: 'divide', a: 0, b: -0 })
      calcError('ERR_CALC_DIVISION_BY_ZERO', { operation: 'modulo', a: 5, b: 0 })
      calcError('ERR_CALC_DIVISION_BY_ZERO', { operation: 'divide', b: 0 }, 3)
    })

    it('ERR_CALC_NOT_FINITE for a result that overflows or is not a number', () => {
      assert.match(
        calcError('ERR_CALC_NOT_FINITE', { operation: 'multiply', a: 1e308, b: 10 }),
        /1e\+308 × 10/,
      )
      calcError('ERR_CALC_NOT_FINITE', { operation: 'add', a: 1.7e308, b: 1.7e308 })
      assert.match(calcError('ERR_CALC_NOT_FINITE', { operation: 'sqrt', a: -1 }), /√-1/)
      calcError('ERR_CALC_NOT_FINITE', { operation: 'power', a: 0, b: -1 })
      calcError('ERR_CALC_NOT_FINITE', { operation: 'power', a: 10, b: 400 })
      calcError('ERR_CALC_NOT_FINITE', { operation: 'sum', values: [1e308, 1e308] })
    })
  })

  it('answers 0, never -0', () => {
    for (const input of [
      { operation: 'multiply', a: -5, b: 0 },
      { operation: 'divide', a: 0, b: -3 },
      { operation: 'modulo', a: -4, b: 2 },
      { operation: 'sqrt', a: -0 },
      { operation: 'min', values: [0, -0] },
    ]) {
      const { result } = calculate(input)
      assert.ok(Object.is(result, 0), `${input.operation} gave ${Object.is(result, -0) ? '-0' : result}`)
    }
  })

  it('abbreviates a long list of values in the expression', () => {
    const values = Array.from({ length: 1000 }, (_, i) => i + 1)
    const { expression, result } = calculate({ operation: 'sum', values })
    assert.equal(expression, 'sum(1, 2, 3, 4, 5, … 995 more)')
    assert.equal(result, 500_500)
    assert.equal(calculate({ operation: 'max', values: [1, 2, 3, 4, 5] }).expression, 'max(1, 2, 3, 4, 5)')
    assert.equal(
      calculate({ operation: 'max', values: [1, 2, 3, 4, 5, 6] }).expression,
      'max(1, 2, 3, 4, 5, … 1 more)',
    )
  })

  it('does not mutate its input', () => {
    const input = Object.freeze({ operation: 'sum', values: Object.freeze([3, 1, 2]) })
    assert.equal(calculate(input, 4).result, 10)
    assert.deepEqual(input, { operation: 'sum', values: [3, 1, 2] })
  })
})
