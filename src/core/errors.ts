/** Every error code statelab can answer with. HTTP and TCP map these to statuses and frames at the edge. */
export type ErrorCode =
  | 'ERR_VALIDATION'
  | 'ERR_BAD_REQUEST'
  | 'ERR_BAD_JSON'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_HEADERS_TOO_LARGE'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_UNAUTHENTICATED'
  | 'ERR_INVALID_CREDENTIALS'
  | 'ERR_CREDENTIALS_IN_URL'
  | 'ERR_TOO_MANY_ATTEMPTS'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_REFRESH_INVALID'
  | 'ERR_REFRESH_REUSED'
  | 'ERR_SESSION_UNKNOWN'
  | 'ERR_SESSION_EXPIRED'
  | 'ERR_SESSION_LIMIT'
  | 'ERR_SESSION_CONFLICT'
  | 'ERR_SESSION_TOO_LARGE'
  | 'ERR_FOREIGN_ORIGIN'
  | 'ERR_USERNAME_INVALID'
  | 'ERR_USERNAME_TAKEN'
  | 'ERR_PASSWORD_WEAK'
  | 'ERR_FILE_NOT_FOUND'
  | 'ERR_FILE_TOO_LARGE'
  | 'ERR_FILE_INVALID'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_CALC_OPERATION'
  | 'ERR_CALC_OPERAND'
  | 'ERR_CALC_TOO_MANY_VALUES'
  | 'ERR_CALC_DIVISION_BY_ZERO'
  | 'ERR_CALC_NOT_FINITE'
  | 'ERR_CALC_NO_LAST_RESULT'
  | 'ERR_CALC_NOTHING_TO_UNDO'
  | 'ERR_CALC_NOTHING_TO_REDO'
  | 'ERR_PROTOCOL'
  | 'ERR_HEADER_TOO_LARGE'
  | 'ERR_VERSION_UNSUPPORTED'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_PAYLOAD_INCOMPLETE'
  | 'ERR_MODE'
  | 'ERR_NO_SESSION'
  | 'ERR_SESSION_BOUND'
  | 'ERR_REPLAY'
  | 'ERR_SEQUENCE_GAP'
  | 'ERR_BAD_HMAC'
  | 'ERR_TOO_MANY_CONNECTIONS'
  | 'ERR_RATE_LIMITED'
  | 'ERR_NO_BACKEND'
  | 'ERR_BAD_GATEWAY'
  | 'ERR_GATEWAY_TIMEOUT'
  | 'ERR_CONFIG'
  | 'ERR_INTERNAL'

/**
 * An expected failure with a stable `code`; `switch (err.code)` narrows.
 *
 * @example
 * throw new AppError('ERR_SESSION_EXPIRED', 'The session timed out after 30 minutes without activity')
 */
export class AppError extends Error {
  readonly code: ErrorCode
  /** Seconds after which a retry may succeed (rate limits). */
  readonly retryAfter: number | undefined

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message, options)
    this.name = 'AppError'
    this.code = code
    this.retryAfter = options?.retryAfter
  }
}

/** True when `err` is an {@link AppError}, optionally with the given code. */
export function isAppError(err: unknown, code?: ErrorCode): err is AppError {
  return err instanceof AppError && (code === undefined || err.code === code)
}
