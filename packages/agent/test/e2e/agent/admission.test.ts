// Admission on real agent processes (libp2p with the cluster key, memory
// programmer, loopback): where the cluster key file requires admission, a
// manager admits itself, a worker joins with the admission `scalelb keygen
// --admit` wrote for its `scalelb node-id`, a worker without one does not
// start, and a node holding the same pre-shared key and manager public key
// but no admission (an intruder with a copied cluster key, or a revoked
// member back under a new node key) runs, yet is no member anywhere and
// reads neither the member list nor the tables.
import test from 'ava'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ADMISSION_REQUIRED_LINE } from '@scalelb/gossip'
import { waitFor } from '@scalelb/test-support'
import { freePort } from '../../../../lab/src/index.js'
import { runCli } from '../../../src/cli/main.js'
import { cli, startAgentProcess, type AgentProcess } from './process.js'

async function run (...argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(argv, { io: { out: (s) => { out += s + '\n' }, err: (s) => { err += s + '\n' } }, env: {} })
  return { code, out, err }
}

interface Members { id: string, state: string, self?: boolean }

test('where admission is required, only admitted nodes are members; a node with the cluster key alone learns nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slb-adm-'))
  const procs: AgentProcess[] = []
  t.teardown(async () => {
    for (const p of procs) await p.stop('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })
  const clusterKey = join(dir, 'cluster.key')
  const managerKey = join(dir, 'manager.key')
  t.is((await run('keygen', '--out', clusterKey, '--manager-out', managerKey)).code, 0)
  // the intruder's copy of the cluster key, from before admission was required
  const openKey = join(dir, 'open-cluster.key')
  await writeFile(openKey, await readFile(clusterKey, 'utf8'), { mode: 0o600 })
  t.is((await run('keygen', '--require-admission', clusterKey)).code, 0)
  t.true((await readFile(clusterKey, 'utf8')).trimEnd().endsWith(ADMISSION_REQUIRED_LINE))

  const mPort = await freePort()
  const seed = `/ip4/127.0.0.1/tcp/${mPort}`
  const start = async (name: string, port: number, extra: string[], metricsPort = 0): Promise<AgentProcess> => {
    const dataDir = join(dir, name)
    const p = startAgentProcess(['--programmer', 'memory', '--data-dir', dataDir, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--metrics-addr', `127.0.0.1:${metricsPort}`, '--profile', 'local', ...extra])
    procs.push(p)
    await waitFor(`${name} answers`, async () => {
      if (p.child.exitCode !== null) throw new Error(`${name} exited: ${p.output()}`)
      return (await cli(join(dataDir, 'api.sock'), 'status')).code === 0
    }, { timeoutMs: 60_000 })
    return p
  }
  const members = async (name: string): Promise<Members[]> => JSON.parse((await cli(join(dir, name, 'api.sock'), 'members', '--json')).out) as Members[]

  const mMetrics = await freePort()
  await start('m', mPort, ['--cluster-key-file', clusterKey, '--manager-key-file', managerKey], mMetrics)
  t.is((await cli(join(dir, 'm', 'api.sock'), 'network', 'create', 'front', '--subnet', '10.91.0.0/24')).code, 0)

  // a worker without an admission is refused at start, told what to run
  const wDir = join(dir, 'w')
  const refused = startAgentProcess(['--programmer', 'memory', '--data-dir', wDir, '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`, '--metrics-addr', '127.0.0.1:0', '--cluster-key-file', clusterKey, '--join', seed])
  procs.push(refused)
  t.is(await refused.exited, 2, 'a configuration error: exit 2')
  t.regex(refused.output(), /--admission-file.*has no admission.*scalelb keygen --admit/)

  // admitted as an operator would: node-id on the worker's host, keygen --admit on the manager's
  const id = (await run('node-id', '--data-dir', wDir)).out.trim()
  t.is((await run('keygen', '--admit', id, '--manager-key', managerKey, '--cluster-key', clusterKey, '--out', join(wDir, 'admission'))).code, 0)
  await start('w', await freePort(), ['--cluster-key-file', clusterKey, '--join', seed])
  await waitFor('m and w see each other', async () => (await members('m')).filter((x) => x.state === 'alive').length === 2 && (await members('w')).filter((x) => x.state === 'alive').length === 2, { timeoutMs: 60_000 })
  await waitFor('w learned network front', async () => (await cli(join(wDir, 'api.sock'), 'network', 'inspect', 'front')).code === 0, { timeoutMs: 30_000 })

  // the intruder: same pre-shared key and manager public key, a node key of its own, no admission
  await start('x', await freePort(), ['--cluster-key-file', openKey, '--join', seed])
  const xId = (await run('node-id', '--data-dir', join(dir, 'x'))).out.trim()
  await new Promise((resolve) => setTimeout(resolve, 5000))
  for (const name of ['m', 'w']) t.false((await members(name)).some((x) => x.id === xId), `${name} does not list the intruder`)
  t.deepEqual((await members('x')).map((x) => x.id), [xId], 'the intruder learned no member')
  t.not((await cli(join(dir, 'x', 'api.sock'), 'network', 'inspect', 'front')).code, 0, 'the intruder read no network')
  const metrics = await (await fetch(`http://127.0.0.1:${mMetrics}/metrics`)).text()
  t.regex(metrics, /scalelb_gossip_dropped_messages_total\{reason="(member-not-admitted|not-admitted-peer)"\} [1-9]/)
})
