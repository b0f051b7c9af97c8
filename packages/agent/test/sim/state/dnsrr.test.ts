import test from 'ava'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../../support/agents.js'
import { createTablesView } from '../../../src/state/view.js'

test('a dnsrr service gets no VIP; its tasks join its networks; another agent sees the mode; the LB sandbox has no service for it', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add()
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  const net = await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.33.0.0/24'] })
  const svc = await a.agent.controller.createService({ name: 'cache', ports: [{ proto: 'tcp', port: 6379, targetPort: 6379 }], networks: ['front'], endpointMode: 'dnsrr' })
  t.deepEqual(svc.vips, [])
  t.deepEqual(svc.dnsrr, { networks: [{ networkId: net.id, network: 'front' }] })
  t.false(a.agent.allocator.allocations(net.id).some((x) => x.kind === 'vip'), 'no VIP allocated')
  await waitFor('B learns the service with its mode', () => b.agent.controller.listServices()[0]?.dnsrr !== undefined)
  const task = await b.agent.controller.addTask({ service: 'cache', id: 'c1', ip: '10.33.0.40' })
  t.deepEqual(task.task.endpoints.map((e) => e.network), ['front'])
  await b.agent.flush()
  const view = createTablesView(b.agent.gossip)
  t.teardown(() => view.close())
  t.deepEqual(view.desired(b.agent.id, '').desired.get(net.id)?.sandbox.services, [], 'no VIP rule for a dnsrr service')
})
