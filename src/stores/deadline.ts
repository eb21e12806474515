/** The error {@link within} rejects with; stores map it to `ERR_STORE_UNAVAILABLE` like any failed call. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError'
}

function expire(reject: (err: Error) => void, ms: number, what: string): void {
  reject(new DeadlineError(`${what} within ${ms} ms`))
}

/**
 * Settles as `promise` does, or rejects with a {@link DeadlineError} ("`what` within `ms` ms") once `ms` have
 * passed; `promise` itself is not cancelled. One timer per call, cleared the moment `promise` settles: Node
 * keeps timers of one duration in one list, so this costs a list insert and removal. (node-redis's own
 * `commandOptions.timeout` makes an `AbortSignal.timeout()` per command that is never cleared; on the Redis
 * store's read path that was a tenth of the server's time.) Without `ms` (undefined or 0), `promise` as is.
 */
export function within<T>(promise: Promise<T>, ms: number | undefined, what: string): Promise<T> {
  if (!ms) return promise
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(expire, ms, reject, ms, what)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}
