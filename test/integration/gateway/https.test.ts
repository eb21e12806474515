// The gateway over TLS: a self-signed certificate made once with openssl and kept, the same routes on the
// HTTPS port as on the HTTP one, and the CLI serving both.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { TLSSocket } from 'node:tls'
import { isAppError } from '../../../src/core/errors.ts'
import {
  ensureSelfSignedCertificate,
  type Gateway,
  resolveHttpsPort,
  startGateway,
  type TlsCredentials,
} from '../../../src/gateway/index.ts'
import { type Echo, TestBackend } from './backends.ts'

const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'statelab.mjs')

/** GET over a real TLS socket that trusts only `ca` (curl --cacert); `servername`: the name checked, not the URL's. */
function httpsGet(url: string, ca: string, servername?: string) {
  return new Promise<{ status: number; body: string; protocol: string | null }>((resolve, reject) => {
    const req = request(url, { ca, agent: false, ...(servername && { servername }) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () =>
        resolve({ status: res.statusCode!, body, protocol: (res.socket as TLSSocket).getProtocol() }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

describe('gateway HTTPS', () => {
  const backend = new TestBackend('stateful-1')
  let dir = ''
  let tls: TlsCredentials
  let gateway: Gateway | undefined

  after(async () => {
    await gateway?.close()
    await backend.kill()
    await rm(dir, { recursive: true, force: true })
  })
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'statelab-tls-'))
    await backend.listen()
    tls = await ensureSelfSignedCertificate(join(dir, 'tls'))
    gateway = await startGateway({
      port: 0,
      https: { port: 0, key: tls.key, cert: tls.cert },
      pools: { stateful: { prefix: '/api/stateful', backends: [backend.url], policy: 'sticky' } },
      healthCheck: false,
    })
  })

  it('makes the certificate once, keeps the key private, and reuses it', async () => {
    assert.equal(tls.created, true)
    assert.equal((await stat(tls.keyFile)).mode & 0o077, 0, 'the key is readable by others')
    const again = await ensureSelfSignedCertificate(join(dir, 'tls'))
    assert.equal(again.created, false)
    assert.equal(again.cert, tls.cert)
  })

  it('serves the same routes over TLS, for localhost and 127.0.0.1, and says https to the backend', async () => {
    assert.match(gateway!.httpsUrl!, /^https:\/\/127\.0\.0\.1:\d+$/)
    for (const name of ['localhost', undefined]) {
      const reply = await httpsGet(`${gateway!.httpsUrl}/api/stateful/api/files`, tls.cert, name)
      assert.equal(reply.status, 200)
      assert.match(String(reply.protocol), /^TLSv1\.[23]$/)
      const echo = JSON.parse(reply.body) as Echo
      assert.equal(echo.url, '/api/files')
      assert.equal(echo.headers['x-forwarded-proto'], 'https')
    }
    const plain = (await (await fetch(`${gateway!.url}/api/stateful/api/files`)).json()) as Echo
    assert.equal(plain.headers['x-forwarded-proto'], 'http')
  })

  it('is refused by a client that does not trust the certificate', async () => {
    await assert.rejects(
      httpsGet(`${gateway!.httpsUrl}/api/stateful/health`, ''),
      /self[- ]signed|certificate/i,
    )
  })

  it('reports a missing openssl as ERR_CONFIG naming the package', async () => {
    await assert.rejects(
      ensureSelfSignedCertificate(join(dir, 'other'), { openssl: 'statelab-no-such-openssl' }),
      (err) => isAppError(err, 'ERR_CONFIG') && /apt-get install openssl/.test(err.message),
    )
  })

  it('reads the port setting: a number, off, or by default 8443 (a free port beside HTTP port 0)', () => {
    assert.equal(resolveHttpsPort(undefined, 8080), 8443)
    assert.equal(resolveHttpsPort(undefined, 0), 0)
    assert.equal(resolveHttpsPort('9443', 8080), 9443)
    assert.equal(resolveHttpsPort('off', 8080), undefined)
    assert.throws(
      () => resolveHttpsPort('https', 8080),
      (err) => isAppError(err, 'ERR_CONFIG'),
    )
  })
})

describe('statelab gateway serves HTTP and HTTPS', () => {
  const backend = new TestBackend('stateless-1')
  let dir = ''
  let child: ChildProcess | undefined

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    await backend.kill()
    await rm(dir, { recursive: true, force: true })
  })

  it('prints both addresses; the certificate is under the data directory', async () => {
    dir = await mkdtemp(join(tmpdir(), 'statelab-tls-cli-'))
    await backend.listen()
    child = spawn(process.execPath, [bin, 'gateway', '--port', '0', '--stateless', backend.url], {
      env: { ...process.env, LOG_LEVEL: 'warn', STATELAB_DATA_DIR: dir, GATEWAY_HTTPS_PORT: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let banner = ''
    child.stdout!.setEncoding('utf8')
    for await (const chunk of child.stdout!) {
      banner += chunk
      if (banner.includes('Stop with Ctrl+C.')) break
    }
    const url = /https: (https:\S+) \(self-signed certificate (\S+)\)/.exec(banner)
    assert.ok(url, banner)
    assert.equal(url[2], join(dir, 'tls', 'cert.pem'))
    const { cert } = await ensureSelfSignedCertificate(join(dir, 'tls'))
    const reply = await httpsGet(`${url[1]}/api/stateless/api/files`, cert)
    assert.equal(reply.status, 200)
    assert.equal((JSON.parse(reply.body) as Echo).name, 'stateless-1')
  })
})
