import { isUtf8 } from 'node:buffer'
import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import multipart from '@fastify/multipart'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../core/errors.ts'
import type { FileRecord } from '../../core/files/file-record.ts'
import { contentDisposition, generateStoredName, sanitizeFilename } from '../../core/files/filenames.ts'
import { detectMimeType } from '../../core/files/mime.ts'
import type { Runtime } from '../../runtime.ts'
import type { AuthenticateHook } from '../app.ts'
import type { Authenticator } from '../authenticator.ts'
import { iso } from './users.ts'

interface JsonUpload {
  filename: string
  content: string
  encoding?: 'base64' | 'utf8'
}

const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/
const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript)|image\/svg\+xml)/

/** Upload, list, download, delete: identical on both APIs, whoever the authenticator says the caller is. */
export function registerFileRoutes(
  app: FastifyInstance,
  runtime: Runtime,
  authenticator: Authenticator,
  authenticate: AuthenticateHook,
): void {
  const { maxFileSize } = runtime.config
  const describe = (file: FileRecord) => ({
    file_id: file.id,
    url: `/api/files/${file.id}`,
    filename: file.filename,
    mime_type: file.mimeType,
    size: file.size,
    sha256: file.sha256,
    created_at: iso(file.createdAt),
  })

  /** Streams bytes to a staged blob, names it from its content, then publishes bytes before metadata. */
  async function store(
    ownerId: string,
    filename: unknown,
    source: AsyncIterable<Uint8Array>,
  ): Promise<FileRecord> {
    const staged = await runtime.blobs.stage(source, { maxBytes: maxFileSize })
    try {
      if (staged.size === 0) throw new AppError('ERR_FILE_INVALID', 'The file is empty')
      const name = sanitizeFilename(filename)
      const mimeType = detectMimeType(staged.head, name)
      const record: FileRecord = {
        id: randomUUID(),
        ownerId,
        filename: name,
        storedName: generateStoredName(mimeType),
        mimeType,
        size: staged.size,
        sha256: staged.sha256,
        createdAt: runtime.clock.now(),
      }
      await staged.commit(record.storedName)
      try {
        await runtime.data.files.insert(record)
      } catch (err) {
        await runtime.blobs.remove(record.storedName)
        throw err
      }
      return record
    } finally {
      await staged.discard()
    }
  }

  // Multipart in a context of its own, around the one route that takes it: its parser and its per-request
  // clean-up hook (an async onResponse) then cost the other routes nothing.
  app.register(async (uploads) => {
    await uploads.register(multipart, {
      limits: { files: 1, fields: 10, parts: 12, fileSize: maxFileSize + 1 },
    })
    uploads.post(
      '/api/upload',
      {
        preHandler: authenticate,
        // A JSON upload carries the file base64-encoded: a third larger than the file, plus the envelope.
        bodyLimit: Math.ceil((maxFileSize * 4) / 3) + 64 * 1024,
        schema: {
          tags: ['files'],
          summary: 'Upload a file: multipart field "file", or JSON {filename, content, encoding}',
          consumes: ['multipart/form-data', 'application/json'],
        },
      },
      async (request, reply) => {
        const owner = request.principal.userId
        let file: FileRecord
        if (request.isMultipart()) {
          const part = await request.file()
          if (part?.fieldname !== 'file') {
            throw new AppError('ERR_FILE_INVALID', 'Send the file in a multipart field named "file"')
          }
          file = await store(owner, part.filename, part.file)
        } else {
          file = await store(owner, ...decodeJsonUpload(request.body, maxFileSize))
        }
        await authenticator.rememberUpload(request.principal, file)
        return reply.code(201).header('location', `/api/files/${file.id}`).send(describe(file))
      },
    )
  })

  app.get(
    '/api/files',
    { preHandler: authenticate, schema: { tags: ['files'], summary: 'List my files' } },
    async (request) => {
      const files = await runtime.data.files.listByOwner(request.principal.userId)
      return { files: files.map(describe) }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/api/files/:id',
    {
      preHandler: authenticate,
      schema: {
        tags: ['files'],
        summary: 'Download a file: raw bytes, or JSON {file_id, content, ...} with Accept: application/json',
      },
    },
    async (request, reply) => {
      const file = await findMine(request)
      if (wantsJson(request)) {
        const bytes = await readAll(await runtime.blobs.open(file.storedName))
        const encoding = TEXT_TYPES.test(file.mimeType) && isUtf8(bytes) ? 'utf8' : 'base64'
        return { ...describe(file), encoding, content: bytes.toString(encoding) }
      }
      return sendBytes(reply, file, await runtime.blobs.open(file.storedName))
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/files/:id',
    { preHandler: authenticate, schema: { tags: ['files'], summary: 'Delete a file' } },
    async (request) => {
      const file = await runtime.data.files.deleteForOwner(
        checkId(request.params.id),
        request.principal.userId,
      )
      if (!file) throw notFound()
      await runtime.blobs.remove(file.storedName)
      return { message: 'File deleted', file_id: file.id }
    },
  )

  async function findMine(request: FastifyRequest<{ Params: { id: string } }>): Promise<FileRecord> {
    const file = await runtime.data.files.findForOwner(checkId(request.params.id), request.principal.userId)
    if (!file) throw notFound()
    return file
  }
}

function sendBytes(reply: FastifyReply, file: FileRecord, stream: NodeJS.ReadableStream): FastifyReply {
  return reply
    .header('content-type', file.mimeType)
    .header('content-length', String(file.size))
    .header('content-disposition', contentDisposition(file.filename, 'attachment'))
    .header('x-content-type-options', 'nosniff')
    .header('etag', `"${file.sha256}"`)
    .send(stream)
}

/** Validates the seed's JSON upload and returns what `store` needs. */
function decodeJsonUpload(body: unknown, maxFileSize: number): [unknown, AsyncIterable<Uint8Array>] {
  if (typeof body !== 'object' || body === null) {
    throw new AppError(
      'ERR_FILE_INVALID',
      'Send multipart/form-data with a "file" field, or JSON {"filename", "content", "encoding": "base64"|"utf8"}',
    )
  }
  const { filename, content, encoding = 'utf8' } = body as Partial<JsonUpload>
  if (typeof filename !== 'string' || filename === '')
    throw new AppError('ERR_FILE_INVALID', '"filename" must be a non-empty string')
  if (typeof content !== 'string') throw new AppError('ERR_FILE_INVALID', '"content" must be a string')
  if (encoding !== 'base64' && encoding !== 'utf8') {
    throw new AppError('ERR_FILE_INVALID', '"encoding" must be "base64" or "utf8"')
  }
  if (encoding === 'base64' && !BASE64.test(content))
    throw new AppError('ERR_FILE_INVALID', '"content" is not valid base64')
  const bytes = Buffer.from(content, encoding)
  if (bytes.length > maxFileSize)
    throw new AppError('ERR_FILE_TOO_LARGE', `The file is larger than ${maxFileSize} bytes`)
  return [filename, Readable.from([bytes])]
}

function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? ''
  return accept.split(',').some((type) => type.trim().startsWith('application/json'))
}

function checkId(id: string): string {
  if (!FILE_ID.test(id)) throw notFound()
  return id
}

/** Another user's file and a file that never existed look the same: 404, never 403. */
function notFound(): AppError {
  return new AppError('ERR_FILE_NOT_FOUND', 'No such file')
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}
