import { AppError } from '../errors.ts'

const USERNAME = /^[a-z0-9][a-z0-9._-]{2,31}$/

/** Lower-cases and NFKC-normalizes a username, then checks it; throws `ERR_USERNAME_INVALID` saying why. */
export function normalizeUsername(input: unknown): string {
  if (typeof input !== 'string') throw new AppError('ERR_USERNAME_INVALID', 'The username must be a string')
  const username = input.normalize('NFKC').toLowerCase()
  if (!USERNAME.test(username)) {
    throw new AppError(
      'ERR_USERNAME_INVALID',
      'The username must be 3 to 32 characters: letters, digits, ".", "_" or "-", starting with a letter or digit',
    )
  }
  return username
}
