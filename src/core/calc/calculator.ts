import { AppError } from '../errors.ts'

export const BINARY_OPERATIONS = ['add', 'subtract', 'multiply', 'divide', 'power', 'modulo'] as const
export const UNARY_OPERATIONS = ['sqrt'] as const
export const AGGREGATE_OPERATIONS = ['average', 'sum', 'min', 'max'] as const
export const OPERATIONS = [...BINARY_OPERATIONS, ...UNARY_OPERATIONS, ...AGGREGATE_OPERATIONS] as const

export type Operation = (typeof OPERATIONS)[number]

/** Most values one aggregate takes. */
export const MAX_VALUES = 10_000

/** One evaluated calculation. */
export interface Calculation {
  readonly operation: Operation
  /** Human-readable, e.g. `10 + 5` or `sum(1, 2, 3)`. */
  readonly expression: string
  readonly result: number
}

const SYMBOL: Record<(typeof BINARY_OPERATIONS)[number], string> = {
  add: '+',
  subtract: '-',
  multiply: '×',
  divide: '÷',
  power: '^',
  modulo: 'mod',
}

/**
 * Evaluates `{operation, a, b}`, `{operation: 'sqrt', a}` or `{operation, values}`. With `last` given, it
 * stands in for `a` (or goes first among `values`): the stateful server's `use_last`.
 * Throws an `AppError` with an `ERR_CALC_*` code for every way the input can be wrong.
 *
 * @example
 * calculate({ operation: 'add', a: 10, b: 5 }).result === 15
 */
export function calculate(input: unknown, last?: number): Calculation {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new AppError(
      'ERR_CALC_OPERAND',
      'Send a JSON object: {"operation", "a", "b"} or {"operation", "values"}',
    )
  }
  const { operation, a, b, values } = input as Record<string, unknown>
  if (typeof operation !== 'string' || !(OPERATIONS as readonly string[]).includes(operation)) {
    throw new AppError(
      'ERR_CALC_OPERATION',
      `"operation" must be one of ${OPERATIONS.join(', ')}; got ${JSON.stringify(operation ?? null)}`,
    )
  }
  const op = operation as Operation
  if ((AGGREGATE_OPERATIONS as readonly string[]).includes(op)) {
    return aggregate(op as (typeof AGGREGATE_OPERATIONS)[number], values, last)
  }
  const x = last ?? operand('a', a)
  if (op === 'sqrt') return finish(op, `√${x}`, Math.sqrt(x))
  const y = operand('b', b)
  const binary = op as (typeof BINARY_OPERATIONS)[number]
  if ((binary === 'divide' || binary === 'modulo') && y === 0) {
    throw new AppError('ERR_CALC_DIVISION_BY_ZERO', `${x} ${SYMBOL[binary]} 0: division by zero`)
  }
  return finish(op, `${x} ${SYMBOL[binary]} ${y}`, evaluate(binary, x, y))
}

function evaluate(op: (typeof BINARY_OPERATIONS)[number], x: number, y: number): number {
  switch (op) {
    case 'add':
      return x + y
    case 'subtract':
      return x - y
    case 'multiply':
      return x * y
    case 'divide':
      return x / y
    case 'power':
      return x ** y
    case 'modulo':
      return x % y
  }
}

function aggregate(
  op: (typeof AGGREGATE_OPERATIONS)[number],
  values: unknown,
  last: number | undefined,
): Calculation {
  // With a last result, "values" may be left out (or empty): sum(last).
  const given = last !== undefined && values === undefined ? [] : values
  if (!Array.isArray(given) || (given.length === 0 && last === undefined)) {
    throw new AppError('ERR_CALC_OPERAND', `"${op}" needs "values": a non-empty array of numbers`)
  }
  const count = given.length + (last === undefined ? 0 : 1)
  if (count > MAX_VALUES) {
    throw new AppError(
      'ERR_CALC_TOO_MANY_VALUES',
      `"values" may hold at most ${MAX_VALUES} numbers; got ${count}`,
    )
  }
  // Validated before the last result goes first, so that an error names the index the client sent.
  const numbers = given.map((value, i) => operand(`values[${i}]`, value))
  if (last !== undefined) numbers.unshift(last)
  let result: number
  switch (op) {
    case 'sum':
      result = numbers.reduce((total, n) => total + n, 0)
      break
    case 'average':
      result = numbers.reduce((total, n) => total + n, 0) / numbers.length
      break
    case 'min':
      result = numbers.reduce((m, n) => Math.min(m, n))
      break
    case 'max':
      result = numbers.reduce((m, n) => Math.max(m, n))
      break
  }
  const shown = numbers.slice(0, 5).join(', ') + (numbers.length > 5 ? `, … ${numbers.length - 5} more` : '')
  return finish(op, `${op}(${shown})`, result)
}

function operand(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new AppError(
      'ERR_CALC_OPERAND',
      `"${name}" must be a finite number; got ${typeof value === 'number' ? value : JSON.stringify(value ?? null)}`,
    )
  }
  return value
}

function finish(operation: Operation, expression: string, result: number): Calculation {
  if (!Number.isFinite(result)) {
    throw new AppError('ERR_CALC_NOT_FINITE', `${expression} is not a finite number`)
  }
  // -0 is an artefact of floating point, not an answer anyone expects.
  return { operation, expression, result: result === 0 ? 0 : result }
}
