import { AppError } from '../core/errors.ts'

/** One entry per sub-command; each module exports `run(args)`. */
const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ run(args: string[]): Promise<void> }> }
> = {
  up: { summary: 'start both APIs (stateless :3000, stateful :3001)', load: () => import('./up.ts') },
  serve: { summary: 'serve one API: statelab serve stateless|stateful', load: () => import('./serve.ts') },
  user: { summary: 'manage users: statelab user add <name>', load: () => import('./user.ts') },
  client: {
    summary: "walk a seed's workflow: statelab client stateless|stateful",
    load: () => import('./client.ts'),
  },
  demo: {
    summary: "run a seed's comparison live on both APIs: statelab demo calc|compare",
    load: () => import('./demo.ts'),
  },
  tcp: { summary: 'the raw-TCP session protocol: statelab tcp serve|send', load: () => import('./tcp.ts') },
  gateway: { summary: 'the load balancer in front of both APIs (:8080)', load: () => import('./gateway.ts') },
  lab: {
    summary:
      'replicas behind a gateway, broken on purpose: statelab lab compare|scale|crash|memory|report|...',
    load: () => import('./lab.ts'),
  },
  bench: {
    summary: 'every way of remembering the caller, measured against node:http and the usual libraries',
    load: () => import('./bench.ts'),
  },
}

const USAGE = `statelab: how does a server remember that two requests come from the same person?

Usage: statelab <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`)
  .join('\n')}

Run "statelab <command> --help" for a command's options.`

/** Errors a user can fix from the message alone: printed without a stack trace. */
const USER_ERRORS = new Set([
  'ERR_PARSE_ARGS_UNKNOWN_OPTION',
  'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
  'ERR_UNREACHABLE',
])

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(USAGE)
    return
  }
  const command = COMMANDS[name]
  if (!command) {
    console.error(`statelab: unknown command "${name}"\n\n${USAGE}`)
    process.exitCode = 2
    return
  }
  await (await command.load()).run(args)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof AppError || USER_ERRORS.has((err as { code?: string }).code ?? '')) {
    console.error(`statelab: ${(err as Error).message}`)
  } else {
    console.error(err)
  }
  process.exitCode = 1
})
