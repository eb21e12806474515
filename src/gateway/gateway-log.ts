/** The subset of pino's `Logger` the gateway calls. */
export interface GatewayLog {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

export const silentLog: GatewayLog = Object.freeze({ info: () => {}, warn: () => {} })
