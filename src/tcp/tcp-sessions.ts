import type { Clock } from '../core/clock.ts'
import { AppError, type ErrorCode } from '../core/errors.ts'
import {
  createSession,
  MAX_TCP_FILES,
  newSessionToken,
  type Session,
  type SessionData,
  type SessionPolicy,
  type TcpSessionState,
  type TcpStoredFile,
} from '../core/sessions/session.ts'
import { SessionManager } from '../stores/session-manager.ts'
import type { SessionStore } from '../stores/session-store.ts'

/** The one principal of every TCP session: the protocol has no users. */
export const TCP_USER = Object.freeze({ id: 'tcp', username: 'tcp' })
/** Hard cap on a TCP session's life, whatever its heartbeats. */
export const TCP_ABSOLUTE_TIMEOUT_MS = 24 * 3600_000
const MINUTE_MS = 60_000

/** A TCP session as the server works with it: a stored session that has the `tcp` part. */
export type TcpSession = Session & { readonly data: SessionData & { readonly tcp: TcpSessionState } }

/** A stored file's fields on the wire (docs/protocol.md): an `ack` names its size `file_size`, a listing `size`. */
export function storedFileFields(
  file: TcpStoredFile,
  sizeKey: 'size' | 'file_size',
): Record<string, unknown> {
  return {
    file_id: file.fileId,
    stored_as: file.storedAs,
    [sizeKey]: file.size,
    sha256: file.sha256,
    mime_type: file.mimeType,
  }
}

/** A stored file as the `files` reply and the admin API list it: with the sequence it came in. */
export function listedFileFields(file: TcpStoredFile): Record<string, unknown> {
  return { ...storedFileFields(file, 'size'), sequence: file.sequence }
}

/** `ERR_REPLAY` or `ERR_SEQUENCE_GAP`, with the last sequence the server accepted (the error frame says it). */
export class SequenceError extends AppError {
  readonly lastSequence: number

  constructor(code: ErrorCode, message: string, lastSequence: number) {
    super(code, message)
    this.lastSequence = lastSequence
  }
}

export interface TcpSessionsOptions {
  readonly store: SessionStore
  readonly clock: Clock
  readonly sessionTimeoutMs: number
  readonly maxSessions: number
  /** `connect` requests per client address per minute. */
  readonly connectRate: number
  readonly bindToIp: boolean
}

/**
 * The protocol's sessions (docs/protocol.md, section 5) over any {@link SessionStore}, through the same
 * {@link SessionManager} as the HTTP API: idle timeout `session_timeout`, every accepted frame recorded with
 * compare-and-swap, so the sequence check and the change it guards happen as one step even when two
 * connections, or two server processes, race on one session.
 */
export class TcpSessions {
  readonly manager: SessionManager
  readonly #store: SessionStore
  readonly #clock: Clock
  readonly #maxSessions: number
  readonly #bindToIp: boolean
  readonly #limiter: ConnectRateLimiter
  /** Serializes count-then-create in this process; across processes `max_sessions` may overshoot slightly. */
  #creating: Promise<unknown> = Promise.resolve()

  constructor(options: TcpSessionsOptions) {
    const idleTimeoutMs = Math.max(1, Math.round(options.sessionTimeoutMs))
    const policy: SessionPolicy = {
      idleTimeoutMs,
      absoluteTimeoutMs: Math.max(TCP_ABSOLUTE_TIMEOUT_MS, idleTimeoutMs),
    }
    this.manager = new SessionManager({ store: options.store, clock: options.clock, policy })
    this.#store = options.store
    this.#clock = options.clock
    this.#maxSessions = options.maxSessions
    this.#bindToIp = options.bindToIp
    this.#limiter = new ConnectRateLimiter(options.clock, options.connectRate)
  }

  get store(): SessionStore {
    return this.#store
  }

  /**
   * Creates a session for the client at `clientAddress`; the token goes to the client, only its hash to the
   * store. Throws `ERR_RATE_LIMITED` (with `retryAfter`) or `ERR_SESSION_LIMIT`.
   */
  async connect(clientAddress: string): Promise<{ token: string; session: TcpSession }> {
    this.#limiter.take(clientAddress)
    const create = async () => {
      if ((await this.count()) >= this.#maxSessions) {
        throw new AppError(
          'ERR_SESSION_LIMIT',
          `The server holds its maximum of ${this.#maxSessions} sessions; try again later`,
        )
      }
      const { token, id } = newSessionToken()
      const base = createSession(id, TCP_USER, this.#clock.now(), this.manager.policy)
      const tcp: TcpSessionState = {
        clientAddress,
        lastSequence: 0,
        state: 'active',
        files: [],
        fileCount: 0,
      }
      const session: TcpSession = { ...base, data: { ...base.data, tcp } }
      await this.#store.create(session)
      return { token, session }
    }
    const created = this.#creating.then(create, create)
    this.#creating = created.catch(() => {})
    return created
  }

  /**
   * The live TCP session for a client token. Throws `ERR_SESSION_UNKNOWN`, `ERR_SESSION_EXPIRED`, or
   * `ERR_SESSION_BOUND` when `bind_to_ip` is on and `clientAddress` is not the creator's.
   */
  async resolve(token: string, clientAddress: string): Promise<TcpSession> {
    const session = await this.manager.resolve(token)
    if (!isTcpSession(session)) {
      throw new AppError('ERR_SESSION_UNKNOWN', 'No such session: it ended, expired, or was never issued')
    }
    if (this.#bindToIp && session.data.tcp.clientAddress !== clientAddress) {
      throw new AppError('ERR_SESSION_BOUND', 'This session is bound to the address that created it')
    }
    return session
  }

  /** Throws the {@link SequenceError} a frame with `sequence` would get now; nothing when it is the next one. */
  checkSequence(session: TcpSession, sequence: number): void {
    assertNextSequence(session.data.tcp.lastSequence, sequence)
  }

  /**
   * Records frame `sequence` (and `change`) with compare-and-swap, re-checking the sequence against the
   * stored session on every attempt: of two frames racing with one sequence, exactly one is accepted.
   */
  async accept(
    session: TcpSession,
    sequence: number,
    change: (tcp: TcpSessionState, data: SessionData) => Partial<SessionData> = () => ({}),
  ): Promise<TcpSession> {
    const next = await this.manager.advance(session, (data) => {
      const tcp = data.tcp
      if (!tcp) throw new AppError('ERR_SESSION_UNKNOWN', 'The session is not a TCP session')
      assertNextSequence(tcp.lastSequence, sequence)
      const changed = { ...data, ...change(tcp, data) }
      return {
        ...changed,
        messageCount: data.messageCount + 1,
        tcp: { ...(changed.tcp ?? tcp), lastSequence: sequence },
      }
    })
    return next as TcpSession
  }

  /** {@link accept} for a `transfer`: the file joins the session's list and totals. */
  recordFile(session: TcpSession, file: TcpStoredFile): Promise<TcpSession> {
    return this.accept(session, file.sequence, (tcp, data) => ({
      totalBytes: data.totalBytes + file.size,
      tcp: { ...tcp, files: [...tcp.files, file].slice(-MAX_TCP_FILES), fileCount: tcp.fileCount + 1 },
    }))
  }

  /** Records a `resume`: activity, not a message. */
  async touch(session: TcpSession): Promise<TcpSession> {
    return (await this.manager.touch(session)) as TcpSession
  }

  /** Ends a session; false when it was already gone. */
  end(id: string): Promise<boolean> {
    return this.manager.end(id)
  }

  /** Live TCP sessions in the store, counted without loading them where the store can. */
  async count(): Promise<number> {
    return (await this.#store.countByUser?.(TCP_USER.id)) ?? (await this.list()).length
  }

  /** The live TCP sessions, oldest first. */
  async list(): Promise<TcpSession[]> {
    return (await this.#store.listByUser(TCP_USER.id)).filter(isTcpSession)
  }

  /** One live TCP session by its store id (the hash), or undefined. */
  async get(id: string): Promise<TcpSession | undefined> {
    const session = await this.#store.get(id)
    return session && isTcpSession(session) && session.expiresAt > this.#clock.now() ? session : undefined
  }
}

function isTcpSession(session: Session): session is TcpSession {
  return session.userId === TCP_USER.id && session.data.tcp !== undefined
}

function assertNextSequence(last: number, sequence: number): void {
  if (sequence === last + 1) return
  if (sequence <= last) {
    throw new SequenceError(
      'ERR_REPLAY',
      `sequence ${sequence} was already used: the last accepted is ${last}`,
      last,
    )
  }
  throw new SequenceError(
    'ERR_SEQUENCE_GAP',
    `sequence ${sequence} skips ahead: the last accepted is ${last}, so the next must be ${last + 1}; resume to recover`,
    last,
  )
}

/** At most `perMinute` hits per key in any sliding minute of the injected clock. */
class ConnectRateLimiter {
  readonly #clock: Clock
  readonly #perMinute: number
  readonly #hits = new Map<string, number[]>()

  constructor(clock: Clock, perMinute: number) {
    this.#clock = clock
    this.#perMinute = perMinute
  }

  /** Counts one hit for `key`; throws `ERR_RATE_LIMITED` (hit not counted) when the minute is full. */
  take(key: string): void {
    const now = this.#clock.now()
    const hits = (this.#hits.get(key) ?? []).filter((at) => at > now - MINUTE_MS)
    if (hits.length >= this.#perMinute) {
      this.#hits.set(key, hits)
      const retryAfter = Math.max(1, Math.ceil((hits[0]! + MINUTE_MS - now) / 1000))
      throw new AppError(
        'ERR_RATE_LIMITED',
        `Too many sessions from this address: at most ${this.#perMinute} per minute; retry in ${retryAfter} s`,
        { retryAfter },
      )
    }
    hits.push(now)
    this.#hits.set(key, hits)
    // Keys whose minute has passed are dropped once the map grows, so memory follows active clients only.
    if (this.#hits.size > 10_000) {
      for (const [other, times] of this.#hits) {
        if ((times.at(-1) ?? 0) <= now - MINUTE_MS) this.#hits.delete(other)
      }
    }
  }
}
