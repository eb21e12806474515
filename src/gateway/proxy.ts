import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import replyFrom from '@fastify/reply-from'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ErrorCode } from '../core/errors.ts'
import { errorBody, HTTP_STATUS } from '../http/errors.ts'
import type { Backend, Pool, Release } from './pool.ts'
import { forwardedHeaders, requestInfo } from './request-info.ts'
import type { Router } from './router.ts'

/** Methods a failed attempt may be replayed for on another backend. POST and PATCH never are. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/** Bodies of idempotent requests up to this size are buffered so they can be replayed; larger ones stream. */
const REPLAY_BODY_LIMIT = 1024 * 1024

/** Errors where the backend never answered: the request may be replayed elsewhere if it is idempotent. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
])

/** The backend took too long to answer: it may be working on the request, so it is never replayed. */
const TIMEOUT_ERRORS = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'FST_REPLY_FROM_TIMEOUT',
  'FST_REPLY_FROM_GATEWAY_TIMEOUT',
])

/** Response headers that describe the gateway-to-backend connection, not the one to the client. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding']

export interface ProxyOptions {
  readonly router: Router
  /** Further backends tried after a connection error, for idempotent methods. */
  readonly retries: number
  /** Headers and body inactivity timeout toward a backend; past it the client gets 504. */
  readonly upstreamTimeoutMs: number
}

/**
 * Forwards every request outside `/_gateway/` to a backend of the pool its prefix names, through
 * `@fastify/reply-from` (undici). Registered in its own plugin scope: bodies are not parsed here.
 */
export async function registerProxy(app: FastifyInstance, options: ProxyOptions): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (request, payload, done) => {
    if (!isReplayable(request.method, request.headers)) return done(null, payload)
    const chunks: Buffer[] = []
    payload.on('data', (chunk: Buffer) => chunks.push(chunk))
    payload.once('end', () => done(null, Buffer.concat(chunks)))
    payload.once('error', (err) => done(err, undefined))
  })
  await app.register(replyFrom, {
    // Retrying the same URL is reply-from's idea of a retry; ours is another backend (see `attempt`).
    retryMethods: [],
    disableRequestLogging: true,
    destroyAgent: true,
    undici: { connections: 128, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: 5_000 } },
  })

  app.all('/*', (request, reply) => {
    const route = options.router.match(request.raw.url ?? '/')
    if (!route) {
      sendError(reply, 'ERR_NOT_FOUND', `No pool serves ${request.url.split('?')[0]}`)
      return reply
    }
    forward(request, reply, route.pool, route.upstreamUrl, options)
    return reply
  })
}

function forward(
  request: FastifyRequest,
  reply: FastifyReply,
  pool: Pool,
  upstreamUrl: string,
  options: ProxyOptions,
): void {
  const info = requestInfo(request.ip, request.headers)
  const body = request.body
  const replayable = IDEMPOTENT.has(request.method) && !(body instanceof Readable)
  const client = { ip: request.ip, proto: request.protocol, host: request.headers.host, prefix: pool.prefix }
  const tried = new Set<Backend>()
  let release: Release | undefined
  // However the exchange ends (sent, failed, client gone), the backend's in-flight count goes down.
  reply.raw.once('close', () => release?.())

  const attempt = (previousError?: string): void => {
    const backend = pool.pick(info, tried)
    if (!backend) {
      if (previousError === undefined)
        sendError(reply, 'ERR_NO_BACKEND', `No healthy backend in pool "${pool.name}"`)
      else sendError(reply, 'ERR_BAD_GATEWAY', `${previousError}, and no other backend is available`)
      return
    }
    tried.add(backend)
    release = pool.acquire(backend)
    const done = release
    try {
      send(backend, done)
    } catch (err) {
      // reply-from refuses some URLs outright (a `..` segment): nothing reached a backend.
      done()
      const bad = (err as { statusCode?: number }).statusCode === 400
      sendError(reply, bad ? 'ERR_BAD_REQUEST' : 'ERR_INTERNAL', (err as Error).message)
    }
  }

  const send = (backend: Backend, done: Release): void => {
    reply.from(backend.url + upstreamUrl, {
      timeout: options.upstreamTimeoutMs,
      ...(Buffer.isBuffer(body) && {
        body,
        contentType: request.headers['content-type'] ?? 'application/octet-stream',
      }),
      rewriteRequestHeaders: (_request, headers) =>
        forwardedHeaders(headers as IncomingHttpHeaders, client) as typeof headers,
      rewriteHeaders: (headers) => {
        const rewritten: IncomingHttpHeaders = { ...(headers as IncomingHttpHeaders) }
        for (const name of HOP_BY_HOP) delete rewritten[name]
        const cookie = pool.policy.affinityCookie?.(backend, info)
        if (cookie !== undefined) {
          const given: unknown = rewritten['set-cookie']
          const list = given === undefined ? [] : Array.isArray(given) ? given : [String(given)]
          rewritten['set-cookie'] = [...list, cookie]
        }
        return rewritten as typeof headers
      },
      // The callbacks get the same reply back, typed for any server; the outer one is typed for ours.
      onResponse: (_request, _reply, res) => {
        pool.recordResponse(backend, res.statusCode)
        void reply.send(res.stream)
      },
      onError: (_reply, { error }) => {
        done()
        const codes = errorCodes(error)
        const timedOut = codes.some((code) => TIMEOUT_ERRORS.has(code))
        const connection = !timedOut && codes.some((code) => CONNECTION_ERRORS.has(code))
        const cause = codes.find((code) => CONNECTION_ERRORS.has(code) || TIMEOUT_ERRORS.has(code))
        const what = `backend ${backend.id} of pool "${pool.name}"`
        pool.recordFailure(backend, cause ?? error.message)
        request.log.warn({ backend: backend.url, codes, retry: connection && replayable }, 'backend failed')
        // A client that went away gets no replay on its behalf.
        if (reply.sent || reply.raw.destroyed) return
        if (timedOut) {
          sendError(
            reply,
            'ERR_GATEWAY_TIMEOUT',
            `${what} did not answer within ${options.upstreamTimeoutMs} ms`,
          )
        } else if (!connection) {
          sendError(reply, 'ERR_BAD_GATEWAY', `${what} failed: ${error.message}`)
        } else if (!replayable) {
          sendError(
            reply,
            'ERR_BAD_GATEWAY',
            `${what} failed (${cause}); a ${request.method} is not retried on another backend because it may not be idempotent`,
          )
        } else if (tried.size > options.retries) {
          sendError(reply, 'ERR_BAD_GATEWAY', `${tried.size} backends failed; the last, ${what}: ${cause}`)
        } else {
          attempt(`${what} failed (${cause})`)
        }
      },
    })
  }
  attempt()
}

/** Idempotent requests with a declared, small body are buffered so another backend can get the same bytes. */
function isReplayable(method: string, headers: IncomingHttpHeaders): boolean {
  if (!IDEMPOTENT.has(method) || headers['transfer-encoding'] !== undefined) return false
  const length = Number(headers['content-length'])
  return Number.isInteger(length) && length <= REPLAY_BODY_LIMIT
}

/** The `code`s along an error's `cause` chain (reply-from wraps undici's errors). */
function errorCodes(error: unknown): string[] {
  const codes: string[] = []
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') codes.push(e.code)
    e = e.cause as typeof e
  }
  return codes
}

function sendError(reply: FastifyReply, code: ErrorCode, message: string): void {
  if (reply.sent) return
  void reply.code(HTTP_STATUS[code]).type('application/json; charset=utf-8').send(errorBody(code, message))
}
