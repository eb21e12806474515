import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import type { ErrorCode } from '../../src/core/errors.ts'

/** `Authorization: Bearer <token>` as an inject/fetch headers object. */
export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** `Authorization: Basic <base64 user:password>` as an inject/fetch headers object. */
export function basic(username: string, password: string): { authorization: string } {
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` }
}

/** Asserts the status and the one error shape `{"error": {"code", "message"}}`; returns the message. */
export function assertErrorBody(
  status: number,
  body: unknown,
  expectedStatus: number,
  code: ErrorCode,
): string {
  const shown = JSON.stringify(body)
  assert.equal(status, expectedStatus, `expected ${expectedStatus} ${code}, got ${status} ${shown}`)
  assert.ok(typeof body === 'object' && body !== null, `not a JSON object: ${shown}`)
  assert.deepEqual(Object.keys(body), ['error'], shown)
  const { error } = body as { error: { code: unknown; message: unknown } }
  assert.equal(error.code, code, shown)
  assert.equal(typeof error.message, 'string', shown)
  assert.notEqual(error.message, '', shown)
  return error.message as string
}

/** {@link assertErrorBody} for an `app.inject` response. */
export function assertError(res: LightMyRequestResponse, status: number, code: ErrorCode): string {
  return assertErrorBody(res.statusCode, res.json(), status, code)
}

/** {@link assertErrorBody} for a `fetch` response. */
export async function assertFetchError(res: Response, status: number, code: ErrorCode): Promise<string> {
  return assertErrorBody(res.status, await res.json(), status, code)
}

/** Asserts a `fetch` response's status and returns its JSON body as `T`. */
export async function expectJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text()
  assert.equal(res.status, status, `expected ${status}, got ${res.status} ${text}`)
  return JSON.parse(text) as T
}
