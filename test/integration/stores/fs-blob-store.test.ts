import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../../../src/core/errors.ts'
import { FsBlobStore } from '../../../src/stores/blobs/fs/index.ts'

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

async function* chunksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, at + size)
}

describe('FsBlobStore', () => {
  let root: string
  let counter = 0
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'statelab-blobs-'))
  })
  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  // A directory that does not exist yet, to check that open() creates it.
  const freshDirectory = () => join(root, `case-${++counter}`)

  async function openStore() {
    const directory = freshDirectory()
    return { directory, store: await FsBlobStore.open(directory) }
  }

  /** What a reader of the directory could see: every published name, and the temporary files apart. */
  async function listing(directory: string) {
    const visible = (await readdir(directory)).filter((entry) => entry !== '.tmp')
    return { visible, temp: await readdir(join(directory, '.tmp')) }
  }

  describe('options', () => {
    it('throws a TypeError naming options.directory when it is not a non-empty string', () => {
      for (const options of [{ directory: '' }, { directory: 42 }, {}, undefined]) {
        assert.throws(() => new FsBlobStore(options as never), {
          name: 'TypeError',
          message: /options\.directory/,
        })
      }
    })

    it('rejects a maxBytes that is not a non-negative integer before touching the disk', async () => {
      const { directory, store } = await openStore()
      for (const maxBytes of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) {
        await assert.rejects(store.stage(chunksOf(Buffer.from('x'), 1), { maxBytes }), {
          name: 'TypeError',
          message: /options\.maxBytes/,
        })
      }
      assert.deepEqual(await listing(directory), { visible: [], temp: [] })
    })
  })

  describe('stage and commit', () => {
    it('round-trips the bytes with their size, sha256 and head', async () => {
      const { directory, store } = await openStore()
      const data = randomBytes(100_000)
      const staged = await store.stage(chunksOf(data, 7_000), { maxBytes: 1_000_000 })

      assert.equal(staged.size, data.byteLength)
      assert.equal(staged.sha256, sha256(data))
      assert.deepEqual(staged.head, data.subarray(0, 4096))
      assert.deepEqual((await listing(directory)).visible, [], 'nothing is visible before commit')

      await staged.commit('abc123.bin')
      assert.deepEqual(await listing(directory), { visible: ['abc123.bin'], temp: [] })
      assert.equal(sha256(await buffer(await store.open('abc123.bin'))), sha256(data))
      assert.deepEqual(await readFile(join(directory, 'abc123.bin')), data)
    })

    it('takes a Readable, and gives a small file whole as its head', async () => {
      const { store } = await openStore()
      const staged = await store.stage(Readable.from([Buffer.from('hello '), Buffer.from('world')]), {
        maxBytes: 11,
      })
      assert.equal(staged.size, 11)
      assert.equal(staged.head.toString(), 'hello world')
      assert.equal(staged.sha256, sha256(Buffer.from('hello world')))
    })

    it('stores an empty file', async () => {
      const { store } = await openStore()
      const staged = await store.stage(chunksOf(new Uint8Array(0), 1), { maxBytes: 0 })
      assert.equal(staged.size, 0)
      assert.equal(staged.head.byteLength, 0)
      assert.equal(staged.sha256, sha256(new Uint8Array(0)))
      await staged.commit('empty')
      assert.equal((await buffer(await store.open('empty'))).byteLength, 0)
    })

    it('refuses a path-like name and publishes nothing', async () => {
      const { directory, store } = await openStore()
      const staged = await store.stage(chunksOf(Buffer.from('secret'), 3), { maxBytes: 100 })
      for (const name of [
        '../escape',
        'a/b/c',
        '../b',
        'a/../b',
        'a\\b',
        '/etc/passwd',
        '.hidden',
        '..',
        '',
        'x'.repeat(202),
        'a\0b',
      ]) {
        await assert.rejects(staged.commit(name), TypeError, JSON.stringify(name))
      }
      assert.deepEqual(
        (await readdir(root)).filter((entry) => !entry.startsWith('case-')),
        [],
      )
      assert.deepEqual((await listing(directory)).visible, [])

      await staged.discard()
      assert.deepEqual(await listing(directory), { visible: [], temp: [] })
    })

    it('discards idempotently, does nothing on discard after commit, and refuses commit after discard', async () => {
      const { directory, store } = await openStore()
      const kept = await store.stage(chunksOf(Buffer.from('kept'), 2), { maxBytes: 100 })
      await kept.commit('kept')
      await kept.discard()
      assert.deepEqual(await listing(directory), { visible: ['kept'], temp: [] })

      const dropped = await store.stage(chunksOf(Buffer.from('dropped'), 2), { maxBytes: 100 })
      await dropped.discard()
      await dropped.discard()
      assert.deepEqual(await listing(directory), { visible: ['kept'], temp: [] })
      await assert.rejects(dropped.commit('dropped'), /already discarded/)
    })
  })

  describe('failed uploads leave nothing behind', () => {
    it('rejects with ERR_FILE_TOO_LARGE as soon as the limit is passed, and stops reading', async () => {
      const { directory, store } = await openStore()
      let reads = 0
      let closed = false
      async function* endless(): AsyncGenerator<Uint8Array> {
        try {
          for (;;) {
            reads++
            yield Buffer.alloc(300, 1)
          }
        } finally {
          closed = true
        }
      }

      await assert.rejects(store.stage(endless(), { maxBytes: 1024 }), (err) => {
        assert.ok(isAppError(err, 'ERR_FILE_TOO_LARGE'))
        assert.equal(err.message, 'The file is larger than the 1 KiB limit')
        return true
      })
      assert.equal(reads, 4)
      assert.ok(closed, 'the source was closed')
      assert.deepEqual(await listing(directory), { visible: [], temp: [] })
    })

    it('names the limit in bytes or binary units', async () => {
      const { store } = await openStore()
      const cases = [
        [100, 'the 100-byte limit'],
        [1536, 'the 1.5 KiB limit'],
        [10 * 2 ** 20, 'the 10 MiB limit'],
      ] as const
      for (const [maxBytes, limit] of cases) {
        const oneTooMany = async function* () {
          yield new Uint8Array(maxBytes + 1)
        }
        await assert.rejects(store.stage(oneTooMany(), { maxBytes }), {
          code: 'ERR_FILE_TOO_LARGE',
          message: `The file is larger than ${limit}`,
        })
      }
    })

    it('destroys a Readable source that is too large', async () => {
      const { directory, store } = await openStore()
      const source = Readable.from(chunksOf(randomBytes(10_000), 1000))
      await assert.rejects(store.stage(source, { maxBytes: 5000 }), { code: 'ERR_FILE_TOO_LARGE' })
      assert.ok(source.destroyed)
      assert.deepEqual(await listing(directory), { visible: [], temp: [] })
    })

    it('rethrows the error of a source that fails half-way', async () => {
      const { directory, store } = await openStore()
      const failure = new Error('connection reset')
      async function* broken(): AsyncGenerator<Uint8Array> {
        yield Buffer.alloc(5000, 2)
        throw failure
      }
      await assert.rejects(store.stage(broken(), { maxBytes: 1_000_000 }), (err) => err === failure)
      assert.deepEqual(await listing(directory), { visible: [], temp: [] })
    })

    it('refuses a source that yields strings, whose length would dodge the limit', async () => {
      const { directory, store } = await openStore()
      const strings = Readable.from(['héllo'], { objectMode: true })
      await assert.rejects(store.stage(strings as AsyncIterable<never>, { maxBytes: 100 }), TypeError)
      assert.deepEqual(await listing(directory), { visible: [], temp: [] })
    })
  })

  describe('temporary files', () => {
    it('removes leftovers of a crash when the store is opened', async () => {
      const directory = freshDirectory()
      await mkdir(join(directory, '.tmp'), { recursive: true })
      await writeFile(join(directory, '.tmp', 'deadbeef.part'), 'half an upload')
      await writeFile(join(directory, 'published.bin'), 'kept')

      await FsBlobStore.open(directory)
      assert.deepEqual(await listing(directory), { visible: ['published.bin'], temp: [] })
    })

    it('sweepTemp removes every temporary file and counts them', async () => {
      const { directory, store } = await openStore()
      await writeFile(join(directory, '.tmp', 'a.part'), 'a')
      await writeFile(join(directory, '.tmp', 'b.part'), 'b')
      assert.equal(await store.sweepTemp(), 2)
      assert.equal(await store.sweepTemp(), 0)
    })

    it('keeps uploads that live writers sharing the directory are still making', async () => {
      const { directory, store } = await openStore()
      const tmp = join(directory, '.tmp')
      const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_')
      const deadPid = 2 ** 22 + 1 // above Linux's pid_max: never a running process
      await writeFile(join(tmp, `${host}~${process.ppid}~ab.part`), 'a live replica is writing this')
      await writeFile(join(tmp, `${host}~${deadPid}~cd.part`), 'its writer crashed')
      await writeFile(join(tmp, `other-host~${process.ppid}~ef.part`), 'written on another machine')
      const abandoned = join(tmp, `other-host~${process.ppid}~0f.part`)
      await writeFile(abandoned, 'written on another machine two hours ago')
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
      await utimes(abandoned, twoHoursAgo, twoHoursAgo)

      assert.equal(await store.sweepTemp(), 2)
      assert.deepEqual(
        (await readdir(tmp)).sort(),
        [`${host}~${process.ppid}~ab.part`, `other-host~${process.ppid}~ef.part`].sort(),
      )
    })

    it('works without open(), creating the temporary directory when needed', async () => {
      const directory = freshDirectory()
      const store = new FsBlobStore({ directory })
      assert.equal(await store.sweepTemp(), 0)
      const staged = await store.stage(chunksOf(Buffer.from('x'), 1), { maxBytes: 1 })
      await staged.commit('x')
      assert.deepEqual(await listing(directory), { visible: ['x'], temp: [] })
    })
  })

  describe('open and remove', () => {
    it('rejects with ERR_FILE_NOT_FOUND for a missing name', async () => {
      const { store } = await openStore()
      await assert.rejects(store.open('missing.png'), (err) => isAppError(err, 'ERR_FILE_NOT_FOUND'))
    })

    it('publishes into one folder below the store, creating it', async () => {
      const { directory, store } = await openStore()
      const staged = await store.stage(chunksOf(Buffer.from('in a folder'), 4), { maxBytes: 100 })
      await staged.commit('session_ab12/file_1_1700000000000.txt')
      assert.equal(
        (await buffer(await store.open('session_ab12/file_1_1700000000000.txt'))).toString(),
        'in a folder',
      )
      assert.deepEqual(await readdir(join(directory, 'session_ab12')), ['file_1_1700000000000.txt'])
    })

    it('refuses path-like names', async () => {
      const { store } = await openStore()
      for (const name of ['../../etc/passwd', '.tmp', 'a/b/c', '.tmp/x']) {
        await assert.rejects(store.open(name), TypeError)
        await assert.rejects(store.remove(name), TypeError)
      }
    })

    it('removes a blob, and a missing name is not an error', async () => {
      const { directory, store } = await openStore()
      const staged = await store.stage(chunksOf(Buffer.from('bye'), 1), { maxBytes: 10 })
      await staged.commit('bye.txt')
      await store.remove('bye.txt')
      await store.remove('bye.txt')
      assert.deepEqual(await listing(directory), { visible: [], temp: [] })
      await assert.rejects(store.open('bye.txt'), { code: 'ERR_FILE_NOT_FOUND' })
    })
  })
})
