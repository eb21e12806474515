import { writeFileSync } from 'node:fs'
import { POLICY_NAMES } from '../gateway/index.ts'
import { defaultLbConfig, LB_NAMES, type LbConfig, parseHostPorts, renderLbConfig } from '../lab/lb/index.ts'
import { choiceFlag, parse, portFlag } from './options.ts'

const HELP = `Usage: statelab lab lb-config --lb ${LB_NAMES.join('|')} [--stateless HOST:PORT[,...]] [--stateful HOST:PORT[,...]]
                           [--policy P] [--policy-stateless P] [--host 0.0.0.0] [--port 8080]
                           [--https-port 8443|off] [--tls-cert FILE] [--tls-key FILE] [--out FILE]

Prints (or writes to --out) a commented HAProxy or nginx configuration with seed 001's layout:
/api/stateless/* and /api/stateful/* to two pools, prefix stripped, with health checks (HAProxy) and
failover of idempotent requests to another server. deploy/haproxy/haproxy.cfg and deploy/nginx/nginx.conf
are its output with the defaults.

  --stateless LIST       stateless API servers, default 127.0.0.1:3000
  --stateful LIST        stateful API servers, default 127.0.0.1:3001
  --policy P             the stateful pool's balancing, default sticky (HAProxy: an inserted cookie;
                         nginx: a consistent hash of a cookie)
  --policy-stateless P   default round-robin
                         policies: ${POLICY_NAMES.join(', ')}
  --host, --port         where clients connect, default 0.0.0.0:8080
  --https-port N|off     nginx only: TLS on this port too, default 8443, with --tls-cert and --tls-key
                         (default /etc/statelab/tls/cert.pem and key.pem)`

/**
 * `statelab lab lb-config`: the configuration of a real load balancer in front of statelab.
 *
 * @example
 * await run(['--lb', 'haproxy', '--stateful', '10.0.0.5:3001,10.0.0.6:3001', '--out', 'haproxy.cfg'])
 */
export async function run(args: string[]): Promise<void> {
  const { values } = parse(args, {
    lb: { type: 'string' },
    stateless: { type: 'string' },
    stateful: { type: 'string' },
    policy: { type: 'string' },
    'policy-stateless': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'https-port': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return void console.log(HELP)
  const lb = choiceFlag(values.lb ?? '', 'lb', LB_NAMES)
  const defaults = defaultLbConfig()
  const [stateless, stateful] = defaults.pools
  const httpsPort = values['https-port']
  const config: LbConfig = {
    ...defaults,
    listen: {
      host: values.host ?? defaults.listen.host,
      port: portFlag(values.port, 'port') ?? defaults.listen.port,
    },
    https:
      httpsPort === 'off'
        ? undefined
        : {
            port: portFlag(httpsPort, 'https-port') ?? defaults.https!.port,
            certificate: values['tls-cert'] ?? defaults.https!.certificate,
            key: values['tls-key'] ?? defaults.https!.key,
          },
    pools: [
      {
        ...stateless!,
        backends: values.stateless ? parseHostPorts(values.stateless, 'stateless') : stateless!.backends,
        policy: choiceFlag(values['policy-stateless'], 'policy-stateless', POLICY_NAMES) ?? stateless!.policy,
      },
      {
        ...stateful!,
        backends: values.stateful ? parseHostPorts(values.stateful, 'stateful') : stateful!.backends,
        policy: choiceFlag(values.policy, 'policy', POLICY_NAMES) ?? stateful!.policy,
      },
    ],
  }
  const text = renderLbConfig(lb, config)
  if (values.out) {
    writeFileSync(values.out, text)
    console.error(`wrote ${values.out}`)
  } else process.stdout.write(text)
}
