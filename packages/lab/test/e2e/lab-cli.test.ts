import test from 'ava'
import { rootTest } from '@scalelb/test-support'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot } from '../../src/index.js'
import { labDown, labLeftovers, labUp } from '../../src/lab.js'
import { loadLabState, type LabHost } from '../../src/state.js'
import { runDemo } from '../../src/demo.js'
import { runLab } from '../../src/cli.js'
import { isRunning } from '../../src/procs.js'
import { hostApi, listTasks } from '../../src/control.js'
import { runCli, type LabModule } from '@scalelb/agent'
import * as lab from '../../src/index.js'


/** `scalelb ...` through the agent CLI, which loads this package by name for `lab`. */
async function scalelb (argv: string[]): Promise<number> {
  return await runCli(argv, { io: { out: (s) => { process.stdout.write(s + '\n') }, err: (s) => { process.stderr.write(s + '\n') } }, env: {} })
}

test('scalelb lab (the agent CLI) loads this package: help, a usage error, status of a missing lab', async (t) => {
  const entry: LabModule = lab
  t.is(typeof entry.runLab, 'function')
  const help = await captured(['lab', '--help'], scalelb)
  t.is(help.code, 0)
  t.regex(help.out, /^usage: scalelb lab \[up\|status\|down\]/)
  const bad = await captured(['lab', 'sideways'], scalelb)
  t.is(bad.code, 2)
  t.regex(bad.out, /expected one command \(up, status, down\), got "sideways"/)
  const dir = await mkdtemp(join(tmpdir(), 'slb-none-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const none = await captured(['lab', 'status', '--state-dir', dir], scalelb)
  t.is(none.code, 1)
  t.regex(none.out, /no lab in /)
})

/** Run `runLab` (or `fn`) with stdout/stderr captured. */
async function captured (argv: string[], fn: (argv: string[]) => Promise<number> = runLab): Promise<{ code: number, out: string }> {
  let out = ''
  const w = process.stdout.write.bind(process.stdout)
  const e = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((s: string) => { out += s; return true }) as typeof process.stdout.write
  process.stderr.write = ((s: string) => { out += s; return true }) as typeof process.stderr.write
  try {
    return { code: await fn(argv), out }
  } finally {
    process.stdout.write = w
    process.stderr.write = e
  }
}

test('loopback lab (no root needed): 3 agents with the memory programmer join, the demo publishes its tasks on every agent, down stops exactly them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-lo-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const state = await labUp({ nodes: 3, stateDir: dir, mode: 'loopback', agentArgs: ['--profile', 'local'] })
  t.teardown(async () => { await labDown(state) })
  const roles = await Promise.all(state.hosts.map(async (h) => (await hostApi(h).status()).role))
  t.deepEqual(roles, ['manager', 'worker', 'worker'], 'h1 holds the manager key')
  const refused = await hostApi(state.hosts[1] as LabHost).createNetwork({ name: 'x', subnets: ['10.78.0.0/24'] }).then(() => undefined, (err: unknown) => err as Error & { status?: number })
  t.is(refused?.status, 403)
  t.is(refused?.message, 'network create: only manager nodes may change networks and services; this agent has no --manager-key-file')
  const report = await runDemo({ state })
  t.deepEqual(report.services.map((s) => s.name), ['web', 'api'])
  t.true(report.services.every((s) => s.vip.startsWith('10.77.')), 'every service got a VIP in the demo subnet')
  for (const h of state.hosts) {
    const tasks = (await listTasks(h)).map((x) => x.id).sort()
    t.deepEqual(tasks, ['api-1', 'api-2', 'web-1', 'web-2', 'web-3'], `${h.name} lists every task`)
  }
  const refs = state.hosts.map((h) => ({ pid: h.pid as number, pidStart: h.pidStart as string }))
  const down = await labDown(state)
  t.is(down.processesStopped, 3)
  t.true(refs.every((r) => !isRunning(r)), 'every agent process is gone')
  t.is(await loadLabState(dir), undefined)
})

rootTest('scalelb lab up --nodes 3 --demo: traffic from every host reaches every task; status; down leaves nothing (needs root)', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'slb-lab-'))
  const dir = join(parent, 'state')
  t.teardown(async () => {
    const s = await loadLabState(dir).catch(() => undefined)
    if (s !== undefined) await labDown(s)
    await rm(parent, { recursive: true, force: true })
  })
  const up = await captured(['up', '--nodes', '3', '--demo', '--state-dir', dir])
  t.is(up.code, 0, up.out)
  const prefix = (await loadLabState(dir))?.prefix
  t.truthy(prefix)
  for (const task of ['web-1', 'web-2', 'web-3', 'api-1', 'api-2']) t.true(up.out.includes(task), `the demo table names ${task}`)
  // every row of the demo tables ends with 0 errors
  const rows = up.out.split('\n').filter((l) => /^h\d\s/.test(l) && !l.includes('running'))
  t.is(rows.length, 6, 'one row per client host per service')
  t.true(rows.every((r) => r.trim().endsWith(' 0')), `no request failed:\n${rows.join('\n')}`)
  t.regex(up.out, /http:\/\/172\.31\.\d+\.1:9470\/metrics/)

  const status = await captured(['status', '--state-dir', dir, '--json'])
  t.is(status.code, 0)
  const s = JSON.parse(status.out) as { hosts: Array<{ running: boolean, aliveMembers: number }> }
  t.true(s.hosts.every((h) => h.running && h.aliveMembers === 3))

  const down = await captured(['down', '--state-dir', dir])
  t.is(down.code, 0, down.out)
  t.deepEqual(await labLeftovers(prefix as string), { netns: [], links: [] }, 'no netns or link of the lab is left')
})

test('lab up with an agent that exits at once fails with LabError naming the host and leaves nothing behind', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'slb-bad-'))
  t.teardown(async () => { await rm(parent, { recursive: true, force: true }) })
  const dir = join(parent, 'state')
  const lines: string[] = []
  const err = await t.throwsAsync(labUp({
    progress: (l) => { lines.push(l) },
    nodes: 2,
    stateDir: dir,
    mode: isRoot() ? 'netns' : 'loopback',
    agentCommand: [process.execPath, '-e', 'process.exit(3)'],
    readyTimeoutMs: 20_000
  }))
  t.is(err?.name, 'LabError')
  t.regex(err?.message ?? '', /agent h1 exited/)
  t.is(await loadLabState(dir), undefined, 'the state file is gone')
  const prefix = /^lab (sl[0-9a-f]{4}):/.exec(lines[0] ?? '')?.[1]
  t.truthy(prefix, 'the first progress line names the lab')
  if (isRoot()) t.deepEqual(await labLeftovers(prefix as string), { netns: [], links: [] }, 'no netns or link of the lab is left')
})
