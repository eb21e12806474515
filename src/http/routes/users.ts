import type { FastifyInstance } from 'fastify'
import type { Runtime } from '../../runtime.ts'
import type { AuthenticateHook } from '../app.ts'

/** `{username, password}`, as registration and both logins take it. */
export const credentialsSchema = {
  type: 'object',
  required: ['username', 'password'],
  properties: {
    username: { type: 'string', maxLength: 256 },
    password: { type: 'string', maxLength: 1024 },
  },
} as const

/** Registration and password change: the same on both APIs. */
export function registerUserRoutes(
  app: FastifyInstance,
  runtime: Runtime,
  authenticate: AuthenticateHook,
): void {
  app.post<{ Body: { username: string; password: string } }>(
    '/api/users',
    { schema: { tags: ['users'], summary: 'Register a user', body: credentialsSchema } },
    async (request, reply) => {
      const user = await runtime.users.register(request.body.username, request.body.password)
      return reply.code(201).send({ id: user.id, username: user.username, created_at: iso(user.createdAt) })
    },
  )

  // The smallest authenticated route: only the authenticator differs between the APIs (and `statelab bench`
  // measures exactly that).
  app.get(
    '/api/users/me',
    {
      preHandler: authenticate,
      schema: {
        tags: ['users'],
        summary: 'Who this request proved to be, and how',
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              username: { type: 'string' },
              via: { type: 'string', enum: ['bearer', 'basic', 'session'] },
            },
          },
        },
      },
    },
    async (request) => {
      const { userId, username, via } = request.principal
      return { id: userId, username, via }
    },
  )

  app.put<{ Body: { current_password: string; new_password: string } }>(
    '/api/users/me/password',
    {
      preHandler: authenticate,
      schema: {
        tags: ['users'],
        summary:
          'Change my password: every older access token, refresh token and other session stops working',
        body: {
          type: 'object',
          required: ['current_password', 'new_password'],
          properties: {
            current_password: { type: 'string', maxLength: 1024 },
            new_password: { type: 'string', maxLength: 1024 },
          },
        },
      },
    },
    async (request) => {
      const { principal } = request
      const user = await runtime.data.users.findById(principal.userId)
      if (!user) throw new Error(`authenticated user ${principal.userId} vanished`)
      const tokenVersion = await runtime.users.changePassword(
        user,
        request.body.current_password,
        request.body.new_password,
        request.ip,
      )
      const refreshTokensRevoked = await runtime.refreshTokens.revokeAll(user.id)
      const sessionsEnded = await runtime.sessions.endOthers(user.id, principal.sessionId)
      return {
        message: 'Password changed; older access tokens, refresh tokens and other sessions no longer work',
        token_version: tokenVersion,
        refresh_tokens_revoked: refreshTokensRevoked,
        sessions_ended: sessionsEnded,
      }
    },
  )
}

/** Timestamps leave the API as ISO 8601 strings. */
export function iso(ms: number): string {
  return new Date(ms).toISOString()
}
