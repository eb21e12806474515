import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { type Replica, ReplicaError, Supervisor } from '../../../src/lab/supervisor.ts'

const SECRET = 'test-secret-that-is-at-least-32-bytes-long'
const root = mkdtempSync(join(tmpdir(), 'statelab-lab-'))
after(() => rmSync(root, { recursive: true, force: true }))

interface Reply {
  readonly status: number
  readonly servedBy: string | undefined
  readonly body: string
}

/** One request on a fresh connection, so no pooled socket hides whether the port still answers. */
function send(url: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<Reply> {
  const payload = init.body === undefined ? undefined : JSON.stringify(init.body)
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        agent: false,
        timeout: 2000,
        headers: {
          ...(payload !== undefined && { 'content-type': 'application/json' }),
          ...(init.token !== undefined && { authorization: `Bearer ${init.token}` }),
        },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, servedBy: res.headers['x-served-by'] as string, body }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 2 s`)))
    req.on('error', reject)
    req.end(payload)
  })
}

async function assertRefused(url: string): Promise<void> {
  await assert.rejects(send(`${url}/health`), (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, 'ECONNREFUSED', `${url}: ${err.message}`)
    return true
  })
}

function assertGone(pid: number): void {
  assert.throws(
    () => process.kill(pid, 0),
    (err: NodeJS.ErrnoException) => err.code === 'ESRCH',
    `pid ${pid} still exists`,
  )
}

/** Whether `pid` runs; a zombie left to a parent that does not reap (an orphan in a container) does not. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return process.platform !== 'linux'
  }
}

/** Pids of this process's children whose environment says they are replica `prefix-*` (Linux /proc). */
function childReplicas(prefix: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== process.pid) continue
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0')
      if (environ.some((line) => line.startsWith(`STATELAB_REPLICA_ID=${prefix}-`))) pids.push(Number(entry))
    } catch {
      // It exited while we looked.
    }
  }
  return pids
}

describe('Supervisor: a pool of stateless replicas', () => {
  let supervisor: Supervisor
  const changes: (readonly Replica[])[] = []
  const ids = (replicas: readonly Replica[]) => replicas.map((r) => r.id)
  const everPids: number[] = []
  let killed: Replica

  after(() => supervisor?.stop())
  before(async () => {
    const dataDir = mkdtempSync(join(root, 'pool-'))
    supervisor = await Supervisor.start({
      api: 'stateless',
      count: 3,
      env: { STATELAB_DATA_DIR: dataDir, JWT_SECRET: SECRET },
    })
    supervisor.onChange((replicas) => changes.push(replicas))
  })

  it('starts 3 replicas, each answering /health as itself', async () => {
    const replicas = supervisor.replicas
    assert.deepEqual(ids(replicas), ['stateless-1', 'stateless-2', 'stateless-3'])
    assert.equal(new Set(replicas.map((r) => r.port)).size, 3)
    for (const replica of replicas) {
      everPids.push(replica.pid)
      assert.equal(replica.url, `http://127.0.0.1:${replica.port}`)
      const res = await send(`${replica.url}/health`)
      assert.equal(res.status, 200, res.body)
      assert.equal(res.servedBy, replica.id)
      assert.equal(JSON.parse(res.body).api, 'stateless')
    }
  })

  it('shares one data directory: a user registered on one replica logs in on another', async () => {
    const [one, two, three] = supervisor.replicas
    const credentials = { username: 'shared-user', password: 'correct horse battery staple' }
    const registered = await send(`${one!.url}/api/users`, { method: 'POST', body: credentials })
    assert.equal(registered.status, 201, registered.body)
    const login = await send(`${two!.url}/api/auth/login`, { method: 'POST', body: credentials })
    assert.equal(login.status, 200, login.body)
    const token = JSON.parse(login.body).access_token as string
    const history = await send(`${three!.url}/api/files`, { token })
    assert.equal(history.status, 200, history.body)
    assert.equal(history.servedBy, 'stateless-3')
  })

  it('kill: the port refuses, the pool shrinks, listeners hear of it', async () => {
    const victim = supervisor.replicas[1]!
    killed = victim
    changes.length = 0
    await supervisor.kill(victim.id)
    assertGone(victim.pid)
    await assertRefused(victim.url)
    assert.deepEqual(ids(supervisor.replicas), ['stateless-1', 'stateless-3'])
    assert.deepEqual(ids(changes.at(-1)!), ['stateless-1', 'stateless-3'])
    await supervisor.kill(victim.id) // already dead: nothing to do
  })

  it('restart: the same id answers again on the same port, once whoever held it lets go', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen({ port: killed.port, host: '127.0.0.1' }, resolve))
    const began = performance.now()
    setTimeout(() => holder.close(), 500)
    const restarted = await supervisor.restart(killed.id)
    assert.ok(performance.now() - began >= 500)
    everPids.push(restarted.pid)
    assert.equal(restarted.id, 'stateless-2')
    assert.equal(restarted.port, killed.port)
    assert.equal(restarted.url, killed.url)
    assert.notEqual(restarted.pid, killed.pid)
    assert.deepEqual(changes.at(-1)![1], restarted)
    assert.deepEqual(ids(supervisor.replicas), ['stateless-1', 'stateless-2', 'stateless-3'])
    const res = await send(`${restarted.url}/health`)
    assert.equal(res.status, 200)
    assert.equal(res.servedBy, 'stateless-2')
  })

  it('restart of a live replica: stopped gracefully, back on its port with a new pid', async () => {
    const old = supervisor.replicas[0]!
    const fresh = await supervisor.restart(old.id)
    everPids.push(fresh.pid)
    assertGone(old.pid)
    assert.equal(fresh.port, old.port)
    assert.notEqual(fresh.pid, old.pid)
    assert.equal((await send(`${fresh.url}/health`)).servedBy, old.id)
  })

  it('a replica that dies on its own leaves the pool', async () => {
    const victim = supervisor.replicas[2]!
    const left = new Promise<readonly Replica[]>((resolve) => {
      const unsubscribe = supervisor.onChange((replicas) => {
        unsubscribe()
        resolve(replicas)
      })
    })
    process.kill(victim.pid, 'SIGKILL') // our own child, as an outside crash
    assert.deepEqual(ids(await left), ['stateless-1', 'stateless-2'])
    everPids.push((await supervisor.restart(victim.id)).pid)
  })

  it('add: a fourth replica with the next id; remove: back to three', async () => {
    const added = await supervisor.add()
    everPids.push(added.pid)
    assert.equal(added.id, 'stateless-4')
    assert.equal(supervisor.replicas.length, 4)
    assert.equal((await send(`${added.url}/health`)).servedBy, 'stateless-4')

    await supervisor.remove('stateless-4')
    assertGone(added.pid)
    await assertRefused(added.url)
    assert.deepEqual(ids(supervisor.replicas), ['stateless-1', 'stateless-2', 'stateless-3'])
    assert.deepEqual(ids(changes.at(-1)!), ['stateless-1', 'stateless-2', 'stateless-3'])
    await assert.rejects(supervisor.restart('stateless-4'), { code: 'ERR_REPLICA_UNKNOWN' })
    await assert.rejects(supervisor.kill('nope'), ReplicaError)
  })

  it('stop: every process gone, idempotent, nothing starts afterwards', async () => {
    const urls = supervisor.replicas.map((r) => r.url)
    await supervisor.stop()
    await supervisor.stop()
    assert.deepEqual(supervisor.replicas, [])
    for (const pid of everPids) assertGone(pid)
    for (const url of urls) await assertRefused(url)
    assert.deepEqual(changes.at(-1), [])
    await assert.rejects(supervisor.add(), { code: 'ERR_SUPERVISOR_STOPPED' })
  })
})

describe('Supervisor: failures', () => {
  it('a replica that cannot start rejects start with its own words and leaves no process', async () => {
    const lines: string[] = []
    const began = performance.now()
    await assert.rejects(
      Supervisor.start({
        api: 'stateful',
        count: 2,
        namePrefix: 'broken',
        env: { STATELAB_DATA_DIR: mkdtempSync(join(root, 'broken-')), SESSION_STORE: 'nope' },
        log: (line) => lines.push(line),
      }),
      (err: ReplicaError) => {
        assert.equal(err.code, 'ERR_REPLICA_START')
        assert.match(err.message, /replica broken-\d exited \(code 1\) before listening/)
        assert.match(
          err.message,
          /SESSION_STORE must be one of memory, sqlite, redis, postgres, replicated, cookie; got "nope"/,
        )
        return true
      },
    )
    assert.ok(performance.now() - began < 10_000)
    assert.ok(
      lines.some((line) => line.includes('SESSION_STORE')),
      'the child output reaches the log',
    )
    if (process.platform === 'linux') assert.deepEqual(childReplicas('broken'), [])
  })

  it('the replicas die with their parent, even when it exits without stop()', async () => {
    const dataDir = mkdtempSync(join(root, 'orphans-'))
    const script = `
      import { Supervisor } from ${JSON.stringify(new URL('../../../src/lab/supervisor.ts', import.meta.url).href)}
      const supervisor = await Supervisor.start({ api: 'stateless', count: 1, env: ${JSON.stringify({ STATELAB_DATA_DIR: dataDir, JWT_SECRET: SECRET })} })
      console.log(supervisor.replicas[0].pid)
      process.exit(0)`
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    after(() => parent.kill('SIGKILL'))
    let out = ''
    parent.stdout.on('data', (chunk: Buffer) => {
      out += chunk
    })
    const [code] = await once(parent, 'exit')
    assert.equal(code, 0)
    const pid = Number(out.trim())
    assert.ok(Number.isInteger(pid) && pid > 0, `no pid printed: ${JSON.stringify(out)}`)
    const until = performance.now() + 5000
    while (isRunning(pid) && performance.now() < until) await delay(20)
    assert.equal(isRunning(pid), false, `replica pid ${pid} outlived its supervisor`)
  })

  it('bad options are TypeErrors that name the option', async () => {
    await assert.rejects(Supervisor.start({ api: 'stateless', count: -1 }), /options\.count/)
    await assert.rejects(
      Supervisor.start({ api: 'nope' as 'stateless', count: 1 }),
      (err: Error) => err instanceof TypeError && /options\.api/.test(err.message),
    )
    await assert.rejects(
      Supervisor.start({ api: 'stateless', count: 1, namePrefix: 'a b' }),
      /options\.namePrefix/,
    )
  })
})
