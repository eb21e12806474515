// What `statelab bench` measures: statelab's own APIs, one subject per way of remembering the caller, and the
// peers in bench/peers/ that the same question is usually answered with. Each subject starts as a child process,
// hands out a credential, and names the one request the load generator repeats.
import { fileURLToPath } from 'node:url'
import type { Config } from '../../src/config.ts'
import type { ApiChildOptions } from './http-api-child.ts'

/** A request as autocannon repeats it. */
export interface BenchRequest {
  readonly method: 'GET' | 'POST'
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string
}

/** Where a subject runs and what it needs, given by the bench. */
export interface SubjectContext {
  /** A fresh directory of the run's scratch space. */
  readonly dataDir: string
  readonly redisUrl: string
  readonly databaseUrl: string
  /** A Redis key prefix / PostgreSQL schema no other run uses; the bench deletes it afterwards. */
  readonly uniqueName: string
}

/** The credentialed request, and how to tell its answer is right. */
export interface Prepared {
  readonly request: BenchRequest
  /**
   * Credential headers taken in turn, one per request, instead of `request.headers`' own: many users, so that
   * requests that change a session do not all queue on one (its compare-and-swap would make them take turns).
   */
  readonly rotate?: readonly Readonly<Record<string, string>>[]
  /** Why the 200's JSON body is wrong, or undefined when it is right. */
  readonly wrongAnswer: (body: unknown) => string | undefined
}

export interface Subject {
  readonly name: string
  readonly side: 'ours' | 'peer'
  /** One line: what the subject is and which request it answers. */
  readonly description: string
  readonly needs?: 'redis' | 'postgres'
  /** Its packages come from bench/peers/node_modules (installed on demand). */
  readonly needsPeers?: boolean
  /** Said under the table whenever the subject is measured. */
  readonly note?: string
  /** Each request takes long enough that short turns would end before any answer: measured in one turn. */
  readonly slow?: boolean
  /**
   * True when the request must fail with 401 without its credential (checked before measuring); false for
   * the ceiling and the stateless calculator, which ask for none.
   */
  readonly authenticated: boolean
  /** The child's script and its one JSON argument. */
  child(context: SubjectContext): { readonly script: string; readonly arg: unknown }
  /** Registers, logs in, and so on, against the running child at `base` (`http://127.0.0.1:port`). */
  prepare(base: string): Promise<Prepared>
}

const API_CHILD = fileURLToPath(new URL('./http-api-child.ts', import.meta.url))
const peerScript = (file: string) => fileURLToPath(new URL(`../peers/${file}`, import.meta.url))

/** The user every subject of ours registers; argon2id hashes its password like any other. */
const USERNAME = 'bench'
const PASSWORD = 'correct horse battery staple'
const JSON_HEADERS = { 'content-type': 'application/json' }

/** POSTs JSON (or nothing) and returns the parsed reply; throws on any status but `expected`. */
async function call(
  base: string,
  path: string,
  body: unknown,
  expected: number,
  headers: Record<string, string> = {},
): Promise<{ body: unknown; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: body === undefined ? headers : { ...JSON_HEADERS, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await response.text()
  if (response.status !== expected)
    throw new Error(`POST ${path} answered ${response.status} instead of ${expected}: ${text.slice(0, 200)}`)
  return { body: text === '' ? undefined : JSON.parse(text), headers: response.headers }
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined
}

function expectFields(expected: Record<string, unknown>): Prepared['wrongAnswer'] {
  return (body) => {
    for (const [name, value] of Object.entries(expected))
      if (field(body, name) !== value)
        return `"${name}" is ${JSON.stringify(field(body, name))}, not ${JSON.stringify(value)}`
    return undefined
  }
}

const me = (headers: Record<string, string>, via: string): Prepared => ({
  request: { method: 'GET', path: '/api/users/me', headers },
  wrongAnswer: expectFields({ username: USERNAME, via }),
})

const register = (base: string) => call(base, '/api/users', { username: USERNAME, password: PASSWORD }, 201)

/** Config shared by every subject of ours: quiet logs, a fixed secret, the run's scratch directory. */
function apiConfig(context: SubjectContext, config: Partial<Config>): Partial<Config> {
  return {
    dataDir: context.dataDir,
    // Warnings only: the bench measures serving requests, not writing a log line for each to a pipe.
    logLevel: 'warn',
    jwtSecret: `bench-secret-${context.uniqueName}-0123456789abcdef`,
    ...config,
  }
}

function apiChild(api: ApiChildOptions['api'], config: (context: SubjectContext) => Partial<Config>) {
  return (context: SubjectContext) => ({
    script: API_CHILD,
    arg: { api, config: apiConfig(context, config(context)) } satisfies ApiChildOptions,
  })
}

async function startSession(base: string): Promise<Record<string, string>> {
  await register(base)
  return login(base)
}

async function login(base: string): Promise<Record<string, string>> {
  const { body } = await call(base, '/api/session/start', { username: USERNAME, password: PASSWORD }, 201)
  const id = field(body, 'session_id')
  if (typeof id !== 'string') throw new Error('POST /api/session/start gave no session_id')
  return { 'x-session-id': id }
}

/** `count` sessions of one user, logged in a few at a time (each login hashes the password). */
async function startSessions(base: string, count: number): Promise<Record<string, string>[]> {
  await register(base)
  const sessions: Record<string, string>[] = []
  while (sessions.length < count)
    sessions.push(
      ...(await Promise.all(Array.from({ length: Math.min(8, count - sessions.length) }, () => login(base)))),
    )
  return sessions
}

/** Sessions the stateful calculator's requests take in turn: more than the connections in flight. */
const CALC_SESSIONS = 64

function statefulSubject(
  name: string,
  store: string,
  needs: Subject['needs'],
  config: (context: SubjectContext) => Partial<Config>,
): Subject {
  return {
    name,
    side: 'ours',
    description: `stateful API, ${store}: GET /api/users/me with X-Session-ID`,
    needs,
    authenticated: true,
    child: apiChild('stateful', config),
    prepare: async (base) => me(await startSession(base), 'session'),
  }
}

const CALC_BODY = JSON.stringify({ operation: 'add', a: 2, b: 3 })

const OURS: readonly Subject[] = [
  {
    name: 'ours-jwt',
    side: 'ours',
    description: 'stateless API, JWT HS256: GET /api/users/me with a Bearer token',
    authenticated: true,
    child: apiChild('stateless', () => ({})),
    async prepare(base) {
      await register(base)
      const { body } = await call(base, '/api/auth/login', { username: USERNAME, password: PASSWORD }, 200)
      return me({ authorization: `Bearer ${field(body, 'access_token')}` }, 'bearer')
    },
  },
  {
    name: 'ours-basic',
    side: 'ours',
    description: 'stateless API, HTTP Basic: GET /api/users/me with the password',
    note: 'ours-basic hashes the password with argon2id (OWASP parameters, tens of ms) on every request, by design: it is the cost that makes tokens and sessions worth having.',
    slow: true,
    authenticated: true,
    child: apiChild('stateless', () => ({})),
    async prepare(base) {
      await register(base)
      const basic = Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64')
      return me({ authorization: `Basic ${basic}` }, 'basic')
    },
  },
  statefulSubject('ours-memory', 'memory store', undefined, () => ({ sessionStore: 'memory' })),
  statefulSubject('ours-sqlite', 'SQLite store', undefined, () => ({ sessionStore: 'sqlite' })),
  statefulSubject('ours-redis', 'Redis store', 'redis', (c) => ({
    sessionStore: 'redis',
    redisUrl: c.redisUrl,
    redisPrefix: c.uniqueName,
  })),
  statefulSubject('ours-redis-cache', 'Redis store + SESSION_CACHE', 'redis', (c) => ({
    sessionStore: 'redis',
    sessionCache: 'on',
    redisUrl: c.redisUrl,
    redisPrefix: c.uniqueName,
  })),
  statefulSubject('ours-postgres', 'PostgreSQL store', 'postgres', (c) => ({
    sessionStore: 'postgres',
    databaseUrl: c.databaseUrl,
    databaseSchema: c.uniqueName,
  })),
  {
    name: 'ours-calc-stateless',
    side: 'ours',
    description: 'stateless calculator: POST /api/calc {add 2 3}, no credential',
    note: 'ours-calc-stateless asks for no credential: the client sends every number, so there is no one to remember.',
    authenticated: false,
    child: apiChild('stateless', () => ({})),
    prepare: async () => ({
      request: { method: 'POST', path: '/api/calc', headers: JSON_HEADERS, body: CALC_BODY },
      wrongAnswer: expectFields({ result: 5 }),
    }),
  },
  {
    name: 'ours-calc-stateful',
    side: 'ours',
    description: 'stateful calculator, memory store: POST /api/calc {add 2 3}, history kept in the session',
    authenticated: true,
    child: apiChild('stateful', () => ({ sessionStore: 'memory' })),
    async prepare(base) {
      const [first, ...others] = await startSessions(base, CALC_SESSIONS)
      return {
        request: {
          method: 'POST',
          path: '/api/calc',
          headers: { ...JSON_HEADERS, ...first },
          body: CALC_BODY,
        },
        rotate: [first!, ...others],
        wrongAnswer: expectFields({ result: 5 }),
      }
    },
  },
]

/** A peer's credential: `POST /login` answers `{token}` (a JWT or a session id) or sets a cookie. */
async function peerLogin(base: string, as: 'bearer' | 'session' | 'cookie'): Promise<Prepared> {
  const { body, headers } = await call(base, '/login', undefined, 200)
  const token = field(body, 'token')
  let credential: Record<string, string>
  if (as === 'cookie') {
    const cookie = headers.getSetCookie()[0]?.split(';')[0]
    if (!cookie) throw new Error('POST /login set no cookie')
    credential = { cookie }
  } else {
    if (typeof token !== 'string') throw new Error('POST /login gave no token')
    credential = as === 'bearer' ? { authorization: `Bearer ${token}` } : { 'x-session-id': token }
  }
  return {
    request: { method: 'GET', path: '/me', headers: credential },
    wrongAnswer: expectFields({ username: USERNAME }),
  }
}

function rawPeer(
  name: string,
  variant: string,
  description: string,
  as: 'bearer' | 'session',
  extra: Partial<Subject> = {},
): Subject {
  return {
    name,
    side: 'peer',
    description: `node:http + ${description}: GET /me`,
    authenticated: true,
    child: (c) => ({
      script: peerScript('raw.mjs'),
      arg: { variant, redisUrl: c.redisUrl, prefix: c.uniqueName },
    }),
    prepare: (base) => peerLogin(base, as),
    ...extra,
  }
}

const PEERS: readonly Subject[] = [
  rawPeer('raw', 'none', 'nothing (no credential): the ceiling', 'session', {
    description: 'node:http, no authentication: GET /me, the ceiling every ratio divides by',
    authenticated: false,
  }),
  rawPeer('raw-map', 'map', 'a Map of sessions', 'session'),
  rawPeer('raw-redis', 'redis', 'one Redis GET per request', 'session', { needs: 'redis' }),
  rawPeer('raw-fast-jwt', 'fast-jwt', 'fast-jwt HS256 with its verified-token cache', 'bearer'),
  rawPeer('raw-jose', 'jose', 'jose HS256 (WebCrypto)', 'bearer', { needsPeers: true }),
  {
    name: 'fastify',
    side: 'peer',
    description: 'Fastify 5, no authentication: GET /me, what the framework alone costs',
    authenticated: false,
    child: () => ({ script: peerScript('fastify.mjs'), arg: { variant: 'none' } }),
    prepare: (base) => peerLogin(base, 'session'),
  },
  {
    name: 'fastify-jwt',
    side: 'peer',
    description: 'Fastify 5 + @fastify/jwt HS256: GET /me',
    needsPeers: true,
    authenticated: true,
    child: () => ({ script: peerScript('fastify.mjs'), arg: { variant: 'jwt' } }),
    prepare: (base) => peerLogin(base, 'bearer'),
  },
  {
    name: 'express-session',
    side: 'peer',
    description: 'Express 5 + express-session, MemoryStore: GET /me with the cookie',
    needsPeers: true,
    authenticated: true,
    child: () => ({ script: peerScript('express-session.mjs'), arg: { store: 'memory' } }),
    prepare: (base) => peerLogin(base, 'cookie'),
  },
  {
    name: 'express-redis',
    side: 'peer',
    description: 'Express 5 + express-session + connect-redis: GET /me with the cookie',
    needs: 'redis',
    needsPeers: true,
    authenticated: true,
    child: (c) => ({
      script: peerScript('express-session.mjs'),
      arg: { store: 'redis', redisUrl: c.redisUrl, prefix: c.uniqueName },
    }),
    prepare: (base) => peerLogin(base, 'cookie'),
  },
]

/** Every subject, in the order a full run measures them; `raw` (the ceiling) first. */
export const SUBJECTS: readonly Subject[] = [...PEERS.slice(0, 1), ...OURS, ...PEERS.slice(1)]

/** The ceiling every ratio is relative to; always measured. */
export const CEILING = 'raw'
