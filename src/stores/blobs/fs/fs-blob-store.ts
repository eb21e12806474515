import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { AppError } from '../../../core/errors.ts'
import type { BlobStore, StagedBlob } from '../blob-store.ts'

const HEAD_BYTES = 4096
/** Temp files are named after their writer, so a restart sweeps only what dead writers left. */
const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_')
const TEMP_OWNER = `${HOST}~${process.pid}`
const TEMP_NAME = /^(.+)~(\d+)~[0-9a-f]+\.part$/
/** A temp file this old is abandoned whoever wrote it (e.g. a writer on another machine sharing the volume). */
const STALE_AFTER_MS = 3600_000
/** A name, optionally in one folder (`session_ab12/file_1.txt`); never `..`, never absolute. */
const BLOB_NAME = /^(?:[A-Za-z0-9][A-Za-z0-9_-]{0,100}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/
const BYTE_UNITS = [
  ['GiB', 2 ** 30],
  ['MiB', 2 ** 20],
  ['KiB', 2 ** 10],
] as const

/**
 * A {@link BlobStore} in a local directory: uploads are written under `.tmp/`, fsynced, then renamed into place.
 *
 * @example
 * const blobs = await FsBlobStore.open('./data/files')
 * const staged = await blobs.stage(upload, { maxBytes: 10 * 2 ** 20 })
 * await staged.commit(generateStoredName(detectMimeType(staged.head, filename)))
 */
export class FsBlobStore implements BlobStore {
  readonly #directory: string
  readonly #tempDirectory: string

  constructor(options: { directory: string }) {
    const directory: unknown = options?.directory
    if (typeof directory !== 'string' || directory === '') {
      throw new TypeError('FsBlobStore options.directory must be a non-empty string')
    }
    this.#directory = resolve(directory)
    this.#tempDirectory = join(this.#directory, '.tmp')
  }

  /** Creates the directory when needed and removes the temporary files a crash left behind. */
  static async open(directory: string): Promise<FsBlobStore> {
    const store = new FsBlobStore({ directory })
    await mkdir(store.#tempDirectory, { recursive: true })
    await store.sweepTemp()
    return store
  }

  async stage(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<StagedBlob> {
    const maxBytes = options?.maxBytes
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new TypeError('FsBlobStore.stage options.maxBytes must be a non-negative integer')
    }
    // Created on every stage, not only in open(), so a store built with `new` or a deleted .tmp still works.
    await mkdir(this.#tempDirectory, { recursive: true })
    const tempPath = join(this.#tempDirectory, `${TEMP_OWNER}~${randomBytes(16).toString('hex')}.part`)
    const hash = createHash('sha256')
    const headChunks: Uint8Array[] = []
    let size = 0

    async function* measure(chunks: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunks) {
        // A string or object chunk has no byteLength and would slip past the size limit.
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError('FsBlobStore.stage source must yield Uint8Array chunks')
        }
        if (size < HEAD_BYTES) headChunks.push(chunk.subarray(0, HEAD_BYTES - size))
        size += chunk.byteLength
        if (size > maxBytes) {
          throw new AppError(
            'ERR_FILE_TOO_LARGE',
            `The file is larger than the ${formatBytes(maxBytes)} limit`,
          )
        }
        hash.update(chunk)
        yield chunk
      }
    }

    // Opened before streaming so that the file exists, and can be removed, whatever fails next.
    const handle = await open(tempPath, 'wx')
    try {
      // `flush` fsyncs the file before closing it, so a committed blob survives a power cut.
      // A 1 MiB buffer lets the next chunks arrive while one is written; at the default 16 KiB, reading and
      // writing take turns and a stream upload reaches about half of a plain socket-to-file pipe.
      await pipeline(source, measure, handle.createWriteStream({ flush: true, highWaterMark: 2 ** 20 }))
    } catch (err) {
      await rm(tempPath, { force: true })
      throw err
    }
    return new FsStagedBlob({
      tempPath,
      directory: this.#directory,
      size,
      sha256: hash.digest('hex'),
      head: Buffer.concat(headChunks),
    })
  }

  async open(name: string): Promise<Readable> {
    assertBlobName(name)
    try {
      // Reading through the handle that proved the file exists leaves no window for it to vanish.
      const handle = await open(join(this.#directory, name), 'r')
      return handle.createReadStream()
    } catch (err) {
      if (hasCode(err, 'ENOENT')) {
        throw new AppError('ERR_FILE_NOT_FOUND', 'The file does not exist', { cause: err })
      }
      throw err
    }
  }

  async remove(name: string): Promise<void> {
    assertBlobName(name)
    await rm(join(this.#directory, name), { force: true })
  }

  /**
   * Removes temporary files whose writer is gone: written by a process of this host that no longer runs, or
   * older than an hour. Uploads still being written by other replicas sharing the directory are kept.
   */
  async sweepTemp(): Promise<number> {
    let entries: string[]
    try {
      entries = await readdir(this.#tempDirectory)
    } catch (err) {
      if (hasCode(err, 'ENOENT')) return 0
      throw err
    }
    const now = Date.now()
    const stale = await Promise.all(entries.map((entry) => this.#isStale(entry, now)))
    const doomed = entries.filter((_, i) => stale[i])
    await Promise.all(
      doomed.map((entry) => rm(join(this.#tempDirectory, entry), { force: true, recursive: true })),
    )
    return doomed.length
  }

  async #isStale(entry: string, now: number): Promise<boolean> {
    const owner = TEMP_NAME.exec(entry)
    if (!owner) return true
    const [, host, pid] = owner
    if (host === HOST && Number(pid) !== process.pid && !isAlive(Number(pid))) return true
    try {
      return now - (await stat(join(this.#tempDirectory, entry))).mtimeMs > STALE_AFTER_MS
    } catch {
      return false
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return hasCode(err, 'EPERM')
  }
}

class FsStagedBlob implements StagedBlob {
  readonly size: number
  readonly sha256: string
  readonly head: Buffer
  readonly #tempPath: string
  readonly #directory: string
  #state: 'staged' | 'committed' | 'discarded' = 'staged'

  constructor(init: { tempPath: string; directory: string; size: number; sha256: string; head: Buffer }) {
    this.#tempPath = init.tempPath
    this.#directory = init.directory
    this.size = init.size
    this.sha256 = init.sha256
    this.head = init.head
  }

  async commit(name: string): Promise<void> {
    assertBlobName(name)
    if (this.#state !== 'staged') throw new Error(`The staged blob was already ${this.#state}`)
    const target = join(this.#directory, name)
    const folder = dirname(target)
    if (folder !== this.#directory) await mkdir(folder, { recursive: true })
    await rename(this.#tempPath, target)
    this.#state = 'committed'
    // The rename lives in the directory entry, which is only durable once the directory itself is synced.
    const directory = await open(folder, 'r')
    try {
      await directory.sync()
    } finally {
      await directory.close()
    }
  }

  async discard(): Promise<void> {
    if (this.#state === 'committed') return
    this.#state = 'discarded'
    await rm(this.#tempPath, { force: true })
  }
}

function assertBlobName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !BLOB_NAME.test(name)) {
    throw new TypeError(
      `FsBlobStore: ${JSON.stringify(name)} is not a blob name (letters, digits, . _ -, in at most one folder)`,
    )
  }
}

/** "10 MiB", "1.5 KiB" or "100-byte", to complete "the ... limit". */
function formatBytes(bytes: number): string {
  for (const [unit, size] of BYTE_UNITS) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(2))} ${unit}`
  }
  return `${bytes}-byte`
}

function hasCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code
}
