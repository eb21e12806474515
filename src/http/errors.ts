import type { Socket } from 'node:net'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, type ErrorCode } from '../core/errors.ts'

/** The one place error codes become HTTP statuses. */
export const HTTP_STATUS: { readonly [C in ErrorCode]: number } = {
  ERR_VALIDATION: 400,
  ERR_BAD_REQUEST: 400,
  ERR_BAD_JSON: 400,
  ERR_CREDENTIALS_IN_URL: 400,
  ERR_USERNAME_INVALID: 400,
  ERR_PASSWORD_WEAK: 400,
  ERR_FILE_INVALID: 400,
  ERR_CALC_OPERATION: 400,
  ERR_CALC_OPERAND: 400,
  ERR_CALC_TOO_MANY_VALUES: 400,
  ERR_CALC_DIVISION_BY_ZERO: 400,
  ERR_CALC_NOT_FINITE: 400,
  ERR_CALC_NO_LAST_RESULT: 409,
  ERR_CALC_NOTHING_TO_UNDO: 409,
  ERR_CALC_NOTHING_TO_REDO: 409,
  ERR_UNAUTHENTICATED: 401,
  ERR_INVALID_CREDENTIALS: 401,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_REVOKED: 401,
  ERR_REFRESH_INVALID: 401,
  ERR_REFRESH_REUSED: 401,
  ERR_SESSION_UNKNOWN: 401,
  ERR_SESSION_EXPIRED: 401,
  ERR_FOREIGN_ORIGIN: 403,
  ERR_NOT_FOUND: 404,
  ERR_FILE_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_REQUEST_TIMEOUT: 408,
  ERR_USERNAME_TAKEN: 409,
  ERR_SESSION_CONFLICT: 409,
  ERR_BODY_TOO_LARGE: 413,
  ERR_FILE_TOO_LARGE: 413,
  ERR_SESSION_TOO_LARGE: 413,
  ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  ERR_TOO_MANY_ATTEMPTS: 429,
  ERR_HEADERS_TOO_LARGE: 431,
  ERR_PROTOCOL: 400,
  ERR_HEADER_TOO_LARGE: 431,
  ERR_VERSION_UNSUPPORTED: 400,
  ERR_PAYLOAD_TOO_LARGE: 413,
  ERR_PAYLOAD_INCOMPLETE: 400,
  ERR_MODE: 400,
  ERR_NO_SESSION: 401,
  ERR_SESSION_BOUND: 401,
  ERR_REPLAY: 409,
  ERR_SEQUENCE_GAP: 409,
  ERR_BAD_HMAC: 401,
  ERR_TOO_MANY_CONNECTIONS: 503,
  ERR_RATE_LIMITED: 429,
  ERR_INTERNAL: 500,
  ERR_CONFIG: 500,
  ERR_SESSION_LIMIT: 503,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_NO_BACKEND: 503,
  ERR_BAD_GATEWAY: 502,
  ERR_GATEWAY_TIMEOUT: 504,
}

/** The one JSON error shape of every statelab API. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string }
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } }
}

/** Framework errors (parsing, limits, schema validation) mapped onto our codes. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'ERR_FILE_TOO_LARGE',
  FST_FILES_LIMIT: 'ERR_FILE_INVALID',
  FST_PARTS_LIMIT: 'ERR_FILE_INVALID',
  FST_FIELDS_LIMIT: 'ERR_FILE_INVALID',
  FST_PROTO_VIOLATION: 'ERR_BAD_REQUEST',
}

/** Fastify error handler: every failure leaves as `{"error": {"code", "message"}}`. */
export function handleError(
  err: FastifyError | AppError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  let code: ErrorCode
  let message = err.message
  if (err instanceof AppError) {
    code = err.code
    if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter))
  } else if (err.validation) {
    code = 'ERR_VALIDATION'
  } else if (err.code !== undefined && FASTIFY_CODES[err.code]) {
    code = FASTIFY_CODES[err.code]!
    if (code === 'ERR_BAD_JSON') message = `The body is not valid JSON: ${err.message}`
  } else if (err instanceof SyntaxError) {
    code = 'ERR_BAD_JSON'
  } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    code = 'ERR_BAD_REQUEST'
  } else {
    code = 'ERR_INTERNAL'
    message = `Internal error; the server log has the details under request id ${request.id}`
  }
  const status = HTTP_STATUS[code]
  if (status >= 500) request.log.error({ err }, 'request failed')
  else request.log.info({ code }, message)
  if (code === 'ERR_UNAUTHENTICATED')
    reply.header('www-authenticate', 'Bearer realm="statelab", Basic realm="statelab"')
  void reply.code(status).send(errorBody(code, message))
}

/** Not-found handler with the shared shape. */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): void {
  void reply
    .code(404)
    .send(errorBody('ERR_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`))
}

/**
 * Answers errors Node's HTTP parser raises before any request exists (oversized headers, slow clients,
 * garbage) in the same JSON shape, instead of Node's bare status line.
 */
export function handleClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const [status, reason, code, message]: [number, string, ErrorCode, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'ERR_HEADERS_TOO_LARGE', 'The request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'ERR_REQUEST_TIMEOUT', 'The request was not received in time']
        : [400, 'Bad Request', 'ERR_BAD_REQUEST', 'The request is not valid HTTP']
  const body = JSON.stringify(errorBody(code, message))
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}
