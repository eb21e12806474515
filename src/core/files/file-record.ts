/** Metadata of one stored file. The bytes live in a blob store under `storedName`. */
export interface FileRecord {
  readonly id: string
  readonly ownerId: string
  /** The client's name for the file, sanitized: never used as a path. */
  readonly filename: string
  /** Server-generated name of the bytes in the blob store. */
  readonly storedName: string
  readonly mimeType: string
  readonly size: number
  /** Lower-case hex. */
  readonly sha256: string
  readonly createdAt: number
}

/** The port through which file metadata is persisted. */
export interface FileRepository {
  insert(file: FileRecord): Promise<void>
  /** The file when it exists and belongs to `ownerId`; another user's file reads as absent. */
  findForOwner(id: string, ownerId: string): Promise<FileRecord | undefined>
  /** Newest first. */
  listByOwner(ownerId: string): Promise<FileRecord[]>
  /** Deletes the record when it belongs to `ownerId`; returns it, or undefined when there was none. */
  deleteForOwner(id: string, ownerId: string): Promise<FileRecord | undefined>
}
