import test from 'ava'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadLabState, validateLabState } from '../../src/state.js'
import { LAB_STATE_VERSION } from '../../src/constants.js'
import { runLab } from '../../src/cli.js'
import { agentArgs } from '../../src/agents.js'
import type { LabHost, LabState } from '../../src/state.js'

const good = {
  version: LAB_STATE_VERSION, id: 'ab12', prefix: 'slab12', mode: 'netns', dir: '/run/x', bridge: 'slab12-br',
  underlayCidr: '172.31.171.0/24', clusterKeyFile: '/run/x/cluster.key', agentCommand: ['node', 'bin.js'],
  createdAt: '2026-01-01T00:00:00Z', hosts: [], helpers: [], processes: [], netns: ['slab12-h1'], links: ['slab12-br']
}

test('a valid state passes validation unchanged', (t) => {
  t.deepEqual(validateLabState('lab.json', good), good as unknown)
})

test('lab state: a name outside the lab prefix is refused (lab down would delete it)', (t) => {
  const err = t.throws(() => validateLabState('lab.json', { ...good, netns: ['other-ns'] }))
  t.is(err?.name, 'LabStateError')
  t.regex(err?.message ?? '', /netns/)
})

test('lab state: a bad PID is refused, naming the field', (t) => {
  const err = t.throws(() => validateLabState('lab.json', { ...good, processes: [{ role: 'x', name: 'y', pid: 1, pidStart: '5' }] }))
  t.is(err?.name, 'LabStateError')
  t.regex(err?.message ?? '', /processes\[0\]\.pid/)
})

test('lab state: a host\'s manager flag must be a boolean; only a manager host\'s agent gets the manager key file', (t) => {
  const host = { name: 'h1', netns: 'slab12-h1', ip: '172.31.171.1', listen: '/ip4/172.31.171.1/tcp/7946', metricsAddr: '172.31.171.1:9470', apiSocket: '/run/x/h1/api.sock', dataDir: '/run/x/h1', netnsPrefix: 'slab12-h1-', logFile: '/run/x/h1/agent.log' }
  const err = t.throws(() => validateLabState('lab.json', { ...good, hosts: [{ ...host, manager: 'yes' }] }))
  t.regex(err?.message ?? '', /hosts\[0\]\.manager/)
  const state = validateLabState('lab.json', { ...good, managerKeyFile: '/run/x/manager.key', hosts: [{ ...host, manager: true }, { ...host, name: 'h2', manager: false }] }) as LabState
  const [h1, h2] = state.hosts as [LabHost, LabHost]
  const managerArg = (args: string[]): string | undefined => args[args.indexOf('--manager-key-file') + 1]
  t.is(managerArg(agentArgs(state, h1, [])), '/run/x/manager.key')
  t.false(agentArgs(state, h2, []).includes('--manager-key-file'), 'a worker gets the cluster key only')
  t.true(agentArgs(state, h2, []).includes('/run/x/cluster.key'))
})

test('lab state: corrupt JSON gives a typed error, a missing file gives undefined', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-state-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  t.is(await loadLabState(dir), undefined)
  await writeFile(join(dir, 'lab.json'), '{"version": 1,')
  const err = await t.throwsAsync(loadLabState(dir))
  t.is(err?.name, 'LabStateError')
})

test('scalelb lab: usage errors exit 2, status of no lab exits 1, down of no lab exits 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const origErr = process.stderr.write.bind(process.stderr)
  let err = ''
  process.stderr.write = ((s: string) => { err += s; return true }) as typeof process.stderr.write
  try {
    t.is(await runLab(['sideways']), 2)
    t.is(await runLab(['up', 'down']), 2)
    t.is(await runLab(['--nodes', 'x', '--state-dir', dir]), 2, 'no command means up, and up checks --nodes')
    t.is(await runLab(['up', '--nodes', 'three', '--state-dir', dir]), 2)
    t.regex(err, /--nodes/)
    t.is(await runLab(['up', '--nodes', '0', '--state-dir', dir]), 2)
    t.is(await runLab(['up', '--bogus']), 2)
    t.is(await runLab(['status', '--state-dir', 'relative/dir']), 2)
    t.is(await runLab(['status', '--state-dir', dir]), 1)
    t.is(await runLab(['down', '--state-dir', dir]), 0)
  } finally {
    process.stderr.write = origErr
  }
})

test('labUp: SCALELB_LAB_PREFIX_HEAD is the prefix head when the caller names none, checked before anything is made', async (t) => {
  const { labUp } = await import('../../src/lab.js')
  process.env.SCALELB_LAB_PREFIX_HEAD = 'Bad!'
  try {
    await t.throwsAsync(labUp({ nodes: 1, stateDir: join(tmpdir(), 'slb-never-made'), mode: 'netns' }), { name: 'LabUsageError', message: /SCALELB_LAB_PREFIX_HEAD/ })
  } finally {
    delete process.env.SCALELB_LAB_PREFIX_HEAD
  }
})
