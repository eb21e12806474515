import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { after, describe, it } from 'node:test'
import { type Config, loadConfig } from '../../src/config.ts'
import { isAppError } from '../../src/core/errors.ts'

const dir = mkdtempSync(join(tmpdir(), 'statelab-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
/** Writes `text` to a fresh YAML file in the temporary directory and returns its path. */
function yamlFile(text: string): string {
  const file = join(dir, `config-${++files}.yaml`)
  writeFileSync(file, text)
  return file
}

/** An ERR_CONFIG whose message contains every one of `parts`. */
function configError(...parts: string[]) {
  return (err: unknown) => isAppError(err, 'ERR_CONFIG') && parts.every((part) => err.message.includes(part))
}

const SECRET = 'a-jwt-secret-that-is-32-bytes-ok'

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    const expected: Config = {
      dataDir: resolve('data'),
      host: '127.0.0.1',
      statelessPort: 3000,
      statefulPort: 3001,
      gatewayPort: 8080,
      gatewayHttpsPort: undefined,
      logLevel: 'info',
      replicaId: undefined,
      jwtAlgorithm: 'HS256',
      jwtSecret: undefined,
      jwtPrivateKeyFile: undefined,
      jwtIssuer: 'statelab',
      jwtAudience: 'statelab-api',
      accessTokenTtl: 900,
      refreshTokenTtl: 7 * 86_400,
      sessionStore: 'memory',
      sessionCookieSecret: undefined,
      dataStore: 'sqlite',
      redisUrl: 'redis://127.0.0.1:6379',
      redisClusterNodes: undefined,
      redisPrefix: 'statelab',
      databaseUrl: undefined,
      databaseSchema: 'public',
      sessionCache: 'off',
      storeTimeoutMs: 1000,
      jwtDenylist: 'off',
      sessionIdleTimeout: 1800,
      sessionAbsoluteTimeout: 8 * 3600,
      sessionTouchAfter: 60,
      maxSessions: 100_000,
      maxFileSize: 10 * 1024 * 1024,
      calcHistoryLimit: 1000,
      maxHeaderSize: 16 * 1024,
      headersTimeout: 10,
      requestTimeout: 120,
      loginFailuresPerAccount: 5,
      loginFailuresPerIp: 20,
      loginWindow: 900,
    }
    const config = loadConfig({ env: {} })
    assert.deepEqual(config, expected)
    assert.ok(Object.isFrozen(config))
  })

  it('reads environment variables, converting integers and ignoring empty values', () => {
    const config = loadConfig({
      env: {
        HOST: '0.0.0.0',
        STATELESS_PORT: '4000',
        STATEFUL_PORT: '',
        LOG_LEVEL: 'debug',
        JWT_ALGORITHM: 'EdDSA',
        JWT_SECRET: SECRET,
        SESSION_IDLE_TIMEOUT: '60',
        MAX_FILE_SIZE: ' 1024 ',
        UNRELATED: 'ignored',
      },
    })
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.statelessPort, 4000)
    assert.equal(config.statefulPort, 3001)
    assert.equal(config.logLevel, 'debug')
    assert.equal(config.jwtAlgorithm, 'EdDSA')
    assert.equal(config.jwtSecret, SECRET)
    assert.equal(config.sessionIdleTimeout, 60)
    assert.equal(config.maxFileSize, 1024)
  })

  it('reads nested keys from a YAML file', () => {
    const file = yamlFile(
      [
        'host: 0.0.0.0',
        'ports:',
        '  stateless: 4100',
        '  stateful: 4101',
        'jwt:',
        '  algorithm: EdDSA',
        '  issuer: yaml-issuer',
        '  access_ttl: 300',
        'session:',
        '  idle_timeout: 600',
        'login:',
        '  failures_per_account: 3',
        'log_level: ~',
      ].join('\n'),
    )
    const config = loadConfig({ env: {}, file })
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.statelessPort, 4100)
    assert.equal(config.statefulPort, 4101)
    assert.equal(config.jwtAlgorithm, 'EdDSA')
    assert.equal(config.jwtIssuer, 'yaml-issuer')
    assert.equal(config.accessTokenTtl, 300)
    assert.equal(config.sessionIdleTimeout, 600)
    assert.equal(config.loginFailuresPerAccount, 3)
    assert.equal(config.logLevel, 'info', 'a null value keeps the default')
    assert.equal(config.jwtAudience, 'statelab-api', 'keys absent from the file keep their defaults')
  })

  it('treats an empty YAML file as no settings', () => {
    assert.deepEqual(loadConfig({ env: {}, file: yamlFile('') }), loadConfig({ env: {} }))
  })

  it('treats a section whose keys are all commented out as empty', () => {
    const file = yamlFile(['jwt:', '  # algorithm: EdDSA', 'session:', '  idle_timeout: 60'].join('\n'))
    assert.equal(loadConfig({ env: {}, file }).sessionIdleTimeout, 60)
  })

  it('layers default < YAML < environment < overrides', () => {
    const file = yamlFile(['host: yaml-host', 'ports:', '  stateless: 4100', '  stateful: 4101'].join('\n'))
    const config = loadConfig({
      file,
      env: { STATELESS_PORT: '4200', STATEFUL_PORT: '4201' },
      overrides: { statefulPort: 4300 },
    })
    assert.equal(config.logLevel, 'info') // default
    assert.equal(config.host, 'yaml-host') // YAML over default
    assert.equal(config.statelessPort, 4200) // environment over YAML
    assert.equal(config.statefulPort, 4300) // override over environment
  })

  it('validates overrides too', () => {
    assert.throws(
      () => loadConfig({ env: {}, overrides: { statelessPort: 70_000 } }),
      configError('--statelessPort'),
    )
  })

  it('resolves dataDir to an absolute path', () => {
    const config = loadConfig({ env: { STATELAB_DATA_DIR: 'var/../state' } })
    assert.ok(isAbsolute(config.dataDir))
    assert.equal(config.dataDir, join(process.cwd(), 'state'))
    const fromYaml = loadConfig({ env: {}, file: yamlFile('data_dir: ./elsewhere') })
    assert.equal(fromYaml.dataDir, join(process.cwd(), 'elsewhere'))
  })
})

describe('loadConfig errors (ERR_CONFIG, naming the key)', () => {
  it('refuses an unknown YAML key, giving its full path', () => {
    const file = yamlFile(['ports:', '  stateles: 4100'].join('\n'))
    assert.throws(() => loadConfig({ env: {}, file }), configError(file, 'ports.stateles'))
    assert.throws(() => loadConfig({ env: {}, file: yamlFile('colour: blue') }), configError('"colour"'))
  })

  it('refuses a port that is not an integer', () => {
    for (const value of ['abc', '3000.5', '3e3', '0x10']) {
      assert.throws(
        () => loadConfig({ env: { STATELESS_PORT: value } }),
        configError('STATELESS_PORT', 'integer'),
        value,
      )
    }
    const file = yamlFile(['ports:', '  stateful: 3000.5'].join('\n'))
    assert.throws(() => loadConfig({ env: {}, file }), configError('ports.stateful', 'integer'))
  })

  it('refuses integers out of range', () => {
    assert.throws(
      () => loadConfig({ env: { STATEFUL_PORT: '65536' } }),
      configError('STATEFUL_PORT', 'from 0 to 65535'),
    )
    assert.throws(() => loadConfig({ env: { STATEFUL_PORT: '-1' } }), configError('STATEFUL_PORT'))
    assert.throws(
      () => loadConfig({ env: { SESSION_IDLE_TIMEOUT: '0' } }),
      configError('SESSION_IDLE_TIMEOUT', 'from 1'),
    )
    assert.throws(
      () => loadConfig({ env: { ACCESS_TOKEN_TTL: '86401' } }),
      configError('ACCESS_TOKEN_TTL', 'to 86400'),
    )
    assert.equal(loadConfig({ env: { STATEFUL_PORT: '0' } }).statefulPort, 0)
  })

  it('refuses a value outside an enumeration, listing the allowed ones', () => {
    assert.throws(
      () => loadConfig({ env: { LOG_LEVEL: 'verbose' } }),
      configError('LOG_LEVEL', 'fatal, error, warn, info, debug, trace, silent', '"verbose"'),
    )
    assert.throws(
      () => loadConfig({ env: { JWT_ALGORITHM: 'RS256' } }),
      configError('JWT_ALGORITHM', 'HS256'),
    )
    assert.throws(
      () => loadConfig({ env: { JWT_ALGORITHM: 'hs256' } }),
      configError('JWT_ALGORITHM'),
      'enumerations are case-sensitive',
    )
    const file = yamlFile(['jwt:', '  algorithm: none'].join('\n'))
    assert.throws(() => loadConfig({ env: {}, file }), configError('jwt.algorithm'))
  })

  it('refuses a JWT secret shorter than 32 bytes, counting UTF-8 bytes', () => {
    assert.throws(
      () => loadConfig({ env: { JWT_SECRET: SECRET.slice(1) } }),
      configError('JWT_SECRET', '32 bytes'),
    )
    assert.equal(loadConfig({ env: { JWT_SECRET: SECRET } }).jwtSecret, SECRET)
    // 16 characters, 32 bytes.
    assert.equal(loadConfig({ env: { JWT_SECRET: 'é'.repeat(16) } }).jwtSecret, 'é'.repeat(16))
  })

  it('refuses an absolute session timeout shorter than the idle one', () => {
    assert.throws(
      () => loadConfig({ env: { SESSION_IDLE_TIMEOUT: '3600', SESSION_ABSOLUTE_TIMEOUT: '1800' } }),
      configError('SESSION_ABSOLUTE_TIMEOUT', 'SESSION_IDLE_TIMEOUT'),
    )
    const equal = loadConfig({ env: { SESSION_IDLE_TIMEOUT: '3600', SESSION_ABSOLUTE_TIMEOUT: '3600' } })
    assert.equal(equal.sessionAbsoluteTimeout, 3600)
  })

  it('refuses store combinations that cannot work, naming the key', () => {
    assert.throws(() => loadConfig({ env: { SESSION_STORE: 'postgres' } }), configError('DATABASE_URL'))
    assert.throws(() => loadConfig({ env: { JWT_DENYLIST: 'postgres' } }), configError('DATABASE_URL'))
    assert.throws(
      () => loadConfig({ env: { SESSION_CACHE: 'on' } }),
      configError('SESSION_CACHE', 'SESSION_STORE=redis'),
    )
    assert.throws(
      () => loadConfig({ env: { DATABASE_SCHEMA: 'x; drop table users' } }),
      configError('DATABASE_SCHEMA'),
    )
    const config = loadConfig({
      env: { SESSION_STORE: 'redis', SESSION_CACHE: 'on', DATABASE_URL: 'postgres://db/x' },
    })
    assert.equal(config.sessionCache, 'on')
  })

  it('refuses a file it cannot read or parse', () => {
    const missing = join(dir, 'missing.yaml')
    assert.throws(() => loadConfig({ env: {}, file: missing }), configError('cannot read', missing))
    assert.throws(() => loadConfig({ env: {}, file: dir }), configError('cannot read', dir))
    const broken = yamlFile('ports: [3000')
    assert.throws(() => loadConfig({ env: {}, file: broken }), configError('cannot read', broken))
  })

  it('refuses YAML that is not a mapping', () => {
    for (const text of ['- host\n- port\n', 'just a string\n', '42\n']) {
      const file = yamlFile(text)
      assert.throws(() => loadConfig({ env: {}, file }), configError(file, 'mapping'), text)
    }
  })
})
