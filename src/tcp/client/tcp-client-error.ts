/** Transport failures the client meets on its own side of the wire; the server's refusals are `AppError`s. */
export type TcpClientErrorCode =
  /** The server could not be reached (refused, unresolvable host, connect timeout). */
  | 'ERR_UNREACHABLE'
  /** The connection ended or was reset before the reply came. */
  | 'ERR_CONNECTION_LOST'
  /** Nothing moved on the connection for `timeoutMs` while a reply was due. */
  | 'ERR_REPLY_TIMEOUT'

/**
 * A request whose outcome the client cannot know: the server may or may not have acted on it. A stateful
 * session recovers from these by resuming; a stateless transfer reports them.
 */
export class TcpClientError extends Error {
  readonly code: TcpClientErrorCode

  constructor(code: TcpClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TcpClientError'
    this.code = code
  }
}

/** True for a transport failure (as opposed to a server's refusal or a local problem with the file). */
export function isTransportError(err: unknown): err is TcpClientError {
  return err instanceof TcpClientError
}
