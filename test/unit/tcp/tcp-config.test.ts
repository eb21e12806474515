import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadTcpConfig } from '../../../src/tcp/tcp-config.ts'

const dir = mkdtempSync(join(tmpdir(), 'statelab-tcp-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
function yamlFile(text: string): string {
  const file = join(dir, `config-${++files}.yaml`)
  writeFileSync(file, text)
  return file
}

describe('loadTcpConfig', () => {
  it("has the seed's defaults", () => {
    const config = loadTcpConfig()
    assert.equal(config.port, 65_432)
    assert.equal(config.adminPort, 65_433)
    assert.equal(config.mode, 'dual')
    assert.equal(config.sessionTimeout, 300)
    assert.equal(config.maxRequestSize, 10 * 2 ** 20)
    assert.equal(config.persistence, 'memory')
    assert.equal(config.naming, 'session_aware')
    assert.equal(config.hmacKey, undefined)
    assert.equal(config.storagePath, resolve('./data/tcp'))
    assert.ok(Object.isFrozen(config))
  })

  it("reads the seed's YAML file, then lets flags override it", () => {
    const file = yamlFile(`
server:
  host: "127.0.0.1"
  port: 7000
  mode: "stateful"
  max_connections: 3
stateful:
  session_timeout: 60
  max_sessions: 5
  persistence: "sqlite"
stateless:
  request_timeout: 0.5
  max_request_size: 1024
storage:
  path: "${dir}/files"
  naming: "simple"
security:
  hmac_key: "0123456789abcdef0123"
  bind_to_ip: true
  connect_rate: 4
admin:
  port: 7001
`)
    const config = loadTcpConfig({ file, overrides: { port: '7002', mode: 'dual' } })
    assert.deepEqual(
      { ...config },
      {
        host: '127.0.0.1',
        port: 7002,
        mode: 'dual',
        maxConnections: 3,
        sessionTimeout: 60,
        maxSessions: 5,
        persistence: 'sqlite',
        requestTimeout: 0.5,
        maxRequestSize: 1024,
        storagePath: join(dir, 'files'),
        naming: 'simple',
        hmacKey: '0123456789abcdef0123',
        bindToIp: true,
        connectRate: 4,
        adminHost: '127.0.0.1',
        adminPort: 7001,
      },
    )
  })

  it('names the bad key, in the file or on the command line', () => {
    const cases: [string, RegExp][] = [
      ['server:\n  port: 70000\n', /server\.port must be an integer from 0 to 65535; got 70000/],
      ['server:\n  mode: sticky\n', /server\.mode must be one of stateless, stateful, dual/],
      ['stateful:\n  session_timeout: -1\n', /stateful\.session_timeout must be a number of seconds/],
      ['stateful:\n  persistence: postgres\n', /stateful\.persistence must be one of memory, sqlite, redis/],
      ['security:\n  bind_to_ip: maybe\n', /security\.bind_to_ip must be true or false/],
      ['server:\n  prot: 1\n', /unknown key "server\.prot"/],
      ['- a list\n', /must be a YAML mapping/],
      ['server: [\n', /cannot read config file/],
    ]
    for (const [text, message] of cases) {
      assert.throws(() => loadTcpConfig({ file: yamlFile(text) }), { code: 'ERR_CONFIG', message }, text)
    }
    assert.throws(() => loadTcpConfig({ overrides: { persistence: 'disk' } }), {
      message: /--store must be one of memory, sqlite, redis/,
    })
    assert.throws(() => loadTcpConfig({ overrides: { maxConnections: '0' } }), {
      message: /--max-connections must be an integer from 1/,
    })
  })

  it('reads the HMAC key from the environment, and never repeats a bad one', () => {
    const env = { STATELAB_TCP_HMAC_KEY: 'environment-key-of-some-length' }
    assert.equal(loadTcpConfig({ env }).hmacKey, env.STATELAB_TCP_HMAC_KEY)
    const file = yamlFile('security:\n  hmac_key: "short-secret"\n')
    assert.throws(
      () => loadTcpConfig({ file }),
      (err: Error) =>
        /security\.hmac_key must be a string of at least 16/.test(err.message) &&
        !err.message.includes('short-secret'),
    )
  })
})
