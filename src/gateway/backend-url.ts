import { createHash } from 'node:crypto'
import { AppError } from '../core/errors.ts'

/**
 * A backend URL reduced to its origin (`http://127.0.0.1:3001`), the identity the gateway keys on.
 * Paths are refused rather than ignored: the pool's prefix is stripped and the rest is sent as is.
 */
export function normalizeBackendUrl(url: unknown): string {
  let parsed: URL
  try {
    parsed = new URL(String(url))
  } catch {
    throw new AppError('ERR_VALIDATION', `backend "${String(url)}" is not a URL (e.g. http://127.0.0.1:3001)`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new AppError('ERR_VALIDATION', `backend "${String(url)}" must be an http:// or https:// URL`)
  if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search || parsed.hash)
    throw new AppError('ERR_VALIDATION', `backend "${String(url)}" must be an origin only, without a path`)
  if (parsed.username || parsed.password)
    throw new AppError('ERR_VALIDATION', `backend "${String(url)}" must not carry credentials`)
  return parsed.origin
}

/** A short, stable id for a backend origin: what the sticky cookie holds instead of the address itself. */
export function backendId(origin: string): string {
  return createHash('sha256').update(origin).digest('base64url').slice(0, 12)
}
