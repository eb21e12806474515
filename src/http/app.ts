import { randomUUID } from 'node:crypto'
import cookie from '@fastify/cookie'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { AppError } from '../core/errors.ts'
import type { Runtime } from '../runtime.ts'
import type { Authenticator } from './authenticator.ts'
import { handleClientError, handleError, handleNotFound } from './errors.ts'
import { requestLogging } from './request-logger.ts'
import { registerFileRoutes } from './routes/files.ts'
import { registerHealthRoutes } from './routes/health.ts'
import { registerUserRoutes } from './routes/users.ts'

export type ApiKind = 'stateless' | 'stateful'

export interface AppOptions {
  readonly kind: ApiKind
  readonly authenticator: Authenticator
  readonly description: string
  /** The routes only this API has (login, sessions), given the same `authenticate` pre-handler. */
  readonly routes: (app: FastifyInstance, runtime: Runtime, authenticate: AuthenticateHook) => void
}

/** Query parameters that would put a secret in a URL (logs, history, Referer). */
const CREDENTIAL_PARAMS = new Set([
  'username',
  'password',
  'passwd',
  'pwd',
  'token',
  'access_token',
  'refresh_token',
  'jwt',
  'session_id',
  'sessionid',
  'sid',
  'api_key',
  'apikey',
])

const REQUEST_ID = /^[\w.:-]{1,128}$/

/**
 * The parts both APIs share: limits, errors, request ids, users, files, health, OpenAPI. The caller adds
 * its own authentication routes; `options.authenticator` is the only other difference.
 */
export async function buildApp(runtime: Runtime, options: AppOptions): Promise<FastifyInstance> {
  const { config } = runtime
  const app = Fastify({
    ...requestLogging(runtime.log.child({ api: options.kind })),
    http: {
      maxHeaderSize: config.maxHeaderSize,
      headersTimeout: config.headersTimeout * 1000,
      // How often Node checks the two timeouts; the default (30 s) would make a short timeout meaningless.
      connectionsCheckingInterval: Math.min(1000, config.headersTimeout * 250),
    },
    requestTimeout: config.requestTimeout * 1000,
    clientErrorHandler: handleClientError,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    routerOptions: { ignoreTrailingSlash: true },
  })
  app.setErrorHandler(handleError)
  app.setNotFoundHandler(handleNotFound)
  app.decorateRequest('principal', null as never)

  const servedBy = config.replicaId
  // A callback hook, not an async one: it runs on every request, and a promise per request is measurable.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    if (servedBy !== undefined) reply.header('x-served-by', servedBy)
    // Most requests have no query string at all: nothing to look for.
    if (!request.url.includes('?')) return done()
    const query = request.query as Record<string, unknown> | undefined
    let found: string | undefined
    for (const key in query) if (CREDENTIAL_PARAMS.has(key.toLowerCase())) found ??= key
    if (!found) return done()
    done(
      new AppError(
        'ERR_CREDENTIALS_IN_URL',
        `"${found}" was sent in the URL, where logs, browser history and Referer headers keep it. ` +
          (options.kind === 'stateless'
            ? 'Send credentials in the Authorization header (Bearer <token> or Basic) or in a JSON body instead.'
            : 'Send the session id in the X-Session-ID header or the session cookie, and passwords in a JSON body.'),
      ),
    )
  })

  // Only sessions ride in cookies: the stateless API never reads or sets one, so its requests skip the
  // plugin's hooks. The stateful API parses the Cookie header only when a request has no X-Session-ID
  // (`hook: false`; see `sessionTokenOf`). Multipart is registered with the upload route alone (see
  // `registerFileRoutes`).
  if (options.kind === 'stateful') await app.register(cookie, { hook: false })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: `statelab ${options.kind} API`, version: '0.1.0', description: options.description },
      components: {
        securitySchemes:
          options.kind === 'stateless'
            ? {
                bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
                basic: { type: 'http', scheme: 'basic' },
              }
            : {
                sessionHeader: { type: 'apiKey', in: 'header', name: 'X-Session-ID' },
                sessionCookie: { type: 'apiKey', in: 'cookie', name: 'statelab_sid' },
              },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  const authenticate: AuthenticateHook = async (request) => {
    request.principal = await options.authenticator.authenticate(request)
  }
  registerHealthRoutes(app, runtime, options.kind)
  registerUserRoutes(app, runtime, authenticate)
  registerFileRoutes(app, runtime, options.authenticator, authenticate)
  options.routes(app, runtime, authenticate)
  return app
}

/** The pre-handler that sets `request.principal` or fails the request. */
export type AuthenticateHook = (request: FastifyRequest) => Promise<void>
