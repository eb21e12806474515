import { randomBytes } from 'node:crypto'
import { extensionForMimeType } from './mime.ts'

const MAX_FILENAME_BYTES = 255
// Bidi overrides and isolates go with the control characters: they can make "fdp.exe" display as "exe.pdf".
const INVISIBLE = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu
// Only a short run of letters and digits counts, so "Report v1.2 final" keeps its head when truncated.
const EXTENSION = /\.[\p{L}\p{N}]{1,16}$/u
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
const utf8 = new TextEncoder()

/** A client-supplied filename reduced to a safe, displayable base name of at most 255 UTF-8 bytes. */
export function sanitizeFilename(name: unknown): string {
  if (typeof name !== 'string') return 'file'
  const base =
    name
      .toWellFormed()
      .normalize('NFC')
      .replace(INVISIBLE, '')
      .split(/[/\\]/)
      .findLast((part) => part.trim() !== '') ?? ''
  const cleaned = base
    .replace(/\s+/gu, ' ')
    .replace(/^[.\s]+/u, '')
    .trimEnd()
  return cleaned === '' ? 'file' : truncateFilename(cleaned)
}

/** A fresh, unguessable blob-store name (128 random bits in hex) with the extension of `mimeType`. */
export function generateStoredName(mimeType: string): string {
  return randomBytes(16).toString('hex') + extensionForMimeType(mimeType)
}

/**
 * A `Content-Disposition` header value (RFC 6266) with an ASCII `filename` for old clients and the exact
 * name in `filename*`.
 *
 * @example
 * contentDisposition('résumé.pdf', 'attachment')
 * // attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf
 */
export function contentDisposition(filename: string, disposition: 'attachment' | 'inline'): string {
  if (disposition !== 'attachment' && disposition !== 'inline') {
    throw new TypeError("contentDisposition disposition must be 'attachment' or 'inline'")
  }
  const wellFormed = filename.toWellFormed()
  const fallback = wellFormed.replace(/[^\x20-\x7e]/gu, '_').replace(/["\\]/g, '\\$&')
  // encodeURIComponent leaves ' ( ) * alone, but RFC 8187 does not allow them unencoded.
  const encoded = encodeURIComponent(wellFormed).replace(
    /['()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  )
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encoded}`
}

function truncateFilename(name: string): string {
  if (byteLength(name) <= MAX_FILENAME_BYTES) return name
  const extension = EXTENSION.exec(name)?.[0] ?? ''
  const stem = name.slice(0, name.length - extension.length)
  return truncateToBytes(stem, MAX_FILENAME_BYTES - byteLength(extension)).trimEnd() + extension
}

/** The longest prefix of `text` within `maxBytes` that ends on a whole grapheme (no split emoji or accent). */
function truncateToBytes(text: string, maxBytes: number): string {
  let bytes = 0
  let end = 0
  for (const { segment } of graphemes.segment(text)) {
    bytes += byteLength(segment)
    if (bytes > maxBytes) break
    end += segment.length
  }
  return text.slice(0, end)
}

function byteLength(text: string): number {
  return utf8.encode(text).byteLength
}
