import type { Readable } from 'node:stream'

/** Bytes written to a temporary file, verified, and not yet visible under any name. */
export interface StagedBlob {
  readonly size: number
  /** Lower-case hex sha256 of the bytes. */
  readonly sha256: string
  /** The first bytes (up to 4 KiB), for content sniffing. */
  readonly head: Buffer
  /** Atomically publishes the bytes under `name` (rename, then fsync of the directory). */
  commit(name: string): Promise<void>
  /** Removes the temporary file. Safe to call more than once, and after commit (then it does nothing). */
  discard(): Promise<void>
}

/** Where file bytes live. Names are server-generated: a file name, optionally in one folder (`a/b.txt`). */
export interface BlobStore {
  /**
   * Streams `source` to a temporary file while hashing it. Rejects with `AppError('ERR_FILE_TOO_LARGE')`
   * as soon as more than `maxBytes` arrive, leaving nothing behind.
   */
  stage(source: AsyncIterable<Uint8Array>, options: { maxBytes: number }): Promise<StagedBlob>
  /** A stream of the bytes stored under `name`; rejects with `AppError('ERR_FILE_NOT_FOUND')`. */
  open(name: string): Promise<Readable>
  /** Removes the bytes; a missing name is not an error. */
  remove(name: string): Promise<void>
  /** Removes temporary files left by a crash; returns how many. */
  sweepTemp(): Promise<number>
}
