import type { IncomingHttpHeaders } from 'node:http'
import type { RequestInfo } from './policies/index.ts'

/** What policies see of a request. */
export function requestInfo(ip: string, headers: IncomingHttpHeaders): RequestInfo {
  return { ip, headers, cookies: parseCookies(headers.cookie) }
}

/** `a=1; b=2; a=3` as `{a: [1, 3], b: [2]}`; values stay encoded (policies compare them verbatim). */
export function parseCookies(header: string | undefined): Map<string, string[]> {
  const cookies = new Map<string, string[]>()
  if (!header) return cookies
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0) continue
    const name = pair.slice(0, eq).trim()
    let value = pair.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (!name) continue
    const values = cookies.get(name)
    if (values) values.push(value)
    else cookies.set(name, [value])
  }
  return cookies
}

/**
 * The headers the backend gets: `X-Forwarded-For` gains the client's address (after whatever the client
 * sent, which the backend may or may not trust); `X-Forwarded-Proto`, `-Host` and `-Prefix` (the stripped
 * pool prefix) describe the request as the client made it.
 */
export function forwardedHeaders(
  headers: IncomingHttpHeaders,
  client: { ip: string; proto: 'http' | 'https'; host: string | undefined; prefix: string },
): IncomingHttpHeaders {
  const previous = headers['x-forwarded-for']
  const chain = Array.isArray(previous) ? previous.join(', ') : previous
  const forwarded: IncomingHttpHeaders = {
    ...headers,
    'x-forwarded-for': chain ? `${chain}, ${client.ip}` : client.ip,
    'x-forwarded-proto': client.proto,
    'x-forwarded-prefix': client.prefix || '/',
  }
  if (client.host !== undefined) forwarded['x-forwarded-host'] = client.host
  else delete forwarded['x-forwarded-host']
  return forwarded
}
