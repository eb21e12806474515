type Labels = Readonly<Record<string, string>>

/** A counter or gauge with optional labels, rendered in the Prometheus text format (version 0.0.4). */
class Metric {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge'
  readonly #values = new Map<string, number>()

  constructor(name: string, type: 'counter' | 'gauge', help: string) {
    this.name = name
    this.type = type
    this.help = help
  }

  inc(labels: Labels = {}, by = 1): void {
    const key = renderLabels(labels)
    this.#values.set(key, (this.#values.get(key) ?? 0) + by)
  }

  set(value: number, labels: Labels = {}): void {
    this.#values.set(renderLabels(labels), value)
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`]
    // A metric without labels is shown at 0 before its first event, so a dashboard has a series to plot.
    if (this.#values.size === 0 && this.type === 'counter') lines.push(`${this.name} 0`)
    for (const [labels, value] of this.#values) lines.push(`${this.name}${labels} ${value}`)
    return lines.join('\n')
  }
}

function renderLabels(labels: Labels): string {
  const entries = Object.entries(labels)
  if (entries.length === 0) return ''
  const quote = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
  return `{${entries.map(([key, value]) => `${key}="${quote(value)}"`).join(',')}}`
}

/**
 * The TCP server's counters and gauges. Hand-written rather than `prom-client`: a handful of numbers does not
 * need a dependency, and the text format is four lines of code.
 */
export class TcpMetrics {
  readonly connections = new Metric('statelab_tcp_connections_total', 'counter', 'Connections accepted.')
  readonly rejectedConnections = new Metric(
    'statelab_tcp_connections_rejected_total',
    'counter',
    'Connections refused with ERR_TOO_MANY_CONNECTIONS.',
  )
  readonly openConnections = new Metric('statelab_tcp_connections_open', 'gauge', 'Connections open now.')
  readonly frames = new Metric('statelab_tcp_frames_total', 'counter', 'Request frames answered, by action.')
  readonly errors = new Metric('statelab_tcp_errors_total', 'counter', 'Error replies, by code.')
  readonly filesStored = new Metric('statelab_tcp_files_stored_total', 'counter', 'Files stored, by mode.')
  readonly bytesStored = new Metric('statelab_tcp_bytes_stored_total', 'counter', 'Payload bytes stored.')
  readonly sessionsCreated = new Metric('statelab_tcp_sessions_created_total', 'counter', 'Sessions created.')
  readonly sessionsLive = new Metric(
    'statelab_tcp_sessions_live',
    'gauge',
    'Live sessions in the store (all server processes sharing it).',
  )

  /** Every metric in the Prometheus text exposition format. */
  render(): string {
    const metrics = [
      this.connections,
      this.rejectedConnections,
      this.openConnections,
      this.frames,
      this.errors,
      this.filesStored,
      this.bytesStored,
      this.sessionsCreated,
      this.sessionsLive,
    ]
    return `${metrics.map((metric) => metric.render()).join('\n')}\n`
  }
}
