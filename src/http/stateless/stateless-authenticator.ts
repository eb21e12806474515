import type { FastifyRequest } from 'fastify'
import { AppError } from '../../core/errors.ts'
import type { Runtime } from '../../runtime.ts'
import type { Authenticator, Principal } from '../authenticator.ts'

/**
 * "Tell me who you are every time": a JWT (`Authorization: Bearer`) or the password itself
 * (`Authorization: Basic`). Nothing about the caller survives the request.
 */
export function createStatelessAuthenticator(runtime: Runtime): Authenticator {
  return {
    async authenticate(request: FastifyRequest): Promise<Principal> {
      const header = request.headers.authorization
      if (!header) {
        throw new AppError(
          'ERR_UNAUTHENTICATED',
          'This API remembers no one: send "Authorization: Bearer <access_token>" or "Authorization: Basic <base64 user:password>"',
        )
      }
      const space = header.indexOf(' ')
      const scheme = header.slice(0, space).toLowerCase()
      const value = header.slice(space + 1).trim()
      if (scheme === 'bearer' && value) {
        const claims = runtime.accessTokens.verify(value)
        // Read from the data store on every request, never cached: "log out everywhere" and a password change
        // end older tokens at once, on every replica that shares the store.
        const user = await runtime.data.users.findTokenState(claims.sub)
        if (!user || user.tokenVersion !== claims.tv) {
          throw new AppError(
            'ERR_TOKEN_REVOKED',
            'The access token was revoked (log out everywhere or a password change); log in again',
          )
        }
        if (runtime.denylist && (await runtime.denylist.has(claims.jti))) {
          throw new AppError('ERR_TOKEN_REVOKED', 'The access token was revoked by a logout; log in again')
        }
        return { userId: claims.sub, username: user.username, via: 'bearer' }
      }
      if (scheme === 'basic' && value) {
        const decoded = Buffer.from(value, 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        if (colon < 1)
          throw new AppError('ERR_INVALID_CREDENTIALS', 'Basic credentials must encode "username:password"')
        const user = await runtime.users.authenticate(
          decoded.slice(0, colon),
          decoded.slice(colon + 1),
          request.ip,
        )
        return { userId: user.id, username: user.username, via: 'basic' }
      }
      throw new AppError(
        'ERR_UNAUTHENTICATED',
        'The Authorization header must use the Bearer or Basic scheme',
      )
    },
    async rememberUpload(): Promise<void> {
      // Stateless: the server keeps the file, but nothing about the conversation.
    },
  }
}
