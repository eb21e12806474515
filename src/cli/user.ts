import { randomBytes } from 'node:crypto'
import { createRuntime } from '../runtime.ts'
import { configFrom, parse, SERVER_OPTIONS } from './options.ts'

const HELP = `Usage: statelab user add <username> [--password-stdin] [--config file.yaml] [--data-dir ./data]

Creates a user in the data directory. Without --password-stdin a strong password is generated and printed once.`

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { ...SERVER_OPTIONS, 'password-stdin': { type: 'boolean' } })
  const [action, username] = positionals
  if (values.help || action !== 'add' || username === undefined) {
    console.log(HELP)
    if (!values.help) process.exitCode = 2
    return
  }
  const password = values['password-stdin']
    ? (await readStdin()).replace(/\r?\n$/, '')
    : randomBytes(12).toString('base64url')
  const runtime = await createRuntime(configFrom(values, { logLevel: 'warn' }))
  try {
    const user = await runtime.users.register(username, password)
    console.log(`created user "${user.username}" (${user.id})`)
    if (!values['password-stdin']) console.log(`password: ${password}`)
  } finally {
    await runtime.close()
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
