import test from 'ava'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster, type TestAgent } from '../support/agents.js'

/** Backend IPs with at least one slot in a node's sandbox for a network. */
function backendIps (t: TestAgent, networkId: string): string[] {
  const lb = t.kernel.networks.get(networkId)?.lb
  if (lb === undefined) return []
  return [...new Set([...lb.services.values()].flatMap((table) => table.ips))].sort()
}

function hasSandbox (t: TestAgent, networkId: string): boolean {
  return t.kernel.networks.get(networkId)?.lb !== undefined
}

test('three agents converge: backends everywhere, LB IP only where tasks run, drain and remove propagate', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add()
  const c = await cluster.add({ role: 'worker' })
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  await c.agent.gossip.join([`mem://${a.agent.id}`])
  await waitFor('3 alive members everywhere', () => [a, b, c].every((x) => x.agent.members().filter((m) => m.state === 'alive').length === 3))

  const net = await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.20.0.0/24'] })
  await waitFor('B and C learn the network', () => [b, c].every((x) => x.agent.controller.listNetworks().some((n) => n.id === net.id)))
  // B owns no address space yet: the VIP comes from a donation by A
  const svc = await b.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], networks: ['front'] })
  t.regex(svc.vips[0]?.vip ?? '', /^10\.20\.0\./)
  await waitFor('A learns the service', () => a.agent.controller.listServices().length === 1)

  const ta = await a.agent.controller.addTask({ service: 'web', netns: '/run/netns/task-a' })
  const tb = await b.agent.controller.addTask({ service: 'web', netns: '/run/netns/task-b' })
  const ipA = ta.task.endpoints[0]?.ip as string
  const ipB = tb.task.endpoints[0]?.ip as string
  t.not(ipA, ipB)
  t.true(a.plumber.attached.has(`${net.id}|/run/netns/task-a`), 'the task netns was plugged into the network')

  await waitFor('A and B program both backends', async () => {
    await a.agent.flush()
    await b.agent.flush()
    return backendIps(a, net.id).join() === [ipA, ipB].sort().join() && backendIps(b, net.id).join() === [ipA, ipB].sort().join()
  })
  // each task's endpoint key names its node; every node lists the task under its own ID
  t.true(a.agent.gossip.entries(`network:${net.id}`, 'endpoints').some((e) => e.key === `${b.agent.id}/${tb.task.id}` && e.origin === b.agent.id))
  t.like(a.agent.controller.listTasks().find((x) => x.id === tb.task.id), { node: b.agent.id, status: 'live', endpoints: [{ ip: ipB }] })
  t.like(b.agent.controller.listTasks().find((x) => x.id === ta.task.id), { node: a.agent.id, status: 'live', endpoints: [{ ip: ipA }] })
  t.false(hasSandbox(c, net.id), 'C has no local task: no sandbox')
  t.is(c.agent.allocator.lbIp(net.id), undefined, 'C has no LB IP')
  t.truthy(a.agent.allocator.lbIp(net.id))
  t.truthy(b.agent.allocator.lbIp(net.id))
  t.not(a.agent.allocator.lbIp(net.id), b.agent.allocator.lbIp(net.id))
  // the service's VIP is held by both sandboxes
  t.deepEqual(a.kernel.networks.get(net.id)?.lb?.vips, [svc.vips[0]?.vip])

  // re-adding the same task is not an error and changes nothing
  const again = await a.agent.controller.addTask({ service: 'web', netns: '/run/netns/task-a' })
  t.false(again.created)
  t.is(again.task.id, ta.task.id)

  // drain A's task: no new connections anywhere (no slots), the entry stays
  a.agent.controller.setTaskState(ta.task.id, 'draining')
  await waitFor('B stops sending to the drained task', async () => {
    await b.agent.flush()
    return backendIps(b, net.id).join() === ipB
  })
  t.is(b.agent.controller.listTasks().find((x) => x.id === ta.task.id)?.state, 'draining')

  // remove B's only task: B's sandbox goes, A withdraws the backend
  await b.agent.controller.removeTask(tb.task.id)
  await waitFor('B removes its sandbox and A withdraws B\'s backend', async () => {
    await a.agent.flush()
    await b.agent.flush()
    return !hasSandbox(b, net.id) && backendIps(a, net.id).length === 0
  })
  t.false(b.plumber.attached.has(`${net.id}|/run/netns/task-b`), 'the task netns was unplugged')
})

test('a network is refused for deletion while a worker has tasks, and --force on the manager cleans up everywhere', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add({ role: 'worker' })
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  const net = await a.agent.controller.createNetwork({ name: 'back', subnets: ['10.30.0.0/24'] })
  await a.agent.controller.createService({ name: 'db', ports: [{ proto: 'tcp', port: 5432, targetPort: 5432 }], networks: ['back'] })
  await waitFor('B learns the service', () => b.agent.controller.listServices().length === 1)
  await b.agent.controller.addTask({ service: 'db', netns: '/run/netns/db1' })
  await waitFor('A sees B in the network scope', () => a.agent.controller.inspectNetwork('back').nodes.includes(b.agent.id))
  const err = await t.throwsAsync(a.agent.controller.removeNetwork('back', { force: false }))
  t.is(err?.name, 'ConflictError')
  await a.agent.controller.removeNetwork('back', { force: true })
  await waitFor('B drops its task and sandbox', async () => {
    await b.agent.flush()
    return b.agent.controller.localTasks().length === 0 && !hasSandbox(b, net.id) && b.agent.controller.listNetworks().length === 0
  })
})

test('the LB IP is released after the grace when the last local task leaves, and the node leaves the network scope', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ lbReleaseGraceMs: 300 })
  const b = await cluster.add({ lbReleaseGraceMs: 300, role: 'worker' })
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  const net = await a.agent.controller.createNetwork({ name: 'lazy', subnets: ['10.35.0.0/24'] })
  await a.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['lazy'] })
  await waitFor('B learns the service', () => b.agent.controller.listServices().length === 1)
  const tb = await b.agent.controller.addTask({ service: 'web', netns: '/run/netns/lazy-b' })
  const lbB = b.agent.allocator.lbIp(net.id) as string
  t.truthy(lbB)
  await waitFor('A sees B\'s LB endpoint', () => a.agent.controller.inspectNetwork('lazy').nodes.includes(b.agent.id))
  await b.agent.controller.removeTask(tb.task.id)
  await waitFor('B releases its LB IP and leaves the scope', () => b.agent.allocator.lbIp(net.id) === undefined && !b.agent.gossip.scopes().includes(`network:${net.id}`))
  await waitFor('A no longer counts B in the network', () => !a.agent.controller.inspectNetwork('lazy').nodes.includes(b.agent.id))
  t.is(b.agent.allocator.counts(net.id).lb, 0, 'no LB IP where no task runs')
})

test('a peer\'s malformed or forged endpoint is ignored and counted, the rest keeps working', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add({ role: 'worker' })
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  const net = await a.agent.controller.createNetwork({ name: 'trust', subnets: ['10.45.0.0/24'] })
  const svc = await a.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['trust'] })
  const ta = await a.agent.controller.addTask({ service: 'web', netns: '/run/netns/trust-a' })
  await waitFor('B learns the network', () => b.agent.controller.listNetworks().length === 1)
  // B writes, under its own keys, garbage and an endpoint claiming to be on A (another node's
  // key it cannot write at all once the tables enforce the authority policy: trust.test.ts)
  const scope = `network:${net.id}` as const
  b.agent.gossip.joinScope(scope)
  b.agent.gossip.set(scope, 'endpoints', `${b.agent.id}/bad1`, { kind: 'task', service: svc.id, ip: 'not-an-ip', mac: '02:00:00:00:00:01', node: b.agent.id, state: 'ready', originMs: 1 })
  b.agent.gossip.set(scope, 'endpoints', `${b.agent.id}/forged`, { kind: 'task', service: svc.id, ip: '10.45.0.200', mac: '02:00:00:00:00:02', node: a.agent.id, state: 'ready', originMs: 1 })
  const received = (key: string): boolean => a.agent.gossip.entries(scope, 'endpoints').some((e) => e.key === `${b.agent.id}/${key}`)
  await waitFor('A received both entries', () => received('forged') && received('bad1'))
  await a.agent.flush()
  t.deepEqual(backendIps(a, net.id), [ta.task.endpoints[0]?.ip], 'only the genuine task is a backend')
  const text = await a.agent.metrics.registry.getSingleMetricAsString('scalelb_agent_invalid_entries_total')
  t.regex(text, /scalelb_agent_invalid_entries_total\{table="endpoints"\} [1-9]/)
})

test('an agent whose --join peer is not up yet keeps retrying and joins once it is', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const aId = a.agent.id
  await a.agent.stop()
  // A is down: B's first join reaches nobody
  const b = await cluster.add({ join: [`mem://${aId}`] })
  t.is(b.agent.members().filter((m) => m.state === 'alive').length, 1)
  // A comes back (same data dir, same ID); it does not know B, so only B's retry can join them
  const a2 = await cluster.add({ dataDir: a.dataDir, kernel: a.kernel })
  t.is(a2.agent.id, aId)
  await waitFor('A and B see each other alive', () => [a2, b].every((x) => x.agent.members().filter((m) => m.state === 'alive').length === 2))
  t.pass()
})

test('two networks with overlapping subnets created on both sides of a partition: after the heal both nodes agree on the winner, the loser gets no kernel state and no task, and the conflict is counted once', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add()
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  await waitFor('A and B alive', () => [a, b].every((x) => x.agent.members().filter((m) => m.state === 'alive').length === 2))
  cluster.net.partition([a.agent.id], [b.agent.id])
  // each side accepts its network: it cannot know the other's
  const blue = await a.agent.controller.createNetwork({ name: 'blue', subnets: ['10.88.0.0/28'] })
  const green = await b.agent.controller.createNetwork({ name: 'green', subnets: ['10.88.0.0/24'] })
  await a.agent.controller.createService({ name: 'web-a', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['blue'] })
  await b.agent.controller.createService({ name: 'web-b', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], networks: ['green'] })
  await a.agent.controller.addTask({ service: 'web-a', netns: '/run/netns/p-a' })
  await b.agent.controller.addTask({ service: 'web-b', netns: '/run/netns/p-b' })
  await a.agent.flush()
  await b.agent.flush()
  t.true(hasSandbox(a, blue.id) && hasSandbox(b, green.id), 'both programmed while partitioned')

  cluster.net.heal()
  await waitFor('both nodes know both networks', () => [a, b].every((x) => x.agent.controller.listNetworks().length === 2))
  // the network created first (creator's clock, then id) keeps the subnet, on every node
  const created = (id: string): number => (a.agent.gossip.get('cluster', 'networks', id)?.value as { createdMs: number }).createdMs
  const [winner, loser] = [blue, green].sort((x, y) => created(x.id) - created(y.id) || (x.id < y.id ? -1 : 1)) as [typeof blue, typeof blue]
  const loserNode = loser.id === blue.id ? a : b
  const winnerNode = loserNode === a ? b : a
  for (const x of [a, b]) {
    const list = x.agent.controller.listNetworks()
    t.is(list.find((n) => n.id === winner.id)?.conflict, undefined)
    t.deepEqual(list.find((n) => n.id === loser.id)?.conflict, { with: winner.name, withId: winner.id, subnet: winner.subnets[0], ownSubnet: loser.subnets[0] })
  }
  await waitFor('the loser\'s sandbox is removed', async () => {
    await loserNode.agent.flush()
    return !hasSandbox(loserNode, loser.id)
  })
  await winnerNode.agent.flush()
  t.true(hasSandbox(winnerNode, winner.id), 'the winner keeps its kernel state')
  t.regex(loserNode.agent.controller.inspectNetwork(loser.name).error ?? '', /not programmed: its subnets overlap a network created earlier/)
  t.true(loserNode.agent.status().networkErrors.some((e) => e.networkId === loser.id))

  const refused = await t.throwsAsync(loserNode.agent.controller.addTask({ service: loser === blue ? 'web-a' : 'web-b', netns: '/run/netns/p-late' }))
  t.is(refused?.name, 'ConflictError')
  t.regex(refused?.message ?? '', new RegExp(`network ${loser.name} is in conflict: its subnet \\S+ overlaps \\S+ of network ${winner.name}`))
  t.false(loserNode.plumber.attached.has(`${loser.id}|/run/netns/p-late`))

  for (const x of [a, b]) {
    const gauge = await x.agent.metrics.registry.getSingleMetricAsString('scalelb_network_conflicts')
    t.regex(gauge, /^scalelb_network_conflicts 1$/m)
    const total = await x.agent.metrics.registry.getSingleMetricAsString('scalelb_network_conflicts_detected_total')
    t.regex(total, /^scalelb_network_conflicts_detected_total 1$/m, 'one conflict, counted (and logged) once despite many recomputations')
  }

  // removing the loser ends the conflict everywhere
  await loserNode.agent.controller.removeNetwork(loser.name, { force: true })
  await waitFor('no conflict left', () => [a, b].every((x) => x.agent.controller.listNetworks().every((n) => n.conflict === undefined) && x.agent.controller.listNetworks().length === 1))
  t.regex(await a.agent.metrics.registry.getSingleMetricAsString('scalelb_network_conflicts'), /^scalelb_network_conflicts 0$/m)
})
