interface FileType {
  readonly mime: string
  /** The first one is the canonical extension, used for stored names. */
  readonly extensions: readonly string[]
  /** Text types are only ever chosen for content that sniffs as text. */
  readonly text?: true
}

const FILE_TYPES: readonly FileType[] = [
  { mime: 'image/png', extensions: ['.png'] },
  { mime: 'image/jpeg', extensions: ['.jpg', '.jpeg'] },
  { mime: 'image/gif', extensions: ['.gif'] },
  { mime: 'image/webp', extensions: ['.webp'] },
  { mime: 'image/bmp', extensions: ['.bmp'] },
  { mime: 'image/x-icon', extensions: ['.ico'] },
  { mime: 'image/tiff', extensions: ['.tif', '.tiff'] },
  { mime: 'image/avif', extensions: ['.avif'] },
  { mime: 'image/heic', extensions: ['.heic'] },
  { mime: 'application/pdf', extensions: ['.pdf'] },
  { mime: 'application/zip', extensions: ['.zip'] },
  {
    mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    extensions: ['.docx'],
  },
  { mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', extensions: ['.xlsx'] },
  {
    mime: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    extensions: ['.pptx'],
  },
  { mime: 'application/gzip', extensions: ['.gz'] },
  { mime: 'application/x-bzip2', extensions: ['.bz2'] },
  { mime: 'application/x-7z-compressed', extensions: ['.7z'] },
  { mime: 'application/vnd.rar', extensions: ['.rar'] },
  { mime: 'application/x-tar', extensions: ['.tar'] },
  { mime: 'audio/mpeg', extensions: ['.mp3'] },
  { mime: 'audio/mp4', extensions: ['.m4a'] },
  { mime: 'audio/wav', extensions: ['.wav'] },
  { mime: 'audio/ogg', extensions: ['.ogg', '.oga', '.opus'] },
  { mime: 'audio/flac', extensions: ['.flac'] },
  { mime: 'video/mp4', extensions: ['.mp4', '.m4v'] },
  { mime: 'video/quicktime', extensions: ['.mov'] },
  { mime: 'video/x-msvideo', extensions: ['.avi'] },
  { mime: 'video/ogg', extensions: ['.ogv'] },
  { mime: 'application/wasm', extensions: ['.wasm'] },
  { mime: 'application/x-executable', extensions: ['.elf'] },
  { mime: 'application/vnd.sqlite3', extensions: ['.sqlite', '.sqlite3', '.db'] },
  { mime: 'font/woff', extensions: ['.woff'] },
  { mime: 'font/woff2', extensions: ['.woff2'] },
  { mime: 'text/plain', extensions: ['.txt', '.text', '.log'], text: true },
  { mime: 'application/json', extensions: ['.json'], text: true },
  { mime: 'text/csv', extensions: ['.csv'], text: true },
  { mime: 'text/html', extensions: ['.html', '.htm'], text: true },
  { mime: 'application/xml', extensions: ['.xml'], text: true },
  { mime: 'text/markdown', extensions: ['.md', '.markdown'], text: true },
  { mime: 'text/javascript', extensions: ['.js', '.mjs'], text: true },
  { mime: 'text/css', extensions: ['.css'], text: true },
  { mime: 'image/svg+xml', extensions: ['.svg'], text: true },
  { mime: 'application/octet-stream', extensions: ['.bin'] },
]

const TYPE_BY_EXTENSION: ReadonlyMap<string, FileType> = new Map(
  FILE_TYPES.flatMap((type) => type.extensions.map((extension) => [extension, type] as const)),
)
const EXTENSION_BY_MIME: ReadonlyMap<string, string> = new Map(
  FILE_TYPES.map((type) => [type.mime, type.extensions[0] ?? '.bin']),
)

interface Signature {
  readonly mime: string
  /** Bytes that must appear at each offset, written as a latin1 string: one character per byte. */
  readonly magic: Readonly<Record<number, string>>
}

// First match wins, so specific signatures come before the general ones they share a prefix with.
const SIGNATURES: readonly Signature[] = [
  // An ftyp box of exactly 256 bytes starts like an ICO header, so ISO media is checked first.
  { mime: 'video/quicktime', magic: { 4: 'ftypqt  ' } },
  { mime: 'audio/mp4', magic: { 4: 'ftypM4A ' } },
  { mime: 'audio/mp4', magic: { 4: 'ftypM4B ' } },
  { mime: 'image/avif', magic: { 4: 'ftypavif' } },
  { mime: 'image/heic', magic: { 4: 'ftypheic' } },
  { mime: 'image/heic', magic: { 4: 'ftypheix' } },
  { mime: 'video/mp4', magic: { 4: 'ftyp' } },
  { mime: 'image/png', magic: { 0: '\x89PNG\r\n\x1a\n' } },
  { mime: 'image/jpeg', magic: { 0: '\xff\xd8\xff' } },
  { mime: 'image/gif', magic: { 0: 'GIF87a' } },
  { mime: 'image/gif', magic: { 0: 'GIF89a' } },
  { mime: 'image/webp', magic: { 0: 'RIFF', 8: 'WEBP' } },
  { mime: 'audio/wav', magic: { 0: 'RIFF', 8: 'WAVE' } },
  { mime: 'video/x-msvideo', magic: { 0: 'RIFF', 8: 'AVI ' } },
  // "BM" alone would catch text files; the four reserved header bytes are always zero.
  { mime: 'image/bmp', magic: { 0: 'BM', 6: '\0\0\0\0' } },
  { mime: 'image/x-icon', magic: { 0: '\0\0\x01\0' } },
  { mime: 'image/tiff', magic: { 0: 'II*\0' } },
  { mime: 'image/tiff', magic: { 0: 'MM\0*' } },
  { mime: 'application/pdf', magic: { 0: '%PDF-' } },
  { mime: 'application/gzip', magic: { 0: '\x1f\x8b\x08' } },
  // "BZh" alone would catch text files; a block header or the end-of-stream marker follows the level.
  { mime: 'application/x-bzip2', magic: { 0: 'BZh', 4: '1AY&SY' } },
  { mime: 'application/x-bzip2', magic: { 0: 'BZh', 4: '\x17rE8P\x90' } },
  { mime: 'application/x-7z-compressed', magic: { 0: "7z\xbc\xaf'\x1c" } },
  { mime: 'application/vnd.rar', magic: { 0: 'Rar!\x1a\x07' } },
  { mime: 'application/x-tar', magic: { 257: 'ustar' } },
  // "ID3" alone would catch text files; the version byte that follows is 2, 3 or 4.
  { mime: 'audio/mpeg', magic: { 0: 'ID3\x02' } },
  { mime: 'audio/mpeg', magic: { 0: 'ID3\x03' } },
  { mime: 'audio/mpeg', magic: { 0: 'ID3\x04' } },
  { mime: 'video/ogg', magic: { 0: 'OggS', 28: '\x80theora' } },
  { mime: 'audio/ogg', magic: { 0: 'OggS' } },
  { mime: 'audio/flac', magic: { 0: 'fLaC' } },
  { mime: 'application/wasm', magic: { 0: '\0asm' } },
  { mime: 'application/x-executable', magic: { 0: '\x7fELF' } },
  { mime: 'application/vnd.sqlite3', magic: { 0: 'SQLite format 3\0' } },
  { mime: 'font/woff', magic: { 0: 'wOFF' } },
  { mime: 'font/woff2', magic: { 0: 'wOF2' } },
]

const ZIP_LOCAL_HEADER = 'PK\x03\x04'
// An empty archive has no local header, only the end-of-central-directory record.
const ZIP_SIGNATURES = [ZIP_LOCAL_HEADER, 'PK\x05\x06']
const OOXML_FOLDERS: readonly (readonly [folder: string, mime: string])[] = [
  ['word/', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  ['xl/', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  ['ppt/', 'application/vnd.openxmlformats-officedocument.presentationml.presentation'],
]

/**
 * The MIME type of a file from its first bytes (magic numbers, then UTF-8 text), using the filename's
 * extension only to name a text type or when the bytes say nothing.
 */
export function detectMimeType(head: Uint8Array, filename?: string): string {
  const type = filename === undefined ? undefined : TYPE_BY_EXTENSION.get(extensionOf(filename))
  const sniffed = sniffMagic(head, type)
  if (sniffed !== undefined) return sniffed
  if (isText(head)) return type?.text ? type.mime : 'text/plain'
  return type !== undefined && !type.text ? type.mime : 'application/octet-stream'
}

/** The extension (with its dot) under which bytes of `mime` are stored; `.bin` when the type is unknown. */
export function extensionForMimeType(mime: string): string {
  const essence = mime.split(';', 1)[0]?.trim().toLowerCase() ?? ''
  return EXTENSION_BY_MIME.get(essence) ?? '.bin'
}

function sniffMagic(head: Uint8Array, claimed: FileType | undefined): string | undefined {
  if (ZIP_SIGNATURES.some((bytes) => hasBytesAt(head, 0, bytes))) return sniffZip(head, claimed)
  const signature = SIGNATURES.find(({ magic }) =>
    Object.entries(magic).every(([offset, bytes]) => hasBytesAt(head, Number(offset), bytes)),
  )
  if (signature !== undefined) return signature.mime
  if (isMp3Frame(head)) return 'audio/mpeg'
  return undefined
}

/** Office Open XML files are zips; the entry names in the local headers within the head tell them apart. */
function sniffZip(head: Uint8Array, claimed: FileType | undefined): string {
  const names = zipEntryNames(head)
  for (const [folder, mime] of OOXML_FOLDERS) {
    if (names.some((name) => name.startsWith(folder))) return mime
  }
  // The part folders may lie beyond the head; then only the claimed extension can choose among them.
  const isOoxml = names.includes('[Content_Types].xml')
  if (isOoxml && claimed !== undefined && OOXML_FOLDERS.some(([, mime]) => mime === claimed.mime)) {
    return claimed.mime
  }
  return 'application/zip'
}

function zipEntryNames(head: Uint8Array): string[] {
  const names: string[] = []
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const latin1 = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1')
  // Scanning for signatures instead of walking sizes also finds entries written with a data descriptor.
  for (let at = latin1.indexOf(ZIP_LOCAL_HEADER); at !== -1; at = latin1.indexOf(ZIP_LOCAL_HEADER, at + 4)) {
    const nameStart = at + 30
    if (nameStart > head.byteLength) break
    const nameEnd = nameStart + view.getUint16(at + 26, true)
    if (nameEnd > head.byteLength) break
    names.push(latin1.slice(nameStart, nameEnd))
  }
  return names
}

/** An MPEG audio Layer III frame header with no reserved or invalid field, as in files without an ID3 tag. */
function isMp3Frame(head: Uint8Array): boolean {
  const [first = 0, second = 0, third = 0] = head
  const isSync = first === 0xff && (second & 0xe0) === 0xe0
  const version = (second >> 3) & 0b11
  const layer = (second >> 1) & 0b11
  const bitrate = third >> 4
  const sampleRate = (third >> 2) & 0b11
  return isSync && version !== 0b01 && layer === 0b01 && bitrate !== 0b1111 && sampleRate !== 0b11
}

/**
 * Valid UTF-8 without the bytes that WHATWG MIME sniffing calls binary (NUL and most other C0 controls).
 * A sequence cut off at the end is allowed, since the head may end in the middle of a character.
 */
function isText(head: Uint8Array): boolean {
  if (head.some(isBinaryByte)) return false
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true })
    return true
  } catch {
    return false
  }
}

function isBinaryByte(byte: number): boolean {
  return byte <= 0x08 || byte === 0x0b || (byte >= 0x0e && byte <= 0x1a) || (byte >= 0x1c && byte <= 0x1f)
}

function hasBytesAt(head: Uint8Array, offset: number, bytes: string): boolean {
  if (offset + bytes.length > head.length) return false
  for (let i = 0; i < bytes.length; i++) {
    if (head[offset + i] !== bytes.charCodeAt(i)) return false
  }
  return true
}

function extensionOf(filename: string): string {
  const base = filename.slice(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1)
  const dot = base.lastIndexOf('.')
  return dot > 0 ? base.slice(dot).toLowerCase() : ''
}
