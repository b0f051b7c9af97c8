import test from 'ava'
import { request } from 'node:http'
import { runCli } from '../../../src/cli/main.js'
import { TABLE_NETWORKS, TABLE_SERVICES } from '../../../src/state/tables.js'
import type { AgentStatus, NetworkInfo, ServiceInfo } from '../../../src/types.js'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster, type TestAgent } from '../../support/agents.js'

interface Reply { status: number, body: { error?: { name: string, field?: string, message: string } } & Record<string, unknown> }

/** One control-API call over the agent's unix socket. */
async function api (a: TestAgent, method: string, path: string, body?: unknown): Promise<Reply> {
  const data = body === undefined ? undefined : JSON.stringify(body)
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: a.socket, method, path, headers: data === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Reply['body'] }))
    })
    req.on('error', reject)
    req.end(data)
  })
}

test('a subnet overlapping a live network is refused with 409, naming the other network and its subnet', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  t.is((await api(a, 'POST', '/v1/networks', { name: 'a', subnets: ['10.88.0.0/28'] })).status, 201)
  for (const subnet of ['10.88.0.0/24', '10.88.0.8/29', '10.88.0.4/30']) {
    const r = await api(a, 'POST', '/v1/networks', { name: 'b', subnets: ['10.99.0.0/24', subnet] })
    t.is(r.status, 409, subnet)
    t.is(r.body.error?.name, 'ConflictError')
    t.is(r.body.error?.field, 'subnets[1]')
    t.regex(r.body.error?.message ?? '', new RegExp(`${subnet.replaceAll('.', '\\.')} overlaps subnet 10\\.88\\.0\\.0/28 of network a `))
  }
  t.is((await api(a, 'POST', '/v1/networks', { name: 'b', subnets: ['10.88.0.16/28'] })).status, 201, 'the next /28 is free')
  const list = (await api(a, 'GET', '/v1/networks')).body as unknown as NetworkInfo[]
  t.deepEqual(list.map((n) => [n.name, n.conflict]), [['a', undefined], ['b', undefined]])
})

test('task add with an existing id: the same parameters are idempotent, a different service, IP or netns is a conflict naming the field', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  t.is((await api(a, 'POST', '/v1/networks', { name: 'n', subnets: ['10.60.0.0/24'] })).status, 201)
  t.is((await api(a, 'POST', '/v1/services', { name: 'web', ports: ['80'], networks: ['n'] })).status, 201)
  t.is((await api(a, 'POST', '/v1/services', { name: 'api', ports: ['81'], networks: ['n'] })).status, 201)

  const first = await api(a, 'POST', '/v1/tasks', { service: 'web', id: 't1', ip: '10.60.0.50' })
  t.is(first.status, 201)
  const again = await api(a, 'POST', '/v1/tasks', { service: 'web', id: 't1', ip: '10.60.0.50' })
  t.is(again.status, 200, 'same id, same parameters: idempotent')
  t.deepEqual(again.body, first.body)

  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ service: 'api', id: 't1', ip: '10.60.0.50' }, 'service', /task t1 exists for service web, not api/],
    [{ service: 'web', id: 't1', ip: '10.60.0.51' }, 'ip', /task t1 exists with ip 10\.60\.0\.50, not 10\.60\.0\.51/],
    [{ service: 'web', id: 't1', netns: '/run/netns/x' }, 'netns', /task t1 exists with netns none, not \/run\/netns\/x/]
  ]
  for (const [body, field, message] of cases) {
    const r = await api(a, 'POST', '/v1/tasks', body)
    t.is(r.status, 409, field)
    t.is(r.body.error?.name, 'ConflictError')
    t.is(r.body.error?.field, field)
    t.regex(r.body.error?.message ?? '', message)
  }

  t.is((await api(a, 'POST', '/v1/tasks', { service: 'web', id: 't2', netns: '/run/netns/t2' })).status, 201)
  t.is((await api(a, 'POST', '/v1/tasks', { service: 'web', id: 't2', netns: '/run/netns/t2' })).status, 200)
  const otherNetns = await api(a, 'POST', '/v1/tasks', { service: 'web', id: 't2', netns: '/run/netns/t3' })
  t.is(otherNetns.status, 409)
  t.is(otherNetns.body.error?.field, 'netns')
  const asIp = await api(a, 'POST', '/v1/tasks', { service: 'web', id: 't2', ip: '10.60.0.52' })
  t.is(asIp.status, 409)
  t.is(asIp.body.error?.field, 'ip')
  t.is(a.agent.controller.localTasks().length, 2, 'no refused call added or changed a task')
})

test('IPv6: a dual-stack network gives services a VIP and tasks an address per family; a v6 subnet out of /64../120 and a v6 task IP on an IPv4-only network are refused', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const wide = await api(a, 'POST', '/v1/networks', { name: 'wide', subnets: ['fd00:1::/56'] })
  t.is(wide.status, 400)
  t.regex(wide.body.error?.message ?? '', /subnets\[0\]: fd00:1::\/56: an IPv6 subnet must be \/64 to \/120/)
  t.is((await api(a, 'POST', '/v1/networks', { name: 'dual', subnets: ['fd00:2::/64', '10.61.0.0/24'] })).status, 201)
  t.is((await api(a, 'POST', '/v1/networks', { name: 'four', subnets: ['10.62.0.0/24'] })).status, 201)
  const svc = await api(a, 'POST', '/v1/services', { name: 'web', ports: ['80'], networks: ['dual'] })
  t.is(svc.status, 201)
  const vips = (svc.body as unknown as ServiceInfo).vips
  t.regex(vips[0]?.vip ?? '', /^10\.61\.0\./, 'the first VIP is IPv4')
  t.regex(vips[0]?.vip6 ?? '', /^fd00:2::/, 'the second IPv6')
  const task = await api(a, 'POST', '/v1/tasks', { service: 'web', ip: '10.61.0.9' })
  t.is(task.status, 201)
  t.is((await api(a, 'POST', '/v1/services', { name: 'four', ports: ['80'], networks: ['four'] })).status, 201)
  const v6ip = await api(a, 'POST', '/v1/tasks', { service: 'four', ip: 'fd00:3::9' })
  t.is(v6ip.status, 400)
  t.is(v6ip.body.error?.field, 'ip')
  t.regex(v6ip.body.error?.message ?? '', /fd00:3::9 is an IPv6 address but the service's networks have no IPv6 subnet/)
  // published ports are IPv4 only (the host side): an IPv6-only network refuses them, naming publish
  t.is((await api(a, 'POST', '/v1/networks', { name: 'six', subnets: ['fd00:4::/64'] })).status, 201)
  const pub6 = await api(a, 'POST', '/v1/services', { name: 'six', ports: ['80'], networks: ['six'], publish: ['18080:80'] })
  t.is(pub6.status, 400)
  t.is(pub6.body.error?.field, 'publish')
  t.regex(pub6.body.error?.message ?? '', /network six has no IPv4 subnet: published ports are IPv4 only/)
  t.is((await api(a, 'POST', '/v1/services', { name: 'dualpub', ports: ['80'], networks: ['dual'], publish: ['18080:80'] })).status, 201, 'a dual-stack network publishes (IPv4)')
})

test('a desired state the reconciler refuses shows in network inspect and in /v1/status, not only in a log', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const net = (await api(a, 'POST', '/v1/networks', { name: 'n', subnets: ['10.63.0.0/24'] })).body as unknown as NetworkInfo
  t.is((await api(a, 'POST', '/v1/services', { name: 'web', ports: ['80'], networks: ['n'] })).status, 201)
  t.is((await api(a, 'POST', '/v1/tasks', { service: 'web', ip: '10.63.0.9' })).status, 201)
  await a.agent.flush()
  t.is(((await api(a, 'GET', '/v1/networks/n')).body as unknown as NetworkInfo).error, undefined)
  // a peer's service with an IPv6 VIP on the network: the data plane refuses that desired state
  a.agent.gossip.set('cluster', TABLE_SERVICES, 'peer-svc', { name: 'peer', ports: [{ proto: 'tcp', port: 81, targetPort: 81 }], vips: { [net.id]: 'fd00::1' } })
  await waitFor('the refusal shows in inspect', async () => {
    await a.agent.flush()
    return ((await api(a, 'GET', '/v1/networks/n')).body as unknown as NetworkInfo).error !== undefined
  })
  const inspected = (await api(a, 'GET', '/v1/networks/n')).body as unknown as NetworkInfo
  t.regex(inspected.error ?? '', /desired state refused: services\[\d\]\.vip: fd00::1 is an IPv6 VIP but the sandbox has no IPv6 LB address \(the network has no IPv6 subnet\)/)
  const status = (await api(a, 'GET', '/v1/status')).body as unknown as AgentStatus
  t.deepEqual(status.networkErrors, [{ networkId: net.id, network: 'n', error: inspected.error }])
  // the bad service goes: the network applies again and the error clears
  a.agent.gossip.delete('cluster', TABLE_SERVICES, 'peer-svc')
  await waitFor('the error clears', async () => {
    await a.agent.flush()
    return ((await api(a, 'GET', '/v1/status')).body as unknown as AgentStatus).networkErrors.length === 0
  })
  t.pass()
})

test('the CLI shows a conflicted network in network ls (CONFLICT column) and the reason in scalelb status', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  t.is((await api(a, 'POST', '/v1/networks', { name: 'front', subnets: ['10.40.0.0/24'] })).status, 201)
  // a network created earlier elsewhere (in a partition) arrives: it keeps 10.40.0.0/16
  a.agent.gossip.set('cluster', TABLE_NETWORKS, 'elsewhere', { name: 'wide', subnets: ['10.40.0.0/16'], vni: 4001, options: {}, createdMs: 1 })
  let out = ''
  const run = async (...argv: string[]): Promise<number> => {
    out = ''
    return await runCli(argv, { io: { out: (x) => { out += x + '\n' }, err: (x) => { out += x + '\n' } }, env: { SCALELB_API_SOCKET: a.socket } })
  }
  t.is(await run('network', 'ls'), 0)
  t.regex(out, /^ID +NAME +SUBNETS +VNI +MTU +NODES +LB IP +CONFLICT$/m)
  t.regex(out, /front +10\.40\.0\.0\/24 .* 10\.40\.0\.0\/24 overlaps wide 10\.40\.0\.0\/16$/m)
  t.regex(out, /wide +10\.40\.0\.0\/16 .* -$/m)
  t.is(await run('status'), 0)
  t.regex(out, /^error: +network front: in conflict: its subnet 10\.40\.0\.0\/24 overlaps 10\.40\.0\.0\/16 of network wide/m)
})
