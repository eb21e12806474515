import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { detectMimeType, extensionForMimeType } from '../../../../src/core/files/mime.ts'

/** Bytes from latin1 strings (one character per byte), byte arrays and fills. */
function bytes(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  return Buffer.concat(
    parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))),
  )
}

function zipEntry(name: string, content = ''): Uint8Array {
  const header = Buffer.alloc(30)
  header.write('PK\x03\x04', 0, 'latin1')
  header.writeUInt16LE(name.length, 26)
  return bytes(header, name, content)
}

function tarHeader(): Uint8Array {
  const block = Buffer.alloc(512)
  block.write('hello.txt', 0, 'latin1')
  block.write('ustar\x0000', 257, 'latin1')
  return block
}

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const PPTX = 'application/vnd.openxmlformats-officedocument.presentationml.presentation'

const SAMPLES: readonly (readonly [name: string, head: Uint8Array, mime: string])[] = [
  ['PNG', bytes('\x89PNG\r\n\x1a\n\0\0\0\rIHDR'), 'image/png'],
  ['JPEG', bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10], 'JFIF'), 'image/jpeg'],
  ['GIF87a', bytes('GIF87a\x01\0\x01\0'), 'image/gif'],
  ['GIF89a', bytes('GIF89a\x01\0\x01\0'), 'image/gif'],
  ['WebP', bytes('RIFF\x24\0\0\0WEBPVP8 '), 'image/webp'],
  ['BMP', bytes('BM\x46\0\0\0\0\0\0\0\x36\0\0\0'), 'image/bmp'],
  ['ICO', bytes('\0\0\x01\0\x01\0\x10\x10'), 'image/x-icon'],
  ['TIFF little-endian', bytes('II*\0\x08\0\0\0'), 'image/tiff'],
  ['TIFF big-endian', bytes('MM\0*\0\0\0\x08'), 'image/tiff'],
  ['PDF', bytes('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n'), 'application/pdf'],
  ['ZIP', zipEntry('notes.txt', 'hello'), 'application/zip'],
  ['empty ZIP', bytes('PK\x05\x06', new Uint8Array(18)), 'application/zip'],
  ['DOCX', bytes(zipEntry('[Content_Types].xml', '\x8b\x01'), zipEntry('word/document.xml')), DOCX],
  ['XLSX', bytes(zipEntry('[Content_Types].xml'), zipEntry('xl/workbook.xml')), XLSX],
  ['PPTX', bytes(zipEntry('[Content_Types].xml'), zipEntry('ppt/presentation.xml')), PPTX],
  ['GZIP', bytes([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]), 'application/gzip'],
  ['BZIP2', bytes('BZh91AY&SY\x12\x34'), 'application/x-bzip2'],
  ['empty BZIP2', bytes('BZh9\x17rE8P\x90\0\0\0\0'), 'application/x-bzip2'],
  ['7z', bytes("7z\xbc\xaf'\x1c\0\x04"), 'application/x-7z-compressed'],
  ['RAR 4', bytes('Rar!\x1a\x07\0'), 'application/vnd.rar'],
  ['RAR 5', bytes('Rar!\x1a\x07\x01\0'), 'application/vnd.rar'],
  ['TAR', tarHeader(), 'application/x-tar'],
  ['MP3 with ID3', bytes('ID3\x04\0\0\0\0\x01\x7f'), 'audio/mpeg'],
  ['MP3 frame', bytes([0xff, 0xfb, 0x90, 0x64, 0, 0]), 'audio/mpeg'],
  ['MP4', bytes('\0\0\0\x20ftypisom\0\0\x02\0'), 'video/mp4'],
  ['MOV', bytes('\0\0\0\x14ftypqt  \0\0\x02\0'), 'video/quicktime'],
  ['M4A', bytes('\0\0\0\x20ftypM4A \0\0\0\0'), 'audio/mp4'],
  ['AVIF', bytes('\0\0\0\x1cftypavif\0\0\0\0'), 'image/avif'],
  ['HEIC', bytes('\0\0\0\x18ftypheic\0\0\0\0'), 'image/heic'],
  // Its 256-byte size makes the box start like an ICO header.
  ['MP4 with a 256-byte ftyp box', bytes('\0\0\x01\0ftypmp42'), 'video/mp4'],
  ['WAV', bytes('RIFF\x24\x08\0\0WAVEfmt '), 'audio/wav'],
  ['AVI', bytes('RIFF\x24\x08\0\0AVI LIST'), 'video/x-msvideo'],
  ['OGG Vorbis', bytes('OggS\0\x02', new Uint8Array(20), '\x01\x1e\x01vorbis'), 'audio/ogg'],
  ['OGG Theora', bytes('OggS\0\x02', new Uint8Array(20), '\x01\x2a\x80theora'), 'video/ogg'],
  ['FLAC', bytes('fLaC\0\0\0\x22'), 'audio/flac'],
  ['WASM', bytes('\0asm\x01\0\0\0'), 'application/wasm'],
  ['ELF', bytes('\x7fELF\x02\x01\x01\0'), 'application/x-executable'],
  ['SQLite', bytes('SQLite format 3\0\x10\0'), 'application/vnd.sqlite3'],
  ['WOFF', bytes('wOFF\0\x01\0\0'), 'font/woff'],
  ['WOFF2', bytes('wOF2\0\x01\0\0'), 'font/woff2'],
]

describe('detectMimeType', () => {
  for (const [name, head, mime] of SAMPLES) {
    it(`recognizes ${name} by its magic bytes`, () => {
      assert.equal(detectMimeType(head), mime)
    })
  }

  it('trusts the bytes over a misleading extension', () => {
    assert.equal(detectMimeType(SAMPLES[0]![1], 'cat.jpg'), 'image/png')
    assert.equal(detectMimeType(bytes('%PDF-1.4'), 'invoice.html'), 'application/pdf')
  })

  describe('zip-based formats', () => {
    it('uses the claimed OOXML extension when only [Content_Types].xml fits in the head', () => {
      const head = zipEntry('[Content_Types].xml', '\x8b\x01\x02')
      assert.equal(detectMimeType(head, 'report.docx'), DOCX)
      assert.equal(detectMimeType(head, 'sheet.XLSX'), XLSX)
      assert.equal(detectMimeType(head), 'application/zip')
      assert.equal(detectMimeType(head, 'archive.pdf'), 'application/zip')
    })

    it('is not fooled by folder names inside the content of an entry', () => {
      const head = zipEntry('notes.txt', 'see word/ and xl/ and [Content_Types].xml')
      assert.equal(detectMimeType(head, 'notes.docx'), 'application/zip')
    })

    it('reads as a plain zip when the name of an entry is cut off by the end of the head', () => {
      const head = zipEntry('word/document.xml').subarray(0, 35)
      assert.equal(detectMimeType(head), 'application/zip')
    })
  })

  describe('text', () => {
    it('names UTF-8 text by its extension when that is a text type', () => {
      const text = bytes('{"a": 1}')
      const cases = [
        ['data.json', 'application/json'],
        ['table.csv', 'text/csv'],
        ['page.html', 'text/html'],
        ['feed.xml', 'application/xml'],
        ['README.md', 'text/markdown'],
        ['notes.txt', 'text/plain'],
        ['app.js', 'text/javascript'],
        ['site.css', 'text/css'],
        ['logo.svg', 'image/svg+xml'],
      ] as const
      for (const [filename, mime] of cases) assert.equal(detectMimeType(text, filename), mime, filename)
    })

    it('is text/plain without a text extension, whatever the extension claims', () => {
      const text = Buffer.from('héllo wörld, 你好\r\n\tindented\n', 'utf8')
      assert.equal(detectMimeType(text), 'text/plain')
      assert.equal(detectMimeType(text, 'notes'), 'text/plain')
      assert.equal(detectMimeType(text, 'photo.png'), 'text/plain')
      assert.equal(detectMimeType(text, 'program.exe'), 'text/plain')
    })

    it('accepts a character cut off at the end of the head', () => {
      const head = Buffer.from(`${'a'.repeat(4094)}€`, 'utf8').subarray(0, 4096)
      assert.equal(head.at(-1), 0x82)
      assert.equal(detectMimeType(head), 'text/plain')
    })

    it('does not take text for magic bytes that need a binary byte after them', () => {
      assert.equal(detectMimeType(bytes('BMW owners club\n')), 'text/plain')
      assert.equal(detectMimeType(bytes('BZh9 is not bzip2\n')), 'text/plain')
      assert.equal(detectMimeType(bytes('ID3 tags explained\n')), 'text/plain')
    })

    it('treats an empty file as text', () => {
      assert.equal(detectMimeType(new Uint8Array(0), 'empty.csv'), 'text/csv')
      assert.equal(detectMimeType(new Uint8Array(0)), 'text/plain')
    })
  })

  describe('binary without a known signature', () => {
    const binary = bytes('\x01\x02\x03\xfe\xfd\0')

    it('falls back to the extension', () => {
      assert.equal(detectMimeType(binary, 'PHOTO.JPG'), 'image/jpeg')
      assert.equal(detectMimeType(binary, 'clip.mov'), 'video/quicktime')
      assert.equal(detectMimeType(binary, 'dir/sub\\song.mp3'), 'audio/mpeg')
    })

    it('is application/octet-stream with no extension, an unknown one or a text one', () => {
      assert.equal(detectMimeType(binary), 'application/octet-stream')
      assert.equal(detectMimeType(binary, 'blob'), 'application/octet-stream')
      assert.equal(detectMimeType(binary, 'thing.xyz'), 'application/octet-stream')
      assert.equal(detectMimeType(binary, '.png'), 'application/octet-stream')
      assert.equal(detectMimeType(binary, 'data.json'), 'application/octet-stream')
    })

    it('counts NUL and invalid UTF-8 as binary', () => {
      assert.equal(detectMimeType(bytes('hello\0world')), 'application/octet-stream')
      assert.equal(detectMimeType(bytes([0x68, 0xc3, 0x28, 0x69])), 'application/octet-stream')
      assert.equal(detectMimeType(bytes([0x68, 0xed, 0xa0, 0x80])), 'application/octet-stream')
    })

    it('does not take an ADTS AAC frame for MP3', () => {
      assert.equal(detectMimeType(bytes([0xff, 0xf1, 0x50, 0x80, 0, 0x1f])), 'application/octet-stream')
    })
  })
})

describe('extensionForMimeType', () => {
  it('gives the canonical extension', () => {
    assert.equal(extensionForMimeType('image/png'), '.png')
    assert.equal(extensionForMimeType('image/jpeg'), '.jpg')
    assert.equal(extensionForMimeType('text/plain'), '.txt')
    assert.equal(extensionForMimeType('application/json'), '.json')
    assert.equal(extensionForMimeType(DOCX), '.docx')
  })

  it('ignores parameters, case and spaces', () => {
    assert.equal(extensionForMimeType('Text/HTML; charset=utf-8'), '.html')
    assert.equal(extensionForMimeType(' image/svg+xml '), '.svg')
  })

  it('is .bin for unknown types', () => {
    assert.equal(extensionForMimeType('application/x-unknown'), '.bin')
    assert.equal(extensionForMimeType('application/octet-stream'), '.bin')
    assert.equal(extensionForMimeType(''), '.bin')
  })

  it('has an extension for every type detectMimeType recognizes, which maps back to it', () => {
    for (const [name, , mime] of SAMPLES) {
      const extension = extensionForMimeType(mime)
      assert.notEqual(extension, '.bin', name)
      assert.equal(detectMimeType(bytes('\x01\0'), `x${extension}`), mime, name)
    }
  })
})
