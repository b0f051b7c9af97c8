import { rootTest } from '@scalelb/test-support'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { run } from '../../src/exec.js'
import { labDown, labLeftovers } from '../../src/lab.js'
import { LAB_STATE_VERSION } from '../../src/constants.js'
import { saveLabState, loadLabState, type LabState } from '../../src/state.js'
import { createBridge, createUnderlayNetns, labNetnsName, underlayIp } from '../../src/underlay.js'
import { spawnDetached, isRunning } from '../../src/procs.js'


async function emptyState (): Promise<LabState> {
  const dir = await mkdtemp(join(tmpdir(), 'slb-lab-'))
  const id = randomBytes(2).toString('hex')
  return {
    version: LAB_STATE_VERSION, id, prefix: `sl${id}`, mode: 'netns', dir, bridge: undefined,
    underlayCidr: `172.31.${parseInt(id.slice(0, 2), 16)}.0/24`, clusterKeyFile: join(dir, 'cluster.key'),
    agentCommand: [process.execPath], createdAt: new Date().toISOString(),
    hosts: [], helpers: [], processes: [], netns: [], links: []
  }
}

/** Connect from netns `ns` to ip:port over TCP and read what the server says. */
async function tcpRead (ns: string, ip: string, port: number): Promise<string | undefined> {
  const script = `const s = require('node:net').connect(${port}, '${ip}'); let d = ''; s.setTimeout(2000, () => process.exit(1)); s.on('data', (c) => { d += c }); s.on('end', () => { process.stdout.write(d); process.exit(0) }); s.on('error', () => process.exit(1))`
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { allowFail: true })
  return r.ok ? r.stdout : undefined
}

const SERVER = (ip: string, port: number): string => `require('node:net').createServer((s) => s.end('hello from ' + '${ip}')).listen(${port}, '${ip}')`

rootTest('underlay: hosts reach each other over the switch bridge, nothing is added to the root netns, lab down removes everything (needs root)', async (t) => {
  const state = await emptyState()
  t.teardown(async () => {
    await labDown(state)
    await rm(state.dir, { recursive: true, force: true })
  })
  await createBridge(state)
  const names = [1, 2, 3].map((k) => labNetnsName(state.prefix, `h${k}`))
  for (const [i, ns] of names.entries()) await createUnderlayNetns(state, ns, underlayIp(state.underlayCidr as string, i + 1))
  const ip3 = underlayIp(state.underlayCidr as string, 3)
  // a server in h3, recorded in the state as the lab records its processes: lab down must stop it
  const proc = spawnDetached({ argv: [process.execPath, '-e', SERVER(ip3, 7777)], netns: names[2], logFile: join(state.dir, 'server.log') })
  state.processes.push({ role: 'test', name: 'server', pid: proc.pid, pidStart: proc.pidStart, netns: names[2] })
  await saveLabState(state)
  let got: string | undefined
  for (let i = 0; i < 50 && got === undefined; i++) got = await tcpRead(names[0] as string, ip3, 7777)
  t.is(got, `hello from ${ip3}`, 'h1 reaches a server on h3 over the underlay')
  t.is(await tcpRead(names[1] as string, ip3, 7777), `hello from ${ip3}`, 'h2 too')
  t.deepEqual((await labLeftovers(state.prefix)).links, [], 'nothing of the lab is in the root netns')
  const sw = await run('ip', ['-n', `${state.prefix}-sw`, '-o', 'addr', 'show'])
  t.false(/inet (?!127\.)/.test(sw.stdout), 'the switch netns holds no address')

  const reloaded = await loadLabState(state.dir)
  t.deepEqual(reloaded?.netns, [`${state.prefix}-sw`, ...names])

  const report = await labDown(reloaded as LabState)
  t.false(isRunning(proc), 'the process is gone')
  t.is(report.processesStopped, 1)
  t.deepEqual(report.netnsRemoved.sort(), [`${state.prefix}-sw`, ...names].sort())
  t.deepEqual(await labLeftovers(state.prefix), { netns: [], links: [] })
  t.is(await loadLabState(state.dir), undefined, 'the state file is gone')
})
