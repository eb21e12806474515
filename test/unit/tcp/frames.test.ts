import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { AppError, type ErrorCode } from '../../../src/core/errors.ts'
import { FrameReader } from '../../../src/tcp/frame-reader.ts'
import {
  encodeFrame,
  frameMac,
  isFatal,
  MAX_HEADER_BYTES,
  parseRequestHeader,
  type RequestHeader,
  wireHeader,
} from '../../../src/tcp/frames.ts'

const LIMIT = 1024

function parseError(line: string): AppError {
  try {
    parseRequestHeader(line, LIMIT)
  } catch (err) {
    assert.ok(err instanceof AppError, String(err))
    return err
  }
  assert.fail(`expected ${line} to throw`)
}

function assertThrowsCode(line: string, code: ErrorCode): void {
  const err = parseError(line)
  assert.equal(err.code, code, `${line}: ${err.message}`)
  assert.ok(isFatal(err.code), `${code} closes the connection`)
}

describe('parseRequestHeader', () => {
  it('reads a week 01 header as version 1', () => {
    assert.deepEqual(parseRequestHeader('{"mime_type":"image/png","size":3}', LIMIT), {
      header: { version: '1', mimeType: 'image/png', size: 3 },
    })
  })

  it('reads a version 2.0 header with session, filename and hmac', () => {
    const hmac = 'a'.repeat(64)
    const line = JSON.stringify({
      version: '2.0',
      mime_type: 'text/plain',
      size: 5,
      filename: 'a.txt',
      hmac,
      session: { id: 'abc', mode: 'stateful', action: 'transfer', sequence: 4 },
    })
    assert.deepEqual(parseRequestHeader(line, LIMIT), {
      header: {
        version: '2.0',
        mimeType: 'text/plain',
        size: 5,
        filename: 'a.txt',
        hmac,
        session: { id: 'abc', mode: 'stateful', action: 'transfer', sequence: 4 },
      },
    })
  })

  it('defaults a missing session id and sequence to null', () => {
    const line =
      '{"version":"2.0","mime_type":"x/y","size":0,"session":{"mode":"stateful","action":"connect"}}'
    const parsed = parseRequestHeader(line, LIMIT)
    assert.ok('header' in parsed)
    assert.deepEqual(parsed.header.session, { id: null, mode: 'stateful', action: 'connect', sequence: null })
  })

  it('returns a non-fatal error with the size to skip for an unsupported version', () => {
    const parsed = parseRequestHeader('{"version":"3.1","mime_type":"x/y","size":7}', LIMIT)
    assert.ok('error' in parsed)
    assert.equal(parsed.error.code, 'ERR_VERSION_UNSUPPORTED')
    assert.equal(parsed.size, 7)
    assert.equal(isFatal(parsed.error.code), false)
  })

  it('refuses a header that is not JSON or not an object', () => {
    for (const line of ['hello', '{"size":1', '', '[1,2]', '"text"', 'null', '42', 'true']) {
      assertThrowsCode(line, 'ERR_PROTOCOL')
    }
  })

  it('refuses a size that is missing, negative, fractional, huge or a string', () => {
    for (const size of ['', ',"size":-1', ',"size":1.5', ',"size":1e300', ',"size":"5"', ',"size":null']) {
      assertThrowsCode(`{"mime_type":"x/y"${size}}`, 'ERR_PROTOCOL')
    }
    assertThrowsCode(`{"mime_type":"x/y","size":${2 ** 53}}`, 'ERR_PROTOCOL')
  })

  it('refuses a size above the limit with ERR_PAYLOAD_TOO_LARGE', () => {
    assertThrowsCode(`{"mime_type":"x/y","size":${LIMIT + 1}}`, 'ERR_PAYLOAD_TOO_LARGE')
    assert.ok('header' in parseRequestHeader(`{"mime_type":"x/y","size":${LIMIT}}`, LIMIT))
  })

  it('refuses missing or wrong-typed fields', () => {
    const v2 = (fields: string) => `{"version":"2.0","size":0${fields}}`
    for (const line of [
      '{"size":0}',
      '{"mime_type":5,"size":0}',
      `{"mime_type":"${'x'.repeat(256)}","size":0}`,
      v2(''),
      v2(',"mime_type":"x/y","session":"abc"'),
      v2(',"mime_type":"x/y","session":{"mode":"sticky","action":"connect"}'),
      v2(',"mime_type":"x/y","session":{"mode":"stateful","action":"fly"}'),
      v2(',"mime_type":"x/y","session":{"mode":"stateful","action":"list","id":5}'),
      v2(',"mime_type":"x/y","session":{"mode":"stateful","action":"list","sequence":-1}'),
      v2(',"mime_type":"x/y","session":{"mode":"stateful","action":"list","sequence":"1"}'),
      v2(',"mime_type":"x/y","hmac":"zz"'),
      v2(',"mime_type":"x/y","filename":7'),
    ]) {
      assertThrowsCode(line, 'ERR_PROTOCOL')
    }
  })
})

describe('encodeFrame and wireHeader', () => {
  it('writes the header line, then the payload, with size taken from the payload', () => {
    const frame = encodeFrame({ version: '2.0', type: 'files', size: 99 }, Buffer.from('abc'))
    assert.equal(frame.toString(), '{"version":"2.0","type":"files","size":3}\nabc')
    assert.equal(encodeFrame({ type: 'pong' }).toString(), '{"type":"pong","size":0}\n')
  })

  it('round-trips a request header through the wire form', () => {
    const headers: RequestHeader[] = [
      { version: '1', mimeType: 'image/png', size: 10 },
      {
        version: '2.0',
        mimeType: 'text/plain',
        size: 3,
        filename: 'a.txt',
        session: { id: null, mode: 'stateful', action: 'connect', sequence: null },
        hmac: 'f'.repeat(64),
      },
    ]
    for (const header of headers) {
      const line = encodeFrame(wireHeader(header)).toString().trimEnd()
      assert.deepEqual(parseRequestHeader(line, LIMIT), { header })
    }
  })
})

describe('frameMac', () => {
  const header: RequestHeader = {
    version: '2.0',
    mimeType: 'text/plain',
    size: 5,
    session: { id: 'tok', mode: 'stateful', action: 'transfer', sequence: 2 },
  }

  it('is HMAC-SHA256 over the JSON array of the header fields, a newline, and the payload', () => {
    const expected = createHmac('sha256', 'key')
      .update('["2.0","text/plain",5,"stateful","transfer","tok",2]\nhello')
      .digest('hex')
    const mac = frameMac('key', header)
    mac.update(Buffer.from('hel'))
    mac.update(Buffer.from('lo'))
    assert.equal(mac.hex(), expected)
  })

  it('uses null for the session fields of a frame without a session', () => {
    const expected = createHmac('sha256', 'key').update('["1","x/y",0,null,null,null,null]\n').digest('hex')
    assert.equal(frameMac('key', { version: '1', mimeType: 'x/y', size: 0 }).hex(), expected)
  })

  it('compares in constant time and refuses a missing or different MAC', () => {
    const good = frameMac('key', header)
    good.update(Buffer.from('hello'))
    const digest = good.hex()
    const check = (expected: string | undefined, payload = 'hello') => {
      const mac = frameMac('key', header)
      mac.update(Buffer.from(payload))
      return mac.matches(expected)
    }
    assert.equal(check(digest), true)
    assert.equal(check(digest, 'hellO'), false)
    assert.equal(check(undefined), false)
    assert.equal(check('0'.repeat(64)), false)
  })
})

/** What a reader makes of a stream: each frame's header line and payload, or the error it stopped on. */
async function readAll(chunks: Buffer[]): Promise<{ frames: [string, string][]; error?: string }> {
  const reader = new FrameReader(
    (async function* () {
      for (const chunk of chunks) yield chunk
    })(),
  )
  const frames: [string, string][] = []
  try {
    for (;;) {
      const line = await reader.readLine(64)
      if (line === undefined) return { frames }
      const size = (JSON.parse(line) as { size: number }).size
      const parts: Buffer[] = []
      for await (const part of reader.payload(size)) parts.push(Buffer.from(part))
      frames.push([line, Buffer.concat(parts).toString('latin1')])
    }
  } catch (err) {
    return { frames, error: (err as AppError).code }
  }
}

/** The stream cut at every position into two chunks, and into single bytes. */
function splits(bytes: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[...bytes].map((byte) => Buffer.from([byte]))]
  for (let at = 0; at <= bytes.length; at++) ways.push([bytes.subarray(0, at), bytes.subarray(at)])
  return ways
}

describe('FrameReader', () => {
  // Payloads with newlines and braces in them, an empty one, and a frame right after a payload.
  const stream = Buffer.concat([
    encodeFrame({ size: 0, n: 1 }),
    encodeFrame({ n: 2 }, Buffer.from('line\n{"size":9}\n')),
    encodeFrame({ n: 3 }, Buffer.from([0, 10, 255, 10])),
    encodeFrame({ n: 4 }, Buffer.from('x')),
  ])

  it('reads the same frames whatever the chunking', async () => {
    const whole = await readAll([stream])
    assert.equal(whole.error, undefined)
    assert.equal(whole.frames.length, 4)
    assert.deepEqual(whole.frames[1], ['{"n":2,"size":16}', 'line\n{"size":9}\n'])
    for (const chunks of splits(stream)) {
      assert.deepEqual(await readAll(chunks), whole, `split into ${chunks.map((c) => c.length).join('+')}`)
    }
  })

  it('reports an early end in a payload or a header the same way at every cut', async () => {
    for (const [cut, code] of [
      [stream.length - 1, 'ERR_PAYLOAD_INCOMPLETE'],
      [stream.length - 3, 'ERR_PROTOCOL'],
    ] as const) {
      const truncated = stream.subarray(0, cut)
      const whole = await readAll([truncated])
      assert.equal(whole.error, code)
      for (const chunks of splits(truncated)) assert.deepEqual(await readAll(chunks), whole)
    }
  })

  it('refuses a header longer than the limit, and accepts one that just fits', async () => {
    const line = (bytes: number) => Buffer.from(`{"size":0,"pad":"${'x'.repeat(bytes - 20)}"}\n`)
    const fits = line(64)
    assert.equal(fits.length, 64)
    assert.equal((await readAll([fits])).frames.length, 1)
    const tooLong = line(65)
    for (const chunks of splits(tooLong)) {
      assert.equal((await readAll(chunks)).error, 'ERR_HEADER_TOO_LARGE')
    }
    // Without any newline the reader stops at the limit instead of buffering forever.
    const endless = (async function* () {
      for (;;) yield Buffer.from('a'.repeat(100))
    })()
    await assert.rejects(new FrameReader(endless).readLine(MAX_HEADER_BYTES), {
      code: 'ERR_HEADER_TOO_LARGE',
    })
  })
})
