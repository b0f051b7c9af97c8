import test from 'ava'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createRootLogger } from '../../../src/logging/logger.js'
import { TABLE_NETWORKS, TABLE_SERVICES } from '../../../src/state/tables.js'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../../support/agents.js'

test('a task IP equal to another node\'s task IP, LB IP or to a VIP is refused (409 naming the holder)', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add()
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  const net = await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.30.0.0/24'] })
  await waitFor('B learns the network', () => b.agent.controller.listNetworks().length === 1)
  const svc = await b.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['front'] })
  const vip = svc.vips[0]?.vip as string
  await waitFor('A learns the service', () => a.agent.controller.listServices().length === 1)
  await b.agent.controller.addTask({ service: 'web', id: 'b1', ip: '10.30.0.77' })
  await a.agent.controller.addTask({ service: 'web', id: 'a1', ip: '10.30.0.60' })
  const lbB = b.agent.allocator.lbIp(net.id) as string
  await waitFor('A sees B\'s task and LB endpoints', () => {
    const ips = a.agent.controller.listTasks().map((x) => x.endpoints[0]?.ip)
    return ips.includes('10.30.0.77') && a.agent.gossip.entries(`network:${net.id}`).some((e) => !e.deleted && (e.value as { ip?: string } | undefined)?.ip === lbB)
  })
  const cases: Array<[string, RegExp]> = [
    ['10.30.0.77', /10\.30\.0\.77 is in use on network front: the address of task b1 on node /],
    [vip, /is in use on network front: the VIP of service web/],
    [lbB, /is in use on network front: the LB address of node /]
  ]
  for (const [ip, message] of cases) {
    const err = await t.throwsAsync(a.agent.controller.addTask({ service: 'web', id: `dup-${ip}`, ip }))
    t.is(err?.name, 'ConflictError', ip)
    t.is((err as Error & { field?: string }).field, 'ip')
    t.regex(err?.message ?? '', message)
  }
  // a VIP of a service another node wrote, outside this node's ranges (the old warning-only path)
  a.agent.gossip.set('cluster', TABLE_SERVICES, 'peer-svc', { name: 'peer', ports: [{ proto: 'tcp', port: 81, targetPort: 81 }], vips: { [net.id]: '10.30.0.250' } })
  await waitFor('B learns the peer service', () => b.agent.controller.listServices().length === 2)
  const err = await t.throwsAsync(b.agent.controller.addTask({ service: 'web', id: 'b2', ip: '10.30.0.250' }))
  t.regex(err?.message ?? '', /the VIP of service peer/)
  t.deepEqual(a.agent.controller.localTasks().map((x) => x.id), ['a1'], 'nothing was added')
  t.deepEqual(b.agent.controller.localTasks().map((x) => x.id), ['b1'])
})

test('a deleted network logs each local task it takes off it (warn, with ids)', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ logger: createRootLogger({ stream, level: 'warn' }) })
  const net = await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.31.0.0/24'] })
  const other = await a.agent.controller.createNetwork({ name: 'back', subnets: ['10.32.0.0/24'] })
  await a.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['front', 'back'] })
  await a.agent.controller.addTask({ service: 'web', id: 'only-front', ip: '10.31.0.9' })
  await a.agent.controller.addTask({ service: 'web', id: 'both', netns: '/run/netns/both' })
  // deleted elsewhere: the entry arrives through gossip
  a.agent.gossip.delete('cluster', TABLE_NETWORKS, net.id)
  await waitFor('the tasks are taken off the network', () => a.agent.controller.localTasks().every((x) => x.endpoints.every((e) => e.networkId === other.id)))
  const logged = lines.filter((l) => l.message === 'network deleted: local task taken off it')
  t.deepEqual(logged.map((l) => [l.level, l.networkId, l.task, l.taskRemoved]).sort(), [['warn', net.id, 'both', false], ['warn', net.id, 'only-front', true]])
  t.deepEqual(logged.find((l) => l.task === 'only-front')?.ips, ['10.31.0.9'])
  t.deepEqual(a.agent.controller.localTasks().map((x) => x.id), ['both'])
})

test('stray temp files of interrupted writes in the data dir are removed at start, nothing else', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const dataDir = join(cluster.dir, 'stray')
  await mkdir(dataDir, { recursive: true })
  await writeFile(join(dataDir, '.state.json.0123456789ab.tmp'), '{"half":')
  await writeFile(join(dataDir, '.api.token.ba9876543210.tmp'), 'x')
  await writeFile(join(dataDir, 'notes.tmp'), 'mine')
  await cluster.add({ dataDir })
  const names = await readdir(dataDir)
  // (the running agent's own in-flight write may show up under another random name)
  t.false(names.includes('.state.json.0123456789ab.tmp'), names.join(' '))
  t.false(names.includes('.api.token.ba9876543210.tmp'), names.join(' '))
  t.true(names.includes('notes.tmp'), 'a file that is not an atomic-write temp stays')
  t.true(names.includes('node.key'))
})
