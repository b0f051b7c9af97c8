import test from 'ava'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../../support/agents.js'

test('overlay MTU: a network\'s own MTU is gossiped, checked against the creator\'s underlay, clamped and counted where it does not fit, and given to task veths', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  // A: a 1500-byte underlay (overlay at most 1450); B: jumbo frames (8950)
  const a = await cluster.add({ mtu: { mtu: 1450, max: 1450 } })
  const b = await cluster.add({ mtu: { mtu: 8950, max: 8950 } })
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  await waitFor('2 alive members', () => [a, b].every((x) => x.agent.members().filter((m) => m.state === 'alive').length === 2))

  const tooBig = await a.agent.controller.createNetwork({ name: 'x', subnets: ['10.30.0.0/24'], mtu: 1451 }).catch((err: unknown) => err as Error & { field?: string })
  t.is((tooBig as Error).name, 'ValidationError')
  t.is((tooBig as { field?: string }).field, 'mtu')
  t.regex((tooBig as Error).message, /at most 1450/)

  const plain = await a.agent.controller.createNetwork({ name: 'plain', subnets: ['10.31.0.0/24'] })
  t.is(plain.mtu, 1450, 'no own MTU: the node\'s')
  const jumbo = await b.agent.controller.createNetwork({ name: 'jumbo', subnets: ['10.32.0.0/24'], mtu: 8950 })
  t.is(jumbo.mtu, 8950)
  t.is(jumbo.options.mtu, '8950', 'stored in the gossiped options')
  await waitFor('A learns the jumbo network', () => a.agent.controller.listNetworks().some((n) => n.id === jumbo.id))
  await waitFor('B learns the plain network', () => b.agent.controller.listNetworks().some((n) => n.id === plain.id))
  t.is(a.agent.controller.inspectNetwork('jumbo').mtu, 1450, 'A clamps it to what its underlay carries')
  t.is(b.agent.controller.inspectNetwork('plain').mtu, 8950, 'B uses its own MTU for a network without one')
  const metric = await a.agent.metrics.registry.getSingleMetricAsString('scalelb_overlay_mtu_issues_total')
  t.regex(metric, /scalelb_overlay_mtu_issues_total\{reason="too-large"\} 1/)

  await b.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], networks: ['jumbo'] })
  await waitFor('A learns the service', () => a.agent.controller.listServices().length === 1)
  await a.agent.controller.addTask({ service: 'web', netns: '/run/netns/task-a' })
  await b.agent.controller.addTask({ service: 'web', netns: '/run/netns/task-b' })
  t.is(a.plumber.attached.get(`${jumbo.id}|/run/netns/task-a`)?.mtu, 1450)
  t.is(b.plumber.attached.get(`${jumbo.id}|/run/netns/task-b`)?.mtu, 8950)
  await a.agent.flush()
  await b.agent.flush()
  t.is(a.kernel.networks.get(jumbo.id)?.overlay.mtu, 1450, 'A\'s bridge and VXLAN device')
  t.is(b.kernel.networks.get(jumbo.id)?.overlay.mtu, 8950)
})
