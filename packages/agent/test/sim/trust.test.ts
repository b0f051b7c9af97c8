/**
 * Trust between members (issue 10): managers and workers of one cluster, as
 * the agent's authority policy and the gossip tables' signatures enforce it.
 */
import test from 'ava'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateNodeKey, peerIdFromKey, createGossip, createSeededRng, createSystemClock } from '@scalelb/gossip'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../support/agents.js'
import { lbEndpointKey, taskEndpointKey } from '../../src/state/tables.js'
import { runCli } from '../../src/cli/main.js'

const WEB = { name: 'web', ports: [{ proto: 'tcp' as const, port: 80, targetPort: 80 }], networks: ['front'] }

test('a manager restarted as a worker does not republish its networks and services; an endpoint persisted under an older key shape is not republished', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const net = await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.51.0.0/24'] })
  await a.agent.controller.createService(WEB)
  await a.agent.controller.addTask({ service: 'web', ip: '10.51.0.100', id: 't1' })
  await a.agent.stop()
  // an entry an older agent wrote: its task endpoint keyed by the bare task ID
  const statePath = join(a.dataDir, 'state.json')
  const state = JSON.parse(await readFile(statePath, 'utf8')) as { ownEntries: Array<{ scope: string, table: string, key: string, value: unknown }> }
  const own = state.ownEntries.find((e) => e.key === taskEndpointKey(a.agent.id, 't1'))
  t.truthy(own, 'the task endpoint was persisted under its node-named key')
  state.ownEntries.push({ ...own as { scope: string, table: string, key: string, value: unknown }, key: 't-old' })
  await writeFile(statePath, JSON.stringify(state))

  const a2 = await cluster.add({ dataDir: a.dataDir, kernel: a.kernel, role: 'worker' })
  t.is(a2.agent.status().role, 'worker')
  const scope = `network:${net.id}` as const
  const keys = a2.agent.gossip.entries(scope, 'endpoints').map((e) => e.key).sort()
  t.deepEqual(keys, [taskEndpointKey(a2.agent.id, 't1'), lbEndpointKey(a2.agent.id)].sort(), 'the local task and LB are republished, the old key is not')
  t.deepEqual(a2.agent.gossip.entries('cluster', 'networks').filter((e) => e.origin === a2.agent.id), [], 'a worker does not write networks')
  t.deepEqual(a2.agent.gossip.entries('cluster', 'services').filter((e) => e.origin === a2.agent.id), [])
})

test('a worker\'s own tables refuse a network or service write or delete, and nobody may delete another node\'s endpoint', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const m = await cluster.add()
  const w = await cluster.add({ role: 'worker' })
  await w.agent.gossip.join([`mem://${m.agent.id}`])
  const net = await m.agent.controller.createNetwork({ name: 'front', subnets: ['10.52.0.0/24'] })
  const svc = await m.agent.controller.createService(WEB)
  await waitFor('the worker learns the service', () => w.agent.controller.listServices().length === 1)
  await m.agent.controller.addTask({ service: 'web', ip: '10.52.0.100', id: 'm1' })
  await w.agent.controller.addTask({ service: 'web', ip: '10.52.0.101', id: 'w1' })
  const scope = `network:${net.id}` as const
  await waitFor('each sees the other\'s task', () => m.agent.controller.listTasks().length === 2 && w.agent.controller.listTasks().length === 2)

  t.is(t.throws(() => w.agent.gossip.set('cluster', 'networks', 'evil', { name: 'evil', subnets: ['10.53.0.0/24'], vni: 9999, options: {} }))?.name, 'NotManagerError')
  t.is(t.throws(() => w.agent.gossip.delete('cluster', 'networks', net.id))?.name, 'NotManagerError')
  t.is(t.throws(() => w.agent.gossip.set('cluster', 'services', svc.id, { name: 'web', ports: [], vips: { [net.id]: '10.52.0.200' } }))?.name, 'NotManagerError')
  t.is(t.throws(() => w.agent.gossip.delete('cluster', 'services', svc.id))?.name, 'NotManagerError')
  t.truthy(t.throws(() => w.agent.gossip.delete(scope, 'endpoints', taskEndpointKey(m.agent.id, 'm1'))), 'a worker deletes no other node\'s endpoint')
  t.truthy(t.throws(() => m.agent.gossip.delete(scope, 'endpoints', taskEndpointKey(w.agent.id, 'w1'))), 'nor does a manager')
  t.truthy(t.throws(() => w.agent.gossip.set('cluster', 'nodes', m.agent.id, { underlay: '10.0.0.66', version: '0.1.0' })), 'nor rewrite another node\'s underlay')
})

test('unsigned entries of a member that ignores the policy are refused: its network never reaches the agents', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const m = await cluster.add()
  // a member running gossip without keys or policy (a modified agent holding the transport's secrets)
  const rogueId = peerIdFromKey(await generateNodeKey())
  const rogue = createGossip({ transport: cluster.net.transport(rogueId), clock: createSystemClock(), rng: createSeededRng(7), profile: 'local' })
  await rogue.start()
  t.teardown(async () => { await rogue.stop() })
  await rogue.join([`mem://${m.agent.id}`])
  rogue.set('cluster', 'networks', 'evil', { name: 'evil', subnets: ['10.54.0.0/24'], vni: 9999, options: {} })
  // a round trip after the write: the manager's network reaching the rogue means they have gossiped since
  await m.agent.controller.createNetwork({ name: 'front', subnets: ['10.55.0.0/24'] })
  await waitFor('the rogue learns the manager\'s network', () => rogue.entries('cluster', 'networks').some((e) => e.origin === m.agent.id))
  // its unsigned alive never makes it a member here, so its entries are refused as of an unknown origin (or unsigned)
  const refused = (): number => ['member-unsigned', 'unknown-origin', 'unsigned'].reduce((n, r) => n + (m.agent.gossip.stats().dropped[r] ?? 0), 0)
  await waitFor('the rogue\'s gossip refused by the manager', () => refused() > 0)
  t.deepEqual(m.agent.controller.listNetworks().map((n) => n.name), ['front'])
})

test('a revoked worker is out on every node: its task withdrawn, its later writes refused; a worker cannot revoke; unrevoked, it is back', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const m = await cluster.add()
  const w = await cluster.add({ role: 'worker' })
  const r = await cluster.add({ role: 'worker' })
  await w.agent.gossip.join([`mem://${m.agent.id}`])
  await r.agent.gossip.join([`mem://${m.agent.id}`])
  await m.agent.controller.createNetwork({ name: 'front', subnets: ['10.56.0.0/24'] })
  await m.agent.controller.createService(WEB)
  await waitFor('the workers learn the network and the service', () => [w, r].every((x) => x.agent.controller.listServices().length === 1 && x.agent.controller.listNetworks().length === 1))
  await m.agent.controller.addTask({ service: 'web', ip: '10.56.0.10', id: 'm1' })
  await w.agent.controller.addTask({ service: 'web', ip: '10.56.0.11', id: 'w1' })
  await r.agent.controller.addTask({ service: 'web', ip: '10.56.0.100', id: 'r1' })
  const tasks = (x: typeof m): string[] => x.agent.controller.listTasks().map((k) => k.id).sort()
  await waitFor('m and w see r\'s task', () => [m, w].every((x) => tasks(x).join() === 'm1,r1,w1'))

  t.is(t.throws(() => w.agent.revocations.revoke(r.agent.id, 'x'))?.name, 'NotManagerError', 'a worker may not revoke')
  t.is(t.throws(() => m.agent.revocations.revoke(m.agent.id, undefined))?.name, 'ValidationError', 'nor a manager itself')
  t.is(t.throws(() => m.agent.revocations.revoke('not-a-peer-id', undefined))?.name, 'ValidationError')
  t.is(t.throws(() => m.agent.revocations.unrevoke(r.agent.id))?.name, 'NotFoundError', 'r is not revoked yet')

  const rev = m.agent.revocations.revoke(r.agent.id, 'host stolen')
  t.is(rev.reason, 'host stolen')
  await waitFor('m and w withdraw r\'s task and hold r left', () => [m, w].every((x) => tasks(x).join() === 'm1,w1' && x.agent.members().find((y) => y.id === r.agent.id)?.state === 'left'))
  t.deepEqual(w.agent.members().find((y) => y.id === r.agent.id)?.revoked?.reason, 'host stolen')
  t.regex(await w.agent.metrics.registry.getSingleMetricAsString('scalelb_revoked_members'), /^scalelb_revoked_members 1$/m)
  // r still holds the cluster key and its node key: what it writes now goes nowhere
  await r.agent.controller.addTask({ service: 'web', ip: '10.56.0.101', id: 'r2' })
  await new Promise((resolve) => setTimeout(resolve, 1500))
  for (const x of [m, w]) {
    t.deepEqual(tasks(x), ['m1', 'w1'], 'r\'s new task is nowhere')
    const d = x.agent.gossip.stats().dropped
    t.true((d['revoked-peer'] ?? 0) + (d['revoked-origin'] ?? 0) > 0, 'r\'s traffic was dropped')
  }

  m.agent.revocations.unrevoke(r.agent.id)
  await waitFor('r is back: its two tasks are seen again', () => [m, w].every((x) => tasks(x).join() === 'm1,r1,r2,w1'))
  t.is(w.agent.members().find((y) => y.id === r.agent.id)?.revoked, undefined)
  t.regex(await w.agent.metrics.registry.getSingleMetricAsString('scalelb_revoked_members'), /^scalelb_revoked_members 0$/m)
})

test('the manager key is rotated without losing a network or service: a second key beside the first, resign, the first dropped; the old key is refused after', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const keygen = async (...argv: string[]): Promise<void> => {
    let err = ''
    const code = await runCli(['keygen', ...argv], { io: { out: () => {}, err: (s) => { err += s } }, env: {} })
    t.is(code, 0, err)
  }
  const m1 = await cluster.add()
  const w = await cluster.add({ role: 'worker' })
  await w.agent.gossip.join([`mem://${m1.agent.id}`])
  await m1.agent.controller.createNetwork({ name: 'front', subnets: ['10.57.0.0/24'] })
  await m1.agent.controller.createService(WEB)
  await waitFor('the worker learns both', () => w.agent.controller.listNetworks().length === 1 && w.agent.controller.listServices().length === 1)

  // 1. a second manager key beside the first; the worker restarts with the new file; a manager starts with the new key and re-signs
  const newKey = join(cluster.dir, 'manager2.key')
  await keygen('--add-manager', cluster.clusterKeyFile, '--manager-out', newKey)
  await w.agent.stop()
  const w2 = await cluster.add({ dataDir: w.dataDir, kernel: w.kernel, role: 'worker', join: [`mem://${m1.agent.id}`] })
  const m2 = await cluster.add({ flags: { 'manager-key-file': newKey }, join: [`mem://${m1.agent.id}`] })
  await waitFor('the new manager learns both', () => m2.agent.controller.listNetworks().length === 1 && m2.agent.controller.listServices().length === 1)
  t.deepEqual(m2.agent.controller.resignManagerEntries(), { networks: 1, services: 1, revoked: 0 })
  await waitFor('the worker holds the re-signed entries', () => ['networks', 'services'].every((tb) => { const es = w2.agent.gossip.entries('cluster', tb); return es.length === 1 && es.every((e) => e.origin === m2.agent.id) }))
  t.is(t.throws(() => w2.agent.controller.resignManagerEntries())?.name, 'NotManagerError', 'a worker signs nothing')

  // 2. the old key dropped: the worker restarts with the file that lists only the new key
  await keygen('--drop-manager', cluster.clusterKeyFile, '--manager-key', cluster.managerKeyFile)
  await w2.agent.stop()
  const w3 = await cluster.add({ dataDir: w.dataDir, kernel: w.kernel, role: 'worker', join: [`mem://${m2.agent.id}`] })
  await waitFor('the worker has the network and the service again, from the re-signed entries', () => w3.agent.controller.listNetworks().length === 1 && w3.agent.controller.listServices().length === 1)
  // m1 still runs with the old key in memory: what it signs now is refused by the worker
  await m1.agent.controller.createNetwork({ name: 'old-key', subnets: ['10.58.0.0/24'] })
  await waitFor('m2 (both keys still in memory) learns it', () => m2.agent.controller.listNetworks().length === 2)
  await waitFor('the worker refuses it', () => (w3.agent.gossip.stats().dropped['bad-signature'] ?? 0) + (w3.agent.gossip.stats().dropped['not-manager'] ?? 0) > 0)
  t.deepEqual(w3.agent.controller.listNetworks().map((n) => n.name), ['front'])
  // and a manager cannot start with the retired key
  await m1.agent.stop()
  const refused = await t.throwsAsync(cluster.add({ dataDir: m1.dataDir, kernel: m1.kernel }))
  t.regex(refused?.message ?? '', /not the manager key of this cluster/)
})
