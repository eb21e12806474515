// The gateway's HTTPS: a self-signed certificate for localhost, made once with the openssl binary and kept
// in the data directory, so that a browser's "accept this certificate" holds across restarts.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AppError } from '../core/errors.ts'
import type { GatewayLog } from './gateway-log.ts'

/** A key and its certificate, PEM, and where they are. */
export interface TlsCredentials {
  readonly key: string
  readonly cert: string
  readonly keyFile: string
  readonly certFile: string
  /** Made by this call (first run, or the previous one expired). */
  readonly created: boolean
}

/** The HTTPS port when none is configured: 8443, or a free one when the HTTP port is 0 (tests). */
const DEFAULT_HTTPS_PORT = 8443
/** Valid this long: the longest some browsers accept for a certificate. */
const DAYS = 825
const run = promisify(execFile)

/**
 * The HTTPS port from a setting (`GATEWAY_HTTPS_PORT`, `--https-port`): a port number, `off`, or unset.
 * Returns undefined for off. Unset is 8443, or 0 (a free port) when the HTTP port is 0.
 */
export function resolveHttpsPort(value: string | number | undefined, httpPort: number): number | undefined {
  if (value === undefined || value === '') return httpPort === 0 ? 0 : DEFAULT_HTTPS_PORT
  if (value === 'off') return undefined
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new AppError(
      'ERR_CONFIG',
      `GATEWAY_HTTPS_PORT (--https-port) must be a port number from 0 to 65535, or off; got "${value}"`,
    )
  return port
}

/**
 * The certificate in `dir` (`cert.pem`, `key.pem`), made with `openssl` when absent or expired: an EC P-256
 * key, self-signed, for `localhost`, `127.0.0.1` and `::1`. Throws `ERR_CONFIG` when openssl is missing.
 *
 * @example
 * const tls = await ensureSelfSignedCertificate('./data/tls')
 * await startGateway({ port: 8080, https: { port: 8443, key: tls.key, cert: tls.cert }, pools })
 */
export async function ensureSelfSignedCertificate(
  dir: string,
  options: { readonly openssl?: string } = {},
): Promise<TlsCredentials> {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  const existing = await readPair(keyFile, certFile)
  if (existing) return { ...existing, keyFile, certFile, created: false }

  await mkdir(dir, { recursive: true, mode: 0o700 })
  // Written under other names, then renamed: a crash half-way never leaves a key without its certificate.
  const [newKey, newCert] = [`${keyFile}.${process.pid}.tmp`, `${certFile}.${process.pid}.tmp`]
  const openssl = options.openssl ?? 'openssl'
  try {
    // biome-ignore format: one openssl option per line
    await run(openssl, [
      'req', '-x509', '-nodes',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-days', String(DAYS),
      '-subj', '/CN=localhost/O=statelab (self-signed)',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '-keyout', newKey,
      '-out', newCert,
    ], { timeout: 30_000 })
    await rename(newKey, keyFile)
    await rename(newCert, certFile)
  } catch (err) {
    await Promise.all([rm(newKey, { force: true }), rm(newCert, { force: true })])
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    throw new AppError(
      'ERR_CONFIG',
      missing
        ? `no "${openssl}" executable to make the self-signed certificate (Debian: apt-get install openssl)`
        : `openssl could not make the self-signed certificate: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`,
      { cause: err },
    )
  }
  const made = await readPair(keyFile, certFile)
  if (!made) throw new AppError('ERR_CONFIG', `openssl wrote no usable certificate in ${dir}`)
  return { ...made, keyFile, certFile, created: true }
}

/**
 * What the `gateway` and `up` commands serve HTTPS with: the certificate under `<dataDir>/tls`, or
 * undefined (HTTPS off, and a warning that says why) when it cannot be made.
 */
export async function loadGatewayTls(dataDir: string, log: GatewayLog): Promise<TlsCredentials | undefined> {
  try {
    const tls = await ensureSelfSignedCertificate(join(dataDir, 'tls'))
    if (tls.created)
      log.info({ cert: tls.certFile }, 'made a self-signed certificate for the gateway HTTPS port')
    return tls
  } catch (err) {
    log.warn({ err: (err as Error).message }, `HTTPS is off: ${(err as Error).message}`)
    return undefined
  }
}

/** The pair, when both files exist and the certificate has not expired. */
async function readPair(
  keyFile: string,
  certFile: string,
): Promise<{ key: string; cert: string } | undefined> {
  let key: string
  let cert: string
  try {
    ;[key, cert] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')])
  } catch {
    return undefined
  }
  try {
    const x509 = new X509Certificate(cert)
    return Date.parse(x509.validTo) > Date.now() ? { key, cert } : undefined
  } catch {
    return undefined
  }
}
