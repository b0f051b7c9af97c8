import test from 'ava'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster } from '../../support/agents.js'
import { TABLE_ENDPOINTS, networkScope, taskEndpointKey } from '../../../src/state/tables.js'

test('direct server return: on a dsr=true network a --netns task gets its service\'s VIP plumbed and says so in its endpoint; elsewhere neither', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const b = await cluster.add()
  await b.agent.gossip.join([`mem://${a.agent.id}`])
  await waitFor('2 alive members', () => [a, b].every((x) => x.agent.members().filter((m) => m.state === 'alive').length === 2))
  const dsr = await a.agent.controller.createNetwork({ name: 'fast', subnets: ['10.40.0.0/24'], options: { dsr: 'true' } })
  const plain = await a.agent.controller.createNetwork({ name: 'plain', subnets: ['10.41.0.0/24'] })
  const web = await a.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'tcp', port: 81, targetPort: 8080 }, { proto: 'tcp', port: 443, targetPort: 8443 }], networks: ['fast', 'plain'] })
  await waitFor('B learns the service', () => b.agent.controller.listServices().length === 1)
  const { task } = await b.agent.controller.addTask({ service: 'web', netns: '/run/netns/task-b' })
  const vip = web.vips.find((v) => v.networkId === dsr.id)?.vip
  // the reply rule needs one VIP port per target port: 80 and 81 share 8080, so only 443 is served
  t.deepEqual(b.plumber.attached.get(`${dsr.id}|/run/netns/task-b`)?.dsr, { vip, ports: [{ port: 443, targetPort: 8443 }] })
  t.is(b.plumber.attached.get(`${plain.id}|/run/netns/task-b`)?.dsr, undefined)
  const key = taskEndpointKey(b.agent.id, task.id)
  t.is((b.agent.gossip.get(networkScope(dsr.id), TABLE_ENDPOINTS, key)?.value as { dsr?: boolean }).dsr, true)
  t.is((b.agent.gossip.get(networkScope(plain.id), TABLE_ENDPOINTS, key)?.value as { dsr?: boolean }).dsr, undefined)
  await b.agent.controller.removeTask(task.id)
  t.is(b.plumber.attached.size, 0)
})
