import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { AppError } from '../errors.ts'
import type { Session } from './session.ts'

const FORMAT = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16
/** Binds every sealed value to this use, so a key shared by mistake with another purpose opens nothing here. */
const AAD = Buffer.from('statelab session v1')
const SEALED = /^v1\.[\w-]+$/

/**
 * Seals whole sessions for the client to keep (AES-256-GCM, a fresh 96-bit IV each time): the client can
 * carry a session and send it back, but neither read nor change it. Sealed values look like `v1.<base64url>`.
 *
 * @example
 * const sealer = new SessionSealer(process.env.SESSION_COOKIE_SECRET!)
 * const session = sealer.open(sealer.seal(created))
 */
export class SessionSealer {
  readonly #key: Buffer

  /** `secret`: at least 32 bytes; the AES key is derived from it with HKDF-SHA256. */
  constructor(secret: string) {
    if (typeof secret !== 'string' || Buffer.byteLength(secret) < 32)
      throw new TypeError('SessionSealer secret must be a string of at least 32 bytes')
    this.#key = Buffer.from(hkdfSync('sha256', secret, '', 'statelab session cookie', 32))
  }

  seal(session: Session): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(AAD)
    const body = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()])
    return `${FORMAT}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`
  }

  /** The session `sealed` holds; `ERR_SESSION_UNKNOWN` when it was forged, changed or cut short. */
  open(sealed: string): Session {
    const bytes = SEALED.test(sealed) ? Buffer.from(sealed.slice(FORMAT.length + 1), 'base64url') : undefined
    if (bytes && bytes.length > IV_BYTES + TAG_BYTES) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, IV_BYTES))
        decipher.setAAD(AAD)
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
        const json = Buffer.concat([
          decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
          decipher.final(),
        ])
        return JSON.parse(json.toString('utf8')) as Session
      } catch {
        // A failed tag check and garbage are the same answer: this server did not seal it.
      }
    }
    throw new AppError('ERR_SESSION_UNKNOWN', 'The session cookie is not one this server sealed')
  }
}
