import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  contentDisposition,
  generateStoredName,
  sanitizeFilename,
} from '../../../../src/core/files/filenames.ts'

const utf8Length = (text: string) => Buffer.byteLength(text, 'utf8')

describe('sanitizeFilename', () => {
  it('keeps an ordinary name as it is', () => {
    assert.equal(sanitizeFilename('report.pdf'), 'report.pdf')
    assert.equal(sanitizeFilename('Résumé 2024 (final).docx'), 'Résumé 2024 (final).docx')
  })

  it('keeps only the base name of Unix and Windows paths', () => {
    assert.equal(sanitizeFilename('../../etc/passwd'), 'passwd')
    assert.equal(sanitizeFilename('..\\..\\x'), 'x')
    assert.equal(sanitizeFilename('C:\\Users\\me\\photo.jpg'), 'photo.jpg')
    assert.equal(sanitizeFilename('/abs/dir/'), 'dir')
    assert.equal(sanitizeFilename('a/b\\c/d.txt'), 'd.txt')
  })

  it('never returns a name that means a directory', () => {
    for (const name of ['..', '.', '../..', '..\\..\\', '/', '\\', '...']) {
      assert.equal(sanitizeFilename(name), 'file', JSON.stringify(name))
    }
  })

  it('removes NUL, control and bidi-override characters', () => {
    assert.equal(sanitizeFilename('a\u0000b.txt'), 'ab.txt')
    assert.equal(sanitizeFilename('line\r\nbreak\t.txt'), 'linebreak.txt')
    assert.equal(sanitizeFilename('del\u007f\u0085.txt'), 'del.txt')
    assert.equal(sanitizeFilename('invoice\u202Efdp.exe'), 'invoicefdp.exe')
  })

  it('strips leading dots, collapses whitespace and trims', () => {
    assert.equal(sanitizeFilename('.bashrc'), 'bashrc')
    assert.equal(sanitizeFilename(' . .hidden'), 'hidden')
    assert.equal(sanitizeFilename('  my    holiday\u00a0\u2003photo.jpg  '), 'my holiday photo.jpg')
  })

  it('returns "file" when nothing is left or the name is not a string', () => {
    for (const name of ['', '   ', '\u0000\u0001', undefined, null, 42, { name: 'x' }]) {
      assert.equal(sanitizeFilename(name), 'file', String(name))
    }
  })

  it('normalizes to NFC and replaces lone surrogates', () => {
    assert.equal(sanitizeFilename('e\u0301.txt'), '\u00e9.txt')
    assert.equal(sanitizeFilename('a\ud800.txt'), 'a\ufffd.txt')
  })

  describe('long names', () => {
    it('caps at 255 bytes and keeps the extension', () => {
      const name = sanitizeFilename(`${'a'.repeat(300)}.pdf`)
      assert.equal(utf8Length(name), 255)
      assert.equal(name, `${'a'.repeat(251)}.pdf`)
    })

    it('caps a name without an extension', () => {
      assert.equal(sanitizeFilename('x'.repeat(1000)), 'x'.repeat(255))
    })

    it('never cuts a multi-byte character', () => {
      const name = sanitizeFilename(`${'é'.repeat(200)}.txt`)
      assert.ok(utf8Length(name) <= 255)
      assert.equal(name, `${'é'.repeat(125)}.txt`)
    })

    it('never cuts an emoji, even one made of several code points', () => {
      const family = '👨‍👩‍👧'
      const name = sanitizeFilename(`${family.repeat(30)}.png`)
      assert.ok(utf8Length(name) <= 255)
      assert.ok(name.isWellFormed())
      assert.equal(name, `${family.repeat(Math.floor(251 / utf8Length(family)))}.png`)
    })

    it('does not treat a long dotted tail as an extension', () => {
      const name = sanitizeFilename(`${'a'.repeat(250)}.version two of the draft`)
      assert.equal(name, `${'a'.repeat(250)}.vers`)
    })

    it('leaves no trailing space before the kept extension', () => {
      const name = sanitizeFilename(`${'a'.repeat(250)} b.txt`)
      assert.equal(name, `${'a'.repeat(250)}.txt`)
    })
  })
})

describe('generateStoredName', () => {
  it('is 128 random bits in hex followed by the extension of the type', () => {
    assert.match(generateStoredName('image/png'), /^[0-9a-f]{32}\.png$/)
    assert.match(generateStoredName('text/plain; charset=utf-8'), /^[0-9a-f]{32}\.txt$/)
    assert.match(generateStoredName('application/x-unknown'), /^[0-9a-f]{32}\.bin$/)
  })

  it('is different every time', () => {
    const names = new Set(Array.from({ length: 1000 }, () => generateStoredName('image/png')))
    assert.equal(names.size, 1000)
  })
})

describe('contentDisposition', () => {
  it('gives an ASCII name in both parameters', () => {
    assert.equal(
      contentDisposition('report.pdf', 'attachment'),
      `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
    )
  })

  it('replaces non-ASCII in the fallback and percent-encodes UTF-8 in filename*', () => {
    assert.equal(
      contentDisposition('résumé.pdf', 'inline'),
      `inline; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`,
    )
    assert.equal(
      contentDisposition('😀.png', 'attachment'),
      `attachment; filename="_.png"; filename*=UTF-8''%F0%9F%98%80.png`,
    )
  })

  it('escapes quotes and backslashes in the fallback', () => {
    assert.equal(
      contentDisposition('say "hi" \\o/.txt', 'attachment'),
      `attachment; filename="say \\"hi\\" \\\\o/.txt"; filename*=UTF-8''say%20%22hi%22%20%5Co%2F.txt`,
    )
  })

  it("percent-encodes the characters RFC 8187 forbids but encodeURIComponent keeps: ' ( ) *", () => {
    assert.equal(
      contentDisposition("it's (1)*.txt", 'attachment'),
      `attachment; filename="it's (1)*.txt"; filename*=UTF-8''it%27s%20%281%29%2A.txt`,
    )
  })

  it('cannot be used to inject a header', () => {
    const value = contentDisposition('a\r\nSet-Cookie: x=1\u0000.txt', 'attachment')
    assert.match(value, /^[\x20-\x7e]+$/)
  })

  it('does not throw on a lone surrogate', () => {
    assert.equal(
      contentDisposition('a\ud800.txt', 'attachment'),
      `attachment; filename="a_.txt"; filename*=UTF-8''a%EF%BF%BD.txt`,
    )
  })

  it('refuses an unknown disposition', () => {
    assert.throws(() => contentDisposition('a.txt', 'evil' as 'inline'), TypeError)
  })
})
