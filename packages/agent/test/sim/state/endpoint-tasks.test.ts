import test from 'ava'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster, type TestAgent } from '../../support/agents.js'

/** What a call throws: its name, field and message. */
async function refusal (p: Promise<unknown>): Promise<{ name: string, field?: string, message: string }> {
  try {
    await p
  } catch (err) {
    const e = err as Error & { field?: string }
    return { name: e.name, ...(e.field === undefined ? {} : { field: e.field }), message: e.message }
  }
  throw new Error('expected a refusal')
}

/** The slot table of `vip . tcp . port` in `node`'s sandbox on `networkId` (backend IPs, deduplicated, sorted). */
function backendsOf (node: TestAgent, networkId: string, vip: string, port: number): string[] | undefined {
  const slots = node.kernel.networks.get(networkId)?.lb?.services.get(`${vip} . tcp . ${port}`)
  return slots === undefined ? undefined : [...new Set(slots.ips)].sort()
}

/** The task IPs `node`'s allocator holds on `networkId`. */
function taskAllocations (node: TestAgent, networkId: string): string[] {
  return node.agent.allocator.allocations(networkId).filter((a) => a.kind === 'task').map((a) => a.address)
}

test('a task without a service is an endpoint only: it gets an address and the node its LB sandbox, it is a backend of nothing, other nodes see it', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add()
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  const net = await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.40.0.0/24'] })
  const svc = await a.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], networks: ['front'] })
  const vip = svc.vips[0]?.vip as string
  await waitFor('B learns the service', () => b.agent.controller.listServices().length === 1)

  const { task: client, created } = await a.agent.controller.addTask({ id: 'c'.repeat(64), networks: ['front'], netns: '/run/netns/client' })
  t.true(created)
  t.is(client.service, undefined)
  t.is(client.serviceId, undefined)
  t.is(client.endpoints[0]?.ifName, 'eth0')
  t.is(client.endpoints[0]?.hostIfName, 'mem-0', 'the host end of its veth, as the plumber named it')
  const clientIp = client.endpoints[0]?.ip as string
  t.is(a.plumber.attached.get(`${net.id}|/run/netns/client`)?.address, `${clientIp}/24`, 'plugged in as task add --netns does')
  const { task: web } = await b.agent.controller.addTask({ service: 'web', id: 'w1', netns: '/run/netns/w1' })
  const webIp = web.endpoints[0]?.ip as string

  await waitFor('A programs its sandbox on front with B\'s backend only', () => backendsOf(a, net.id, vip, 80)?.join() === webIp)
  t.truthy(a.agent.allocator.lbIp(net.id), 'A holds an LB IP on front for the endpoint-only task')
  await waitFor('B lists the endpoint-only task of A, without a service', () => b.agent.controller.listTasks().some((x) => x.id === client.id && x.service === undefined))
  t.deepEqual(b.agent.controller.listTasks({ service: 'web' }).map((x) => x.id), ['w1'], 'filtered by service: not the endpoint')
  t.deepEqual(backendsOf(b, net.id, vip, 80), [webIp], 'B\'s sandbox neither')

  // the endpoint-only task alone keeps A's sandbox: once it goes, the network's local tasks are gone
  await a.agent.controller.removeTask(client.id)
  t.deepEqual(taskAllocations(a, net.id), [], 'its address is released')
  t.is(a.plumber.attached.size, 0)
})

test('an endpoint-only task needs networks; a network named twice is one endpoint; ifname names the interface of a one-network task only', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.41.0.0/24'] })
  await a.agent.controller.createNetwork({ name: 'back', subnets: ['10.42.0.0/24'] })
  t.like(await refusal(a.agent.controller.addTask({ netns: '/run/netns/x' })), { name: 'ValidationError', field: 'networks' })
  t.like(await refusal(a.agent.controller.addTask({ networks: ['nope'], netns: '/run/netns/x' })), { name: 'NotFoundError', field: 'networks[0]' })
  const twice = await a.agent.controller.addTask({ id: 't2', networks: ['front', 'front'], netns: '/run/netns/t2', ifname: 'net1' })
  t.deepEqual(twice.task.endpoints.map((e) => [e.network, e.ifName]), [['front', 'net1']])
  const both = await refusal(a.agent.controller.addTask({ id: 't3', networks: ['front', 'back'], netns: '/run/netns/t3', ifname: 'net1' }))
  t.like(both, { name: 'ValidationError', field: 'ifname' })
  t.regex(both.message, /one network; this one gets 2 \(eth0\.\.eth1\)/)
  t.deepEqual(a.agent.controller.localTasks().map((x) => x.id), ['t2'], 'nothing half-added')
})

test('a second add with the same id: the same parameters return the task (not created), other ones a conflict naming the field', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.43.0.0/24'] })
  await a.agent.controller.createNetwork({ name: 'back', subnets: ['10.44.0.0/24'] })
  await a.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['front', 'back'] })
  const req = { id: 'ctr1', service: 'web', networks: ['front'], netns: '/run/netns/ctr1', ifname: 'eth0' }
  const first = await a.agent.controller.addTask(req)
  const again = await a.agent.controller.addTask({ ...req })
  t.false(again.created)
  t.deepEqual(again.task, first.task)
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ service: undefined }, 'service', /exists for service web, not none/],
    [{ netns: '/run/netns/other' }, 'netns', /exists with netns \/run\/netns\/ctr1, not \/run\/netns\/other/],
    [{ networks: ['back'] }, 'networks', /exists on networks front, not back/],
    [{ ifname: 'net1' }, 'ifname', /exists with interface eth0, not net1/]
  ]
  for (const [change, field, message] of cases) {
    const r = await refusal(a.agent.controller.addTask({ ...req, ...change }))
    t.is(r.name, 'ConflictError', field)
    t.is(r.field, field)
    t.regex(r.message, message)
  }
  const plain = await a.agent.controller.addTask({ id: 'ep1', networks: ['front'], netns: '/run/netns/ep1' })
  t.like(await refusal(a.agent.controller.addTask({ id: 'ep1', service: 'web', networks: ['front'], netns: '/run/netns/ep1' })), { name: 'ConflictError', field: 'service', message: 'service: task ep1 exists for service none, not web' })
  t.false((await a.agent.controller.addTask({ id: 'ep1', networks: ['front'], netns: '/run/netns/ep1' })).created)
  t.is(plain.task.endpoints.length, 1)
})

test('remove after a restart and for a netns already gone: addresses released, links detached, a second remove is NotFoundError on field task', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const first = await cluster.add()
  const net = await first.agent.controller.createNetwork({ name: 'front', subnets: ['10.45.0.0/24'] })
  await first.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['front'] })
  const id = 'a'.repeat(64)
  await first.agent.controller.addTask({ id, networks: ['front'], netns: '/run/netns/gone' })
  await first.agent.controller.addTask({ id: 'w1', service: 'web', netns: '/run/netns/w1' })
  await first.agent.flush()
  await first.agent.stop()

  // the same data dir: the tasks come back from the state file
  const a = await cluster.add({ dataDir: first.dataDir })
  t.deepEqual(a.agent.controller.listTasks().map((x) => [x.id, x.service]), [[id, undefined], ['w1', 'web']])
  t.is(taskAllocations(a, net.id).length, 2)
  t.like(a.agent.controller.inspectTask(id), { id, netns: '/run/netns/gone', endpoints: [{ network: 'front', ifName: 'eth0' }] })
  // the netns of `id` is gone: detaching fails; the remove still succeeds
  const detach = a.plumber.detach.bind(a.plumber)
  a.plumber.detach = async (d) => {
    if (d.netnsPath === '/run/netns/gone') throw new Error(`Cannot open network namespace "${d.netnsPath}": No such file or directory`)
    await detach(d)
  }
  await a.agent.controller.removeTask(id)
  t.is(taskAllocations(a, net.id).length, 1, 'its address is released')
  t.deepEqual(a.agent.controller.localTasks().map((x) => x.id), ['w1'])
  t.like(await refusal(a.agent.controller.removeTask(id)), { name: 'NotFoundError', field: 'task' })
  t.like(await refusal(Promise.resolve().then(() => a.agent.controller.inspectTask(id))), { name: 'NotFoundError', field: 'task' })
  await a.agent.controller.removeTask('w1')
  t.deepEqual(taskAllocations(a, net.id), [])
})
