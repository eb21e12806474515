import { AppError } from '../errors.ts'
import type { Calculation, Operation } from './calculator.ts'

/** One step of the history: what was computed, and when. */
export interface CalcStep extends Calculation {
  readonly at: number
}

/**
 * What the stateful calculator remembers in a session. The last result is the last step of `history`;
 * `undone` holds undone steps, newest last, for redo.
 */
export interface CalcMemory {
  readonly history: readonly CalcStep[]
  readonly undone: readonly CalcStep[]
  /** Calculations made per operation in this session (undo does not take them back). */
  readonly counts: Readonly<Partial<Record<Operation, number>>>
}

export const EMPTY_CALC_MEMORY: CalcMemory = Object.freeze({ history: [], undone: [], counts: {} })

/** The result `use_last` stands for, or undefined before the first calculation. */
export function lastResult(memory: CalcMemory): number | undefined {
  return memory.history.at(-1)?.result
}

/** Remembers a calculation: appends it (dropping the oldest beyond `limit`), clears redo, counts it. */
export function remember(memory: CalcMemory, step: CalcStep, limit: number): CalcMemory {
  return {
    history: [...memory.history, step].slice(-limit),
    undone: [],
    counts: { ...memory.counts, [step.operation]: (memory.counts[step.operation] ?? 0) + 1 },
  }
}

/** Takes back the last step; `ERR_CALC_NOTHING_TO_UNDO` on an empty history. */
export function undo(memory: CalcMemory): CalcMemory {
  const step = memory.history.at(-1)
  if (!step) throw new AppError('ERR_CALC_NOTHING_TO_UNDO', 'There is nothing to undo: the history is empty')
  return { ...memory, history: memory.history.slice(0, -1), undone: [...memory.undone, step] }
}

/** Puts back the last undone step; `ERR_CALC_NOTHING_TO_REDO` when nothing was undone since the last calculation. */
export function redo(memory: CalcMemory): CalcMemory {
  const step = memory.undone.at(-1)
  if (!step) throw new AppError('ERR_CALC_NOTHING_TO_REDO', 'There is nothing to redo')
  return { ...memory, history: [...memory.history, step], undone: memory.undone.slice(0, -1) }
}

/** Forgets the history (and the last result); the per-operation counts stay. */
export function clearHistory(memory: CalcMemory): CalcMemory {
  return { ...memory, history: [], undone: [] }
}
