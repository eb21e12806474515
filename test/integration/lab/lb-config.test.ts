// deploy/haproxy and deploy/nginx are `statelab lab lb-config` output for the defaults, and valid
// configurations for the binaries themselves.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { ensureSelfSignedCertificate } from '../../../src/gateway/index.ts'
import { defaultLbConfig, findLbBinary, type LbName, renderLbConfig } from '../../../src/lab/lb/index.ts'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..', '..', '..')
const bin = join(root, 'bin', 'statelab.mjs')
const DEPLOYED: { readonly [L in LbName]: string } = {
  haproxy: 'deploy/haproxy/haproxy.cfg',
  nginx: 'deploy/nginx/nginx.conf',
}

/** The binary, or the reason a check that needs it is skipped. */
function binary(lb: LbName): { path?: string; skip: string | false } {
  try {
    return { path: findLbBinary(lb), skip: false }
  } catch (err) {
    return { skip: (err as Error).message }
  }
}

describe('statelab lab lb-config', () => {
  const dirs: string[] = []
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))))

  for (const lb of ['haproxy', 'nginx'] as const) {
    it(`${DEPLOYED[lb]} is the command's output for the defaults (regenerate it: --out ${DEPLOYED[lb]})`, async () => {
      const { stdout } = await run(process.execPath, [bin, 'lab', 'lb-config', '--lb', lb])
      assert.equal(await readFile(join(root, DEPLOYED[lb]), 'utf8'), stdout)
    })
  }

  it('haproxy -c accepts deploy/haproxy/haproxy.cfg', { skip: binary('haproxy').skip }, async () => {
    await run(binary('haproxy').path!, ['-c', '-f', join(root, DEPLOYED.haproxy)])
  })

  it('nginx -t accepts every policy, with TLS on a generated certificate', {
    skip: binary('nginx').skip,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'statelab-lb-config-'))
    dirs.push(dir)
    // nginx opens <prefix>/logs/error.log before it reads the configuration.
    await mkdir(join(dir, 'logs'))
    const tls = await ensureSelfSignedCertificate(join(dir, 'tls'))
    const defaults = defaultLbConfig()
    for (const policy of ['round-robin', 'least-connections', 'ip-hash', 'sticky'] as const) {
      const file = join(dir, `${policy}.conf`)
      await writeFile(
        file,
        renderLbConfig('nginx', {
          ...defaults,
          listen: { host: '127.0.0.1', port: 8080 },
          https: { port: 8443, certificate: tls.certFile, key: tls.keyFile },
          pools: defaults.pools.map((pool) => ({ ...pool, policy })),
          runtime: { dir, slots: 0 },
        }),
      )
      await run(binary('nginx').path!, ['-t', '-p', dir, '-c', file])
    }
  })

  it('writes --out, and refuses a server that is not host:port, naming the flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'statelab-lb-config-'))
    dirs.push(dir)
    const out = join(dir, 'haproxy.cfg')
    const args = ['lab', 'lb-config', '--lb', 'haproxy', '--stateful', '10.0.0.5:3001,10.0.0.6:3001']
    await run(process.execPath, [bin, ...args, '--policy', 'least-connections', '--out', out])
    const text = await readFile(out, 'utf8')
    assert.match(
      text,
      /balance leastconn\n[\s\S]*server s1 10\.0\.0\.5:3001\n {4}server s2 10\.0\.0\.6:3001\n/,
    )
    await assert.rejects(
      run(process.execPath, [bin, 'lab', 'lb-config', '--lb', 'nginx', '--stateful', 'nope']),
      (err) => {
        const { stderr, code } = err as { stderr: string; code: number }
        assert.equal(code, 1)
        assert.match(stderr, /--stateful: "nope" is not host:port/)
        return true
      },
    )
  })
})
