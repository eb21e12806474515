import { argon2, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { AppError } from '../errors.ts'

const argon2Async = promisify(argon2)

/** argon2id cost. Defaults are OWASP's first recommendation: 19 MiB, 2 passes, 1 lane. */
export interface Argon2Params {
  /** KiB. */
  readonly memory: number
  readonly passes: number
  readonly parallelism: number
}

export const OWASP_ARGON2ID: Argon2Params = Object.freeze({ memory: 19_456, passes: 2, parallelism: 1 })

const SALT_BYTES = 16
const TAG_BYTES = 32
/** Bounds hashing work per request; longer passphrases gain nothing at this length. */
export const MAX_PASSWORD_BYTES = 256
export const MIN_PASSWORD_LENGTH = 10

/** Hashes a password with argon2id into a self-describing PHC string. */
export async function hashPassword(password: string, params: Argon2Params = OWASP_ARGON2ID): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const tag = await derive(password, salt, params, TAG_BYTES)
  const p = `m=${params.memory},t=${params.passes},p=${params.parallelism}`
  return `$argon2id$v=19$${p}$${salt.toString('base64url')}$${tag.toString('base64url')}`
}

/** Checks a password against a PHC string in constant time; false for a malformed hash. */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const parsed = parsePhc(phc)
  if (!parsed) return false
  const tag = await derive(password, parsed.salt, parsed.params, parsed.tag.length)
  return timingSafeEqual(tag, parsed.tag)
}

/** True when the hash was made with weaker parameters than `params` and should be redone at next login. */
export function needsRehash(phc: string, params: Argon2Params = OWASP_ARGON2ID): boolean {
  const parsed = parsePhc(phc)
  return (
    !parsed ||
    parsed.params.memory < params.memory ||
    parsed.params.passes < params.passes ||
    parsed.params.parallelism !== params.parallelism
  )
}

/**
 * Password rules (NIST SP 800-63B): length matters, composition rules do not; refuse the obvious.
 * Throws `AppError('ERR_PASSWORD_WEAK')` saying which rule failed.
 */
export function assertPasswordAcceptable(password: unknown, username?: string): asserts password is string {
  if (typeof password !== 'string') throw new AppError('ERR_PASSWORD_WEAK', 'The password must be a string')
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new AppError(
      'ERR_PASSWORD_WEAK',
      `The password must be at least ${MIN_PASSWORD_LENGTH} characters long`,
    )
  }
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
    throw new AppError('ERR_PASSWORD_WEAK', `The password must be at most ${MAX_PASSWORD_BYTES} bytes long`)
  }
  const lower = password.toLowerCase()
  if (username !== undefined && lower.includes(username.toLowerCase())) {
    throw new AppError('ERR_PASSWORD_WEAK', 'The password must not contain the username')
  }
  if (new Set(password).size < 4) {
    throw new AppError(
      'ERR_PASSWORD_WEAK',
      'The password is too easy to guess: it has fewer than 4 different characters',
    )
  }
  if (COMMON_PASSWORDS.has(lower)) {
    throw new AppError(
      'ERR_PASSWORD_WEAK',
      'The password is too easy to guess: it is a commonly used password',
    )
  }
}

const COMMON_PASSWORDS: ReadonlySet<string> = new Set([
  'password123',
  'password1234',
  'passw0rd123',
  '1234567890',
  '12345678910',
  'qwertyuiop',
  'qwerty12345',
  'iloveyou123',
  'letmein123',
  'welcome123',
  'administrator',
  'changeme123',
  'abc1234567',
  'trustno1234',
  '1q2w3e4r5t',
])

function derive(password: string, salt: Buffer, params: Argon2Params, tagLength: number): Promise<Buffer> {
  return argon2Async('argon2id', {
    message: password,
    nonce: salt,
    memory: params.memory,
    passes: params.passes,
    parallelism: params.parallelism,
    tagLength,
  })
}

function parsePhc(phc: string): { params: Argon2Params; salt: Buffer; tag: Buffer } | undefined {
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([\w-]+)\$([\w-]+)$/.exec(phc)
  if (!match) return undefined
  const [, m, t, p, salt, tag] = match as unknown as [string, string, string, string, string, string]
  const parsed = {
    params: { memory: Number(m), passes: Number(t), parallelism: Number(p) },
    salt: Buffer.from(salt, 'base64url'),
    tag: Buffer.from(tag, 'base64url'),
  }
  // Values argon2 would throw on make the hash malformed (false), not an exception at login.
  const { memory, passes, parallelism } = parsed.params
  const valid =
    parsed.salt.length >= 8 &&
    parsed.tag.length >= 4 &&
    passes >= 1 &&
    passes <= 0xffff_ffff &&
    parallelism >= 1 &&
    parallelism <= 0xff_ffff &&
    memory >= 8 * parallelism &&
    memory <= 0xffff_ffff
  return valid ? parsed : undefined
}
