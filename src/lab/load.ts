// Virtual users: each logs in once through the gateway, then repeats one cheap authenticated read. Every
// request is recorded (status, error code, latency, which replica answered), so an experiment can say who
// the servers forgot, what else failed, and where the load went. A forgotten user never logs in again:
// the lab measures loss, it does not hide it.
import { randomBytes } from 'node:crypto'
import { AppError } from '../core/errors.ts'
import { GATEWAY_PREFIX, type RequestShape, type Strategy } from './strategies.ts'

/** A registered user a virtual user logs in as. */
export interface Account {
  readonly username: string
  readonly password: string
}

/**
 * How a request ended: `ok` (2xx), `forgot` (401 with one of the strategy's "I do not know you" codes), or
 * `failed` (anything else: a 502/503 while a replica dies, a reset connection, a timeout).
 */
export type Outcome = 'ok' | 'forgot' | 'failed'

/** One request of one virtual user. Times are ms since the run's `startedAt`. */
export interface RequestRecord {
  readonly user: number
  /** The user's request number within the run, from 0. */
  readonly seq: number
  readonly start: number
  readonly end: number
  /** 0 when no HTTP reply came back. */
  readonly status: number
  /** The reply's `error.code`, or the transport error's code (`ECONNRESET`, `ERR_TIMEOUT`). */
  readonly code: string | undefined
  /** `X-Served-By` of the reply: the replica that answered. */
  readonly servedBy: string | undefined
  readonly outcome: Outcome
}

/** A virtual user after its one login. */
export interface LoggedInUser {
  readonly index: number
  readonly username: string
  /** The replica that answered the login (for sticky balancing: the one the user is pinned to). */
  readonly loginServedBy: string | undefined
  /** Why the login failed, when it did; such a user makes no requests. */
  readonly loginError: string | undefined
}

/** Something to do once `afterRequests` requests of the run have completed, while the users keep going. */
export interface Interruption {
  readonly afterRequests: number
  readonly action: () => Promise<void>
  /**
   * Users who made their requests before the action finished keep requesting until it has, and every user
   * makes at least one request that starts after it (a rolling restart is watched to its end).
   */
  readonly holdUsers?: boolean
}

/** What one run of `requestsPerUser` requests per user produced. */
export interface LoadRun {
  readonly records: readonly RequestRecord[]
  readonly durationMs: number
  /** When the interruption's action was called, in ms since the run began. */
  readonly interruptedAt: number | undefined
  /** When the interruption's action finished (or failed), in ms since the run began. */
  readonly interruptionEndedAt: number | undefined
}

export interface VirtualUsersOptions {
  readonly strategy: Strategy
  /** The gateway, e.g. `http://127.0.0.1:41234`. */
  readonly baseUrl: string
  /** One account per virtual user. */
  readonly accounts: readonly Account[]
  /** Requests (and logins) in flight at once, over all users. */
  readonly concurrency: number
  /** Per request; a request that takes longer is recorded as failed with `ERR_TIMEOUT`. */
  readonly timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 10_000
const REGISTER: RequestShape = { method: 'POST', path: '/api/users' }

/** A counting semaphore, first come first served, so that users advance at about the same pace. */
class Slots {
  #free: number
  readonly #waiting: (() => void)[] = []

  constructor(count: number) {
    this.#free = count
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--
    else await new Promise<void>((resolve) => this.#waiting.push(resolve))
    try {
      return await work()
    } finally {
      const next = this.#waiting.shift()
      if (next) next()
      else this.#free++
    }
  }
}

interface Reply {
  readonly status: number
  readonly code: string | undefined
  readonly servedBy: string | undefined
  readonly body: unknown
}

/** One client: its cookies (a browser's jar: the balancer's affinity cookie lives here) and its headers. */
class Client {
  readonly #baseUrl: string
  readonly #timeoutMs: number
  readonly #cookies = new Map<string, string>()

  constructor(baseUrl: string, timeoutMs: number) {
    this.#baseUrl = baseUrl
    this.#timeoutMs = timeoutMs
  }

  async send(
    shape: Pick<RequestShape, 'method'>,
    path: string,
    headers: Record<string, string>,
    json?: unknown,
    wantBody = false,
  ): Promise<Reply> {
    const sent: Record<string, string> = { ...headers }
    const cookie = this.cookieHeader()
    if (cookie !== undefined) sent.cookie = cookie
    if (json !== undefined) sent['content-type'] = 'application/json'
    let response: Response
    try {
      response = await fetch(`${this.#baseUrl}${path}`, {
        method: shape.method,
        headers: sent,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'manual',
      })
    } catch (err) {
      return { status: 0, code: transportCode(err), servedBy: undefined, body: undefined }
    }
    this.#remember(response.headers.getSetCookie())
    const servedBy = response.headers.get('x-served-by') ?? undefined
    let text: string
    try {
      text = await response.text()
    } catch (err) {
      return { status: 0, code: transportCode(err), servedBy, body: undefined }
    }
    const ok = response.status >= 200 && response.status < 300
    // A successful read's body is not needed: parsing it would only measure JSON.parse.
    const body = !ok || wantBody ? parseJson(text) : undefined
    const code = ok ? undefined : errorCodeOf(body)
    return { status: response.status, code, servedBy, body }
  }

  /** The `Cookie` header this client sends now, or undefined without cookies. */
  cookieHeader(): string | undefined {
    if (this.#cookies.size === 0) return undefined
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  #remember(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';')
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const expired = attributes.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a))
      if (value === '' || expired) this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function errorCodeOf(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code
  return typeof code === 'string' ? code : undefined
}

function transportCode(err: unknown): string {
  const error = err as { name?: string; code?: unknown; cause?: { code?: unknown } }
  if (error.name === 'TimeoutError') return 'ERR_TIMEOUT'
  const code = error.cause?.code ?? error.code
  return typeof code === 'string' ? code : 'ERR_NETWORK'
}

/** The strategy's path for `shape`, behind the gateway prefix of its API. */
function gatewayPath(strategy: Strategy, shape: RequestShape): string {
  return `${GATEWAY_PREFIX[strategy.api]}${shape.path}`
}

/**
 * Registers `count` fresh accounts with `POST url` (`<replica or gateway>/api/users`; both APIs share the
 * users), `concurrency` at a time. Each costs the server an argon2id hash, so the lab registers once and
 * reuses the accounts.
 */
export async function registerAccounts(options: {
  readonly url: string
  readonly count: number
  readonly concurrency: number
}): Promise<Account[]> {
  const run = randomBytes(4).toString('hex')
  const accounts = Array.from({ length: options.count }, (_, i) => ({
    username: `lab-${run}-${String(i).padStart(4, '0')}`,
    password: randomBytes(18).toString('base64url'),
  }))
  const { origin, pathname } = new URL(options.url)
  const client = new Client(origin, 30_000)
  const slots = new Slots(options.concurrency)
  await Promise.all(
    accounts.map((account) =>
      slots.run(async () => {
        const reply = await client.send(REGISTER, pathname, {}, account)
        if (reply.status !== 201)
          throw new AppError(
            'ERR_INTERNAL',
            `registering ${account.username} with POST ${options.url} answered ${reply.status} ${reply.code ?? ''}`.trim(),
          )
      }),
    ),
  )
  return accounts
}

/**
 * A crowd of virtual users of one strategy: `logIn` once, then `run` as many rounds of requests as an
 * experiment needs.
 *
 * @example
 * const users = await VirtualUsers.logIn({ strategy, baseUrl: gateway.url, accounts, concurrency: 8 })
 * const run = await users.run(20)
 */
export class VirtualUsers {
  readonly strategy: Strategy
  readonly users: readonly LoggedInUser[]
  readonly #options: VirtualUsersOptions
  readonly #clients: readonly Client[]
  readonly #credentials: readonly (Record<string, string> | undefined)[]
  readonly #seq: number[]

  private constructor(
    options: VirtualUsersOptions,
    users: LoggedInUser[],
    clients: Client[],
    credentials: (Record<string, string> | undefined)[],
  ) {
    this.strategy = options.strategy
    this.#options = options
    this.users = users
    this.#clients = clients
    this.#credentials = credentials
    this.#seq = users.map(() => 0)
  }

  /** Every account logs in once, `concurrency` at a time. A failed login is recorded, not thrown. */
  static async logIn(options: VirtualUsersOptions): Promise<VirtualUsers> {
    const { strategy, accounts } = options
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
      throw new TypeError('VirtualUsers options.concurrency must be a positive integer')
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const clients = accounts.map(() => new Client(options.baseUrl, timeoutMs))
    const credentials: (Record<string, string> | undefined)[] = accounts.map(() => undefined)
    const slots = new Slots(options.concurrency)
    const path = gatewayPath(strategy, strategy.login)
    const users = await Promise.all(
      accounts.map((account, index) =>
        slots.run(async (): Promise<LoggedInUser> => {
          const reply = await clients[index]!.send(strategy.login, path, {}, account, true)
          let loginError: string | undefined
          if (reply.status >= 200 && reply.status < 300) {
            try {
              credentials[index] = strategy.credentialFrom(reply.body)
            } catch (err) {
              loginError = (err as Error).message
            }
          } else loginError = `${reply.status} ${reply.code ?? ''}`.trim()
          return { index, username: account.username, loginServedBy: reply.servedBy, loginError }
        }),
      ),
    )
    return new VirtualUsers(options, users, clients, credentials)
  }

  /**
   * What user `index` sends to prove who it is, as headers: its credential and its cookies (the balancer's
   * affinity cookie among them). A copy someone could replay; undefined when its login failed.
   */
  identityOf(index: number): Record<string, string> | undefined {
    const credential = this.#credentials[index]
    if (!credential) return undefined
    const cookie = this.#clients[index]!.cookieHeader()
    return cookie === undefined ? { ...credential } : { ...credential, cookie }
  }

  /** One request of user `index` through the gateway with its credential and cookies (a logout); not recorded. */
  async send(
    index: number,
    shape: RequestShape,
  ): Promise<{
    readonly status: number
    readonly code: string | undefined
    readonly servedBy: string | undefined
  }> {
    const credential = this.#credentials[index]
    if (!credential) throw new TypeError(`virtual user ${index} is not logged in`)
    const { status, code, servedBy } = await this.#clients[index]!.send(
      shape,
      gatewayPath(this.strategy, shape),
      credential,
    )
    return { status, code, servedBy }
  }

  /**
   * Each logged-in user makes `requestsPerUser` reads, one after another; at most `concurrency` are in
   * flight over all users. `interruption` runs once the given number of requests has completed, without
   * pausing anyone. `onProgress` is told the number of completed requests.
   */
  async run(
    requestsPerUser: number,
    options: { readonly interruption?: Interruption; readonly onProgress?: (done: number) => void } = {},
  ): Promise<LoadRun> {
    const { strategy } = this
    const path = gatewayPath(strategy, strategy.read)
    const slots = new Slots(this.#options.concurrency)
    const records: RequestRecord[] = []
    const startedAt = performance.now()
    const since = () => performance.now() - startedAt
    const { interruption, onProgress } = options
    let interruptedAt: number | undefined
    let pending: Promise<void> | undefined
    let interruptionFailed: { readonly error: unknown } | undefined
    let interruptionEndedAt: number | undefined
    let actionFinished = false

    const userLoop = async (user: number) => {
      const credential = this.#credentials[user]
      if (!credential) return
      const client = this.#clients[user]!
      let sawFinished = false
      for (let i = 0; i < requestsPerUser || (interruption?.holdUsers && !sawFinished); i++) {
        // Read before the request starts: one that starts later is surely after the action.
        sawFinished = actionFinished
        await slots.run(async () => {
          const start = since()
          const reply = await client.send(strategy.read, path, credential)
          const end = since()
          records.push({
            user,
            seq: this.#seq[user]!++,
            start,
            end,
            status: reply.status,
            code: reply.code,
            servedBy: reply.servedBy,
            outcome: outcomeOf(strategy, reply),
          })
        })
        onProgress?.(records.length)
        if (interruption && pending === undefined && records.length >= interruption.afterRequests) {
          interruptedAt = since()
          // Kept, not thrown here: the users go on, and the run rejects once they are done.
          pending = interruption
            .action()
            .catch((error: unknown) => {
              interruptionFailed = { error }
            })
            .finally(() => {
              interruptionEndedAt = since()
              actionFinished = true
            })
        }
      }
    }

    await Promise.all(this.users.map((_, user) => userLoop(user)))
    const durationMs = since()
    await pending
    if (interruptionFailed) throw interruptionFailed.error
    return { records, durationMs, interruptedAt, interruptionEndedAt }
  }
}

function outcomeOf(strategy: Strategy, reply: Reply): Outcome {
  if (reply.status >= 200 && reply.status < 300) return 'ok'
  if (reply.status === 401 && reply.code !== undefined && strategy.forgetCodes.has(reply.code))
    return 'forgot'
  return 'failed'
}

/** The figures of a set of requests, as the tables report them. */
export interface LoadStats {
  readonly requests: number
  readonly ok: number
  /** Refused because the server did not know the user. */
  readonly forgot: number
  /** Failed otherwise (5xx, a reset connection, a timeout). */
  readonly failed: number
  readonly forgotPercent: number
  readonly failedPercent: number
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Requests each replica answered (by `X-Served-By`), in `replicaIds` order, then any other. */
  readonly share: readonly ReplicaShare[]
  /** Users with at least one `forgot` reply among these requests. */
  readonly usersForgotten: readonly number[]
}

export interface ReplicaShare {
  readonly replica: string
  readonly requests: number
  readonly percent: number
}

/** The quantile `q` (0..1) of ascending `sorted`, nearest rank; 0 when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** Figures for `records`, which took `durationMs`; `replicaIds` get a share row even when idle. */
export function summarize(
  records: readonly RequestRecord[],
  durationMs: number,
  replicaIds: readonly string[] = [],
): LoadStats {
  const count = (outcome: Outcome) => records.filter((r) => r.outcome === outcome).length
  const latencies = records.map((r) => r.end - r.start).sort((a, b) => a - b)
  const served = new Map<string, number>(replicaIds.map((id) => [id, 0]))
  for (const record of records) {
    const replica = record.servedBy ?? '(none)'
    served.set(replica, (served.get(replica) ?? 0) + 1)
  }
  const percent = (n: number) => (records.length === 0 ? 0 : (100 * n) / records.length)
  const forgot = count('forgot')
  const failed = count('failed')
  return {
    requests: records.length,
    ok: count('ok'),
    forgot,
    failed,
    forgotPercent: percent(forgot),
    failedPercent: percent(failed),
    requestsPerSecond: durationMs > 0 ? (records.length * 1000) / durationMs : 0,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    share: [...served].map(([replica, requests]) => ({ replica, requests, percent: percent(requests) })),
    usersForgotten: [...new Set(records.filter((r) => r.outcome === 'forgot').map((r) => r.user))].sort(
      (a, b) => a - b,
    ),
  }
}
