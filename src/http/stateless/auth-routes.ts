import type { FastifyInstance } from 'fastify'
import { AppError } from '../../core/errors.ts'
import type { Runtime } from '../../runtime.ts'
import type { AuthenticateHook } from '../app.ts'
import { credentialsSchema } from '../routes/users.ts'

const refreshBody = {
  type: 'object',
  required: ['refresh_token'],
  properties: { refresh_token: { type: 'string', maxLength: 256 } },
} as const

/** Login, refresh with rotation, logout of one login, logout everywhere, and the JWKS. */
export function registerAuthRoutes(
  app: FastifyInstance,
  runtime: Runtime,
  authenticate: AuthenticateHook,
): void {
  const { accessTokens, refreshTokens } = runtime

  async function tokensFor(user: { id: string; tokenVersion: number }, refreshToken: string) {
    return {
      access_token: accessTokens.sign(user).token,
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: accessTokens.ttlSeconds,
    }
  }

  app.post<{ Body: { username: string; password: string } }>(
    '/api/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a password for an access token (JWT) and a refresh token',
        body: credentialsSchema,
      },
    },
    async (request) => {
      const user = await runtime.users.authenticate(request.body.username, request.body.password, request.ip)
      return tokensFor(user, await refreshTokens.issue(user.id))
    },
  )

  app.post<{ Body: { refresh_token: string } }>(
    '/api/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token: the old one stops working; reusing it revokes the whole login',
        body: refreshBody,
      },
    },
    async (request) => {
      const { userId, token } = await refreshTokens.rotate(request.body.refresh_token)
      const user = await runtime.data.users.findById(userId)
      if (!user) throw new Error(`refresh token of unknown user ${userId}`)
      return tokensFor(user, token)
    },
  )

  app.post<{ Body: { refresh_token?: string } | undefined }>(
    '/api/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary:
          'Log out of this login: revokes its refresh tokens, and its access token too when a denylist is configured',
      },
    },
    async (request) => {
      // No body schema: a logout with only `Authorization: Bearer` has no body at all.
      const refreshToken = request.body?.refresh_token
      if (refreshToken !== undefined && typeof refreshToken !== 'string') {
        throw new AppError('ERR_VALIDATION', 'refresh_token must be a string')
      }
      const bearer = /^bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
      if (refreshToken === undefined && bearer === undefined) {
        throw new AppError(
          'ERR_VALIDATION',
          'Send the refresh token as {"refresh_token": "..."}, the access token as Authorization: Bearer, or both',
        )
      }
      if (refreshToken !== undefined) await refreshTokens.revoke(refreshToken)
      let accessTokenRevoked = false
      if (bearer !== undefined && runtime.denylist) {
        const claims = accessTokens.verify(bearer)
        await runtime.denylist.add(claims.jti, claims.exp * 1000)
        accessTokenRevoked = true
      }
      return {
        message: 'Logged out',
        revocation: revocationMode(runtime),
        refresh_token_revoked: refreshToken !== undefined,
        access_token_revoked: accessTokenRevoked,
        ...(accessTokenRevoked
          ? {}
          : {
              access_token_note: `An access token already issued stays valid until it expires (at most ${accessTokens.ttlSeconds} s): without a denylist (JWT_DENYLIST) a stateless server has nothing to forget it from`,
            }),
      }
    },
  )

  app.post(
    '/api/auth/logout-all',
    {
      preHandler: authenticate,
      schema: {
        tags: ['auth'],
        summary: 'Log out everywhere: every access and refresh token issued so far stops working',
      },
    },
    async (request) => {
      const tokenVersion = await runtime.data.users.bumpTokenVersion(request.principal.userId)
      const revoked = await refreshTokens.revokeAll(request.principal.userId)
      return {
        message: 'Logged out everywhere',
        token_version: tokenVersion,
        refresh_tokens_revoked: revoked,
      }
    },
  )

  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['auth'], summary: 'Public keys for EdDSA tokens (empty for HS256)' } },
    async () => accessTokens.jwks(),
  )
}

/** How access tokens are revoked: remembered in a denylist until they expire, or not at all (they expire). */
export function revocationMode(runtime: Runtime): string {
  return runtime.denylist ? `denylist:${runtime.denylist.kind}` : 'expiry'
}
