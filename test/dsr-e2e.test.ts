/**
 * Direct server return end to end: a 2-host `scalelb lab` (real agents,
 * VXLAN, nft sandboxes) with a network created `--opt dsr=true`. Clients on
 * both hosts reach every task of a service through its VIP, the client's
 * sandbox tracks none of those connections (requests leave it at `lb0`'s
 * ingress hook, replies never enter it), and a task's VIP plumbing goes
 * with the task (`task rm`) and with its agent (`scalelb leave`). Needs root.
 */
import test from 'ava'
import { isRoot, rootTest, waitFor } from '@scalelb/test-support'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { labApi, labDown, labRun, labUp, type LabHost } from '../packages/lab/src/index.js'
import { addTask, host, lbSandboxes, waitReach, type Cluster } from './helpers/cluster.js'

const serial = rootTest.serial
const WEB = ['web-1', 'web-2']
let c: Cluster | undefined
let tmpParent: string | undefined

function cluster (): Cluster {
  if (c === undefined) throw new Error('the lab did not come up (see the first failure)')
  return c
}

test.before(async () => {
  if (!isRoot) return
  tmpParent = await mkdtemp(join(tmpdir(), 'slb-dsr-e2e-'))
  const state = await labUp({ nodes: 2, stateDir: join(tmpParent, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'], ...(process.env.SCALELB_TEST_NETNS_HEAD === undefined ? {} : { prefixHead: process.env.SCALELB_TEST_NETNS_HEAD }) })
  const cl: Cluster = { state, networks: new Map(), vips: new Map(), tasks: new Map(), taskNetworks: new Map(), clients: new Map() }
  c = cl
  const h1 = state.hosts[0] as LabHost
  cl.networks.set('front', (await labApi.createNetwork(h1, 'front', ['10.93.0.0/24'], { dsr: 'true' })).id)
  for (const [name, port] of [['web', '80:8080/tcp'], ['client', '7:7/tcp']] as const) {
    const s = await labApi.createService(h1, name, ['front'], [port])
    cl.vips.set(name, new Map(s.vips.map((v) => [v.network, v.vip])))
  }
  for (const [i, w] of WEB.entries()) await addTask(cl, `h${i + 1}`, 'web', w, 'front')
  for (const h of state.hosts) cl.clients.set(h.name, (await addTask(cl, h.name, 'client', `client-${h.name}`, 'front', false)).netns)
})

test.after.always(async () => {
  if (c !== undefined) await labDown(c.state)
  if (tmpParent !== undefined) await rm(tmpParent, { recursive: true, force: true })
})

async function sandboxOf (cl: Cluster, hostName: string): Promise<string> {
  const [ns] = await lbSandboxes(host(cl, hostName), cl.networks.get('front') as string)
  if (ns === undefined) throw new Error(`${hostName} has no sandbox on front`)
  return ns
}

/**
 * TCP connections the sandbox's conntrack holds. Only TCP: the sandbox is
 * also the bridge's own stack (the overlay netns, by default), which sees
 * link-local multicast such as IGMP reports and tracks them.
 */
async function conntrackCount (ns: string): Promise<number> {
  const table = (await labRun('ip', ['netns', 'exec', ns, 'cat', '/proc/net/nf_conntrack'])).stdout
  return table.split('\n').filter((l) => / tcp +6 /.test(l)).length
}

async function loAddresses (ns: string): Promise<string> {
  return (await labRun('ip', ['-n', ns, '-4', 'addr', 'show', 'dev', 'lo'])).stdout
}

serial('on a dsr=true network every client reaches every task through the VIP, and the sandboxes track none of it', async (t) => {
  const cl = cluster()
  const vip = cl.vips.get('web')?.get('front') as string
  // each task holds the VIP on lo (the plumber), its endpoint says so, so every sandbox forwards to it directly
  for (const w of WEB) t.true((await loAddresses(cl.tasks.get(w)?.netns as string)).includes(`${vip}/32`), w)
  await waitReach(cl, [...cl.clients.values()], 'web', WEB)
  for (const h of ['h1', 'h2']) {
    const ns = await sandboxOf(cl, h)
    t.regex((await labRun('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables', 'netdev'])).stdout, /table netdev scalelb_/, `${h}'s sandbox has no DSR table`)
    t.is(await conntrackCount(ns), 0, `${h}'s sandbox tracked a connection`)
  }
})

serial('task rm takes the VIP off the task\'s netns; leave takes it off every task of the node', async (t) => {
  const cl = cluster()
  const vip = cl.vips.get('web')?.get('front') as string
  const w1 = cl.tasks.get('web-1')
  if (w1 === undefined) throw new Error('no web-1')
  await labApi.removeTask(w1.host, 'web-1')
  t.false((await loAddresses(w1.netns)).includes(vip))
  t.notRegex((await labRun('ip', ['-n', w1.netns, 'rule', 'show'])).stdout, /lookup 23713/)
  await waitReach(cl, [...cl.clients.values()], 'web', ['web-2'])
  const w2 = cl.tasks.get('web-2')
  if (w2 === undefined) throw new Error('no web-2')
  await labApi.hostApi(w2.host).leave()
  await waitFor('web-2\'s VIP is gone with its agent', async () => !(await loAddresses(w2.netns)).includes(vip), { timeoutMs: 30_000 })
  t.pass()
})
