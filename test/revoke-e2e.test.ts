/**
 * Revoking a member on a real cluster: a 3-host `scalelb lab` (agent
 * processes, libp2p with the cluster key, nft sandboxes, VXLAN). h3 holds
 * the cluster key and its node key; once the manager (h1) revokes it, the
 * other hosts withdraw its task from their LB sandboxes and drop its
 * connections; unrevoked, it serves again. Needs root.
 */
import test from 'ava'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot, rootTest, waitFor } from '@scalelb/test-support'
import { createPlainNetns, labApi, labDown, labUp, taskNetnsName, type LabState } from '../packages/lab/src/index.js'
import { addTask, host, waitReach, type Cluster } from './helpers/cluster.js'

let c: Cluster | undefined
let tmpParent: string | undefined

test.before(async () => {
  if (!isRoot) return
  tmpParent = await mkdtemp(join(tmpdir(), 'slbrev-e2e-'))
  const state: LabState = await labUp({ nodes: 3, stateDir: join(tmpParent, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'], requireAdmission: true })
  const cl: Cluster = { state, networks: new Map(), vips: new Map(), tasks: new Map(), taskNetworks: new Map(), clients: new Map() }
  c = cl
  const h1 = host(cl, 'h1')
  const net = await labApi.createNetwork(h1, 'front', ['10.94.0.0/24'])
  cl.networks.set('front', net.id)
  const svc = await labApi.createService(h1, 'web', ['front'], ['80:8080/tcp'])
  cl.vips.set('web', new Map([['front', labApi.vipOn(svc, 'front') as string]]))
  await addTask(cl, 'h1', 'web', 'web1', 'front')
  await addTask(cl, 'h3', 'web', 'web3', 'front')
  // a client on h2: an endpoint-only task on front, serving nothing
  const h2 = host(cl, 'h2')
  const ns = taskNetnsName(state, h2, 'client2')
  await createPlainNetns(state, ns)
  await waitFor('h2 knows network front', async () => await labApi.inspectNetwork(h2, 'front').then(() => true, () => false), { timeoutMs: 30_000 })
  await labApi.hostApi(h2).addTask({ id: 'client2', netns: `/run/netns/${ns}`, networks: ['front'] })
  cl.clients.set('h2', ns)
})

test.after.always(async () => {
  if (c !== undefined) await labDown(c.state)
  if (tmpParent !== undefined) await rm(tmpParent, { recursive: true, force: true })
})

rootTest.serial('a revoked host\'s task leaves every other sandbox and its connections are refused; unrevoked, it serves again', async (t) => {
  const cl = c as Cluster
  const [h1, h2, h3] = ['h1', 'h2', 'h3'].map((n) => host(cl, n))
  const client = cl.clients.get('h2') as string
  await waitReach(cl, [client], 'web', ['web1', 'web3'])
  const id3 = (await labApi.agentStatus(h3!)).node

  // only a manager may revoke; h2 is a worker
  const refused = await t.throwsAsync(labApi.hostApi(h2!).revokeMember(id3, { reason: 'x' }))
  t.is((refused as { status?: number }).status, 403)
  await labApi.hostApi(h1!).revokeMember(id3, { reason: 'e2e: host stolen' })
  await waitReach(cl, [client], 'web', ['web1'])
  const seen = (await labApi.listMembers(h2!)).find((m) => m.id === id3)
  t.is(seen?.state, 'left')
  t.is(seen?.revoked?.reason, 'e2e: host stolen')
  // h3 still runs with the cluster key, but nobody keeps a connection to it
  await waitFor('h3 sees no live member', async () => (await labApi.listMembers(h3!)).every((m) => m.self || m.state !== 'alive'), { timeoutMs: 60_000 })

  await labApi.hostApi(h1!).unrevokeMember(id3)
  await waitReach(cl, [client], 'web', ['web1', 'web3'], { timeoutMs: 60_000 })
  t.is((await labApi.listMembers(h2!)).find((m) => m.id === id3)?.revoked, undefined)
})
