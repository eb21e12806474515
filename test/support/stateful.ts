import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'

/** The session cookie's name over plain HTTP. */
export const SESSION_COOKIE = 'statelab_sid'

export interface Credentials {
  readonly username: string
  readonly password: string
}

/** `X-Session-ID: <token>` as an inject/fetch headers object. */
export function withSession(token: string): { 'x-session-id': string } {
  return { 'x-session-id': token }
}

/** POST /api/session/start on the stateful API; returns the session token. */
export async function startSession(
  app: FastifyInstance,
  user: Credentials,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/session/start', headers, payload: user })
  assert.equal(res.statusCode, 201, res.body)
  return res.json().session_id
}

/** POST /api/auth/login on the stateless API; returns the access token. */
export async function logIn(app: FastifyInstance, user: Credentials): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: user })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().access_token
}

/** A JSON upload (the seed's format) through `app.inject`. */
export function uploadJson(
  app: FastifyInstance,
  headers: Record<string, string>,
  upload: { filename: string; content: string; encoding?: string },
) {
  return app.inject({ method: 'POST', url: '/api/upload', headers, payload: upload })
}

/** A `multipart/form-data` body with one file in the field "file", for `app.inject`. */
export function multipart(
  filename: string,
  content: Uint8Array,
): { payload: Buffer; headers: { 'content-type': string } } {
  const boundary = `statelab-${randomUUID()}`
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

/** A multipart upload through `app.inject`. */
export function uploadMultipart(
  app: FastifyInstance,
  headers: Record<string, string>,
  filename: string,
  content: Uint8Array,
) {
  const body = multipart(filename, content)
  return app.inject({
    method: 'POST',
    url: '/api/upload',
    headers: { ...headers, ...body.headers },
    payload: body.payload,
  })
}

/** The ids GET /api/files lists. */
export async function listFileIds(app: FastifyInstance, headers: Record<string, string>): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: '/api/files', headers })
  assert.equal(res.statusCode, 200, res.body)
  return res.json().files.map((file: { file_id: string }) => file.file_id)
}
