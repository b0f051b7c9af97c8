import test from 'ava'
import { runCli } from '../../../src/cli/main.js'
import { waitFor } from '@scalelb/test-support'
import { createTestCluster, type TestAgent } from '../../support/agents.js'

interface Run { code: number, out: string, err: string }

async function cli (agent: TestAgent | undefined, ...argv: string[]): Promise<Run> {
  let out = ''
  let err = ''
  const env = agent === undefined ? { SCALELB_API_SOCKET: '/nonexistent/scalelb.sock' } : { SCALELB_API_SOCKET: agent.socket }
  const code = await runCli(argv, { io: { out: (s) => { out += s + '\n' }, err: (s) => { err += s + '\n' } }, env })
  return { code, out, err }
}

test('usage errors exit 2, help exits 0, an unreachable agent exits 1', async (t) => {
  t.is((await cli(undefined)).code, 2)
  const help = await cli(undefined, '--help')
  t.is(help.code, 0)
  t.regex(help.out, /network create/)
  t.is((await cli(undefined, 'network', 'create', '--help')).code, 0)
  t.is((await cli(undefined, 'bogus')).code, 2)
  t.is((await cli(undefined, 'network', 'create', 'x', '--nope')).code, 2)
  t.is((await cli(undefined, 'network', 'create', 'x')).code, 2, 'missing --subnet')
  t.is((await cli(undefined, 'task', 'add', 'web')).code, 2, 'neither --netns nor --ip')
  t.regex((await cli(undefined, 'task', 'add', '--ip', '10.0.0.5')).err, /give a SERVICE, or --network NET/)
  t.regex((await cli(undefined, 'task', 'add', 'web', '--ip', '10.0.0.5', '--ifname', 'net1')).err, /--ifname goes with --netns/)
  t.is((await cli(undefined, 'agent', '--programmer', 'bogus', '--insecure')).code, 2)
  const agentErr = await cli(undefined, 'agent', '--insecure', '--metrics-addr', 'nowhere')
  t.is(agentErr.code, 2)
  t.regex(agentErr.err, /--metrics-addr/)
  // loopback has MTU 65536: an overlay on it carries at most 65486
  const mtuErr = await cli(undefined, 'agent', '--insecure', '--underlay-ip', '127.0.0.1', '--mtu', '65535', '--data-dir', '/nonexistent/slb')
  t.is(mtuErr.code, 2)
  t.regex(mtuErr.err, /--mtu: 65535 does not fit the underlay: its MTU 65536 minus 50 bytes of VXLAN over IPv4 leaves at most 65486/)
  t.is((await cli(undefined, 'agent', '--insecure', '--mtu', '1200')).code, 2, 'below 1280')
  const down = await cli(undefined, 'network', 'ls')
  t.is(down.code, 1)
  t.regex(down.err, /cannot reach the agent/)
})

test('CLI over the control API: create, list, inspect, refuse bad input with the field named, remove', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()

  const created = await cli(a, 'network', 'create', 'front', '--subnet', '10.40.0.0/24')
  t.is(created.code, 0, created.err)
  const badCidr = await cli(a, 'network', 'create', 'other', '--subnet', '10.40.0.0/33')
  t.is(badCidr.code, 1)
  t.regex(badCidr.err, /subnets\[0\]/)
  const hostBits = await cli(a, 'network', 'create', 'other', '--subnet', '10.41.0.1/24')
  t.is(hostBits.code, 1)
  t.regex(hostBits.err, /subnets/)
  const dup = await cli(a, 'network', 'create', 'front', '--subnet', '10.42.0.0/24')
  t.is(dup.code, 1)
  t.regex(dup.err, /name: a network named "front" exists/)

  t.is((await cli(a, 'service', 'create', 'web', '--port', '80:8080/tcp', '--port', '53/udp', '--network', 'front')).code, 0)
  const badPort = await cli(a, 'service', 'create', 'api', '--port', '80:99999', '--network', 'front')
  t.is(badPort.code, 1)
  t.regex(badPort.err, /ports\[0\]/)
  const unknownNet = await cli(a, 'service', 'create', 'api', '--port', '80', '--network', 'nope')
  t.is(unknownNet.code, 1)
  t.regex(unknownNet.err, /networks\[0\]: unknown network "nope"/)

  const ls = await cli(a, 'service', 'ls', '--json')
  const services = JSON.parse(ls.out) as Array<{ name: string, ports: unknown[], vips: Array<{ network: string, vip: string }> }>
  t.is(services.length, 1)
  t.deepEqual(services[0]?.ports, [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'udp', port: 53, targetPort: 53 }])
  t.is(services[0]?.vips[0]?.network, 'front')

  const unknownSvc = await cli(a, 'task', 'add', 'nope', '--ip', '10.40.0.99')
  t.is(unknownSvc.code, 1)
  t.regex(unknownSvc.err, /service: unknown service "nope"/)
  const outside = await cli(a, 'task', 'add', 'web', '--ip', '10.99.0.5')
  t.is(outside.code, 1)
  t.regex(outside.err, /^scalelb: ip:/)
  const add1 = await cli(a, 'task', 'add', 'web', '--ip', '10.40.0.99', '--id', 't1')
  t.is(add1.code, 0, add1.err)
  const add1again = await cli(a, 'task', 'add', 'web', '--ip', '10.40.0.99', '--id', 't1')
  t.is(add1again.code, 0, 'the same task twice is not an error')
  const tasks = JSON.parse((await cli(a, 'task', 'ls', '--json')).out) as Array<{ id: string, state: string }>
  t.deepEqual(tasks.map((x) => x.id), ['t1'])
  const endpoint = await cli(a, 'task', 'add', '--network', 'front', '--ip', '10.40.0.98', '--id', 'e1')
  t.is(endpoint.code, 0, endpoint.err)
  t.regex((await cli(a, 'task', 'ls')).out, /^e1 +- +\S+ +ready +front=10\.40\.0\.98$/m, 'an endpoint-only task: no service')
  t.is((await cli(a, 'task', 'rm', 'e1')).code, 0)

  t.is((await cli(a, 'task', 'drain', 't1')).code, 0)
  t.is((JSON.parse((await cli(a, 'task', 'ls', '--json')).out) as Array<{ state: string }>)[0]?.state, 'draining')

  const inUse = await cli(a, 'network', 'rm', 'front')
  t.is(inUse.code, 1)
  t.regex(inUse.err, /still has tasks/)
  t.is((await cli(a, 'task', 'rm', 't1')).code, 0)
  t.is((await cli(a, 'task', 'rm', 't1')).code, 1, 'unknown task')
  t.is((await cli(a, 'service', 'rm', 'web')).code, 0)
  t.is((await cli(a, 'network', 'rm', 'front')).code, 0)
  t.is((await cli(a, 'network', 'inspect', 'front')).code, 1)
  const status = JSON.parse((await cli(a, 'status', '--json')).out) as { node: string, ready: boolean }
  t.is(status.node, a.agent.id)
  const members = JSON.parse((await cli(a, 'members', '--json')).out) as Array<{ self: boolean, state: string }>
  t.deepEqual(members.map((m) => [m.self, m.state]), [[true, 'alive']])
})

test('network create --mtu: stored and shown by ls/inspect; too large for the underlay exits 1 naming mtu; not a number exits 2', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ mtu: { mtu: 1450, max: 1450 } })
  const big = await cli(a, 'network', 'create', 'big', '--subnet', '10.60.0.0/24', '--mtu', '1500')
  t.is(big.code, 1)
  t.regex(big.err, /^scalelb: mtu: 1500 does not fit the underlay/)
  t.is((await cli(a, 'network', 'create', 'bad', '--subnet', '10.60.0.0/24', '--mtu', 'lots')).code, 2)
  t.is((await cli(a, 'network', 'create', 'small', '--subnet', '10.61.0.0/24', '--mtu', '1400')).code, 0)
  t.is((await cli(a, 'network', 'create', 'dflt', '--subnet', '10.62.0.0/24')).code, 0)
  const ls = await cli(a, 'network', 'ls')
  t.regex(ls.out, /MTU/)
  t.regex(ls.out, /small\s+10\.61\.0\.0\/24\s+\d+\s+1400/)
  t.regex(ls.out, /dflt\s+10\.62\.0\.0\/24\s+\d+\s+1450/)
  const n = JSON.parse((await cli(a, 'network', 'inspect', 'small')).out) as { mtu: number, options: Record<string, string> }
  t.is(n.mtu, 1400)
  t.is(n.options.mtu, '1400')
})

test('an exhausted pool is refused with 4xx naming the network', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  t.is((await cli(a, 'network', 'create', 'tiny', '--subnet', '10.50.0.0/29')).code, 0)
  t.is((await cli(a, 'service', 'create', 'web', '--port', '80', '--network', 'tiny')).code, 0)
  let last: Run | undefined
  for (let i = 0; i < 10; i++) {
    last = await cli(a, 'task', 'add', 'web', '--netns', `/run/netns/x${i}`)
    if (last.code !== 0) break
  }
  t.is(last?.code, 1)
  t.regex(last?.err ?? '', /network tiny is full: 6\/6 addresses in use/)
})

test('the control API is also served on a loopback TCP address when asked', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add({ apiAddr: '127.0.0.1:0' })
  const port = a.agent.apiTcpPort()
  t.truthy(port)
  let out = ''
  const code = await runCli(['network', 'create', 'tcp', '--subnet', '10.70.0.0/24'], { io: { out: (s) => { out += s }, err: () => {} }, env: { SCALELB_API_ADDR: `127.0.0.1:${port ?? 0}`, SCALELB_DATA_DIR: a.dataDir } })
  t.is(code, 0)
  t.is(a.agent.controller.inspectNetwork('tcp').id, out.trim())
  t.is(await runCli(['network', 'ls'], { io: { out: () => {}, err: () => {} }, env: { SCALELB_API_ADDR: `10.1.1.1:${port ?? 0}` } }), 2, 'the CLI refuses a non-loopback API address')
})


test('a worker refuses network and service changes (exit 1 naming the rule) but reads, runs tasks and shows its role', async (t) => {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const m = await cluster.add()
  const w = await cluster.add({ role: 'worker' })
  await w.agent.gossip.join([`mem://${m.agent.id}`])
  t.is((await cli(m, 'network', 'create', 'front', '--subnet', '10.43.0.0/24')).code, 0)
  t.is((await cli(m, 'service', 'create', 'web', '--port', '80', '--network', 'front')).code, 0)
  await waitFor('the worker learns the service', () => w.agent.controller.listServices().length === 1)

  const rule = 'only manager nodes may change networks and services; this agent has no --manager-key-file'
  for (const [what, argv] of [
    ['network create', ['network', 'create', 'back', '--subnet', '10.44.0.0/24']],
    ['network rm', ['network', 'rm', 'front']],
    ['service create', ['service', 'create', 'api', '--port', '81', '--network', 'front']],
    ['service rm', ['service', 'rm', 'web', '--force']]
  ] as const) {
    const r = await cli(w, ...argv)
    t.is(r.code, 1, what)
    t.is(r.err, `scalelb: ${what}: ${rule}\n`)
  }
  t.is(w.agent.controller.listNetworks().length, 1, 'nothing changed')
  t.is(w.agent.controller.listServices().length, 1)
  const bogus = await cli(w, 'network', 'create', 'x', '--subnet', 'not-a-cidr')
  t.regex(bogus.err, /only manager nodes/, 'refused before the body is read')

  t.regex((await cli(w, 'network', 'ls')).out, /front/)
  const added = await cli(w, 'task', 'add', 'web', '--ip', '10.43.0.77', '--id', 't1')
  t.is(added.code, 0, added.err)
  t.is((await cli(w, 'task', 'rm', 't1')).code, 0)
  t.regex((await cli(w, 'status')).out, /^role: +worker \(runs tasks; networks and services are changed on a manager node\)$/m)
  t.regex((await cli(m, 'status')).out, /^role: +manager /m)
  t.is(JSON.parse((await cli(w, 'status', '--json')).out).role, 'worker')
})
