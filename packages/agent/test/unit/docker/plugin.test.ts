import test from 'ava'
import { readFileSync } from 'node:fs'
import { createSilentLogger } from '../../../src/logging/logger.js'
import { createDockerPlugin, type DockerPluginHost } from '../../../src/docker/plugin.js'
import { createMemoryLinks } from '../../../src/docker/link.js'
import type { NetworkValue } from '../../../src/state/tables.js'
import { macFor } from '../../../src/state/addr.js'

/** One plugin call as dockerd 20.10 made it (method, body) and, where it matters, the answer it got. */
interface Call { method: string, body: unknown }
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/dockerd-20.10.json', import.meta.url), 'utf8')) as Record<string, Call[]>

/** A cluster of scalelb networks and this node's tasks, in memory. */
function fakeHost (): DockerPluginHost & { nets: Map<string, NetworkValue>, reserved: Set<string>, tasks: Map<string, { networkId: string, ip: string }>, dockerNames: Map<string, string>, full: boolean } {
  const nets = new Map<string, NetworkValue>()
  const reserved = new Set<string>()
  const tasks = new Map<string, { networkId: string, ip: string }>()
  const dockerNames = new Map<string, string>()
  let next = 2
  const h = {
    nets, reserved, tasks, dockerNames, full: false,
    networks: () => nets,
    async createNetwork (name: string, subnet: string) {
      const id = `net${nets.size + 1}`
      nets.set(id, { name, subnets: [subnet], vni: 4096 + nets.size, options: {}, createdMs: 0 })
      return id
    },
    mtu: () => 1450,
    async reserveAddress (networkId: string, ip: string | undefined) {
      if (h.full) throw Object.assign(new Error('every address is in use'), { name: 'NetworkFullError' })
      const base = (nets.get(networkId)?.subnets[0] ?? '').split('/')[0]?.split('.').slice(0, 3).join('.') ?? ''
      const a = ip ?? `${base}.${next++}`
      if (reserved.has(a) || [...tasks.values()].some((t) => t.ip === a)) throw new Error(`${a} is in use`)
      reserved.add(a)
      return a
    },
    releaseReservation: (_n: string, ip: string) => reserved.delete(ip),
    async addEndpointTask (taskId: string, networkId: string, ip: string) {
      reserved.delete(ip)
      tasks.set(taskId, { networkId, ip })
      return { lbIp: '10.20.0.254' }
    },
    async removeTask (taskId: string) { tasks.delete(taskId) },
    async dockerNetworkName (id: string) { return dockerNames.get(id) }
  }
  return h
}

async function replay (plugin: ReturnType<typeof createDockerPlugin>, calls: Call[]): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = []
  for (const c of calls) out.push(await plugin.handle(c.method, c.body) as Record<string, unknown>)
  return out
}

test('handshake: network and IPAM driver, local data scope with global connectivity', async (t) => {
  const plugin = createDockerPlugin({ host: fakeHost(), links: createMemoryLinks(), logger: createSilentLogger() })
  const [act, caps, ipamCaps, spaces] = await replay(plugin, fixtures.handshake as Call[])
  t.deepEqual(act, { Implements: ['NetworkDriver', 'IpamDriver'] })
  t.deepEqual(caps, { Scope: 'local', ConnectivityScope: 'global' })
  t.is(ipamCaps?.RequiresMACAddress, false)
  t.deepEqual(spaces, { LocalDefaultAddressSpace: 'scalelb', GlobalDefaultAddressSpace: 'scalelb' })
})

test('docker network create then run then rm: a scalelb network under the Docker name, an address from scalelb, a task while joined', async (t) => {
  const host = fakeHost()
  const links = createMemoryLinks()
  const plugin = createDockerPlugin({ host, links, logger: createSilentLogger() })
  const create = fixtures.networkCreate as Call[]
  const answers = await replay(plugin, create)
  t.true(answers.every((a) => a.Err === undefined), JSON.stringify(answers))
  const pool = answers[0] as { PoolID: string, Pool: string }
  t.is(pool.PoolID, 'scalelb/10.20.0.0/24')
  // the gateway Docker insists on is the subnet's network address, which scalelb never hands out
  t.is((answers[1] as { Address: string }).Address, '10.20.0.0/24')
  // no scalelb network has the subnet yet: it is created under the Docker network's name at first use
  t.is(host.nets.size, 0)
  const dockerNet = (create.find((c) => c.method === 'NetworkDriver.CreateNetwork')?.body as { NetworkID: string }).NetworkID
  host.dockerNames.set(dockerNet, 'front')

  const run = fixtures.containerRun as Call[]
  const r = await replay(plugin, run)
  t.true(r.every((a) => a.Err === undefined), JSON.stringify(r))
  t.deepEqual([...host.nets.values()].map((n) => [n.name, n.subnets]), [['front', ['10.20.0.0/24']]])
  const addr = (r[0] as { Address: string }).Address
  t.regex(addr, /^10\.20\.0\.\d+\/24$/)
  const ip = addr.split('/')[0] as string
  const netId = [...host.nets.keys()][0] as string
  t.deepEqual(r[1], { Interface: { MacAddress: macFor(netId, ip) } })
  const join = r.find((_, i) => run[i]?.method === 'NetworkDriver.Join') as { InterfaceName: { SrcName: string, DstPrefix: string }, Gateway: string }
  t.is(join.InterfaceName.DstPrefix, 'eth')
  t.is(join.Gateway, '10.20.0.254')
  const epId = (run.find((c) => c.method === 'NetworkDriver.Join')?.body as { EndpointID: string }).EndpointID
  t.deepEqual(host.tasks.get(epId), { networkId: netId, ip })
  t.deepEqual(links.links.get(epId), { networkId: netId, mac: macFor(netId, ip), mtu: 1450 })
  t.false(host.reserved.has(ip), 'the reservation became the task\'s')

  const rm = await replay(plugin, fixtures.containerRm as Call[])
  t.true(rm.every((a) => a.Err === undefined), JSON.stringify(rm))
  t.is(host.tasks.size, 0)
  t.is(links.links.size, 0)
  t.deepEqual(plugin.state().endpoints, {})

  await replay(plugin, fixtures.networkRm as Call[])
  t.deepEqual(plugin.state().networks, {})
  t.is(host.nets.size, 1, 'the cluster network stays: other hosts may use it')
})

test('a second host binds to the existing network by subnet at create', async (t) => {
  const host = fakeHost()
  host.nets.set('n1', { name: 'front', subnets: ['10.20.0.0/24'], vni: 4096, options: {}, createdMs: 0 })
  const plugin = createDockerPlugin({ host, links: createMemoryLinks(), logger: createSilentLogger() })
  await replay(plugin, fixtures.networkCreate as Call[])
  t.deepEqual(Object.values(plugin.state().networks).map((n) => n.networkId), ['n1'])
})

test('errors come back in Err: subnet mismatch names both subnets, missing network, exhausted space', async (t) => {
  const host = fakeHost()
  host.nets.set('n1', { name: 'front', subnets: ['10.20.0.0/16'], vni: 4096, options: {}, createdMs: 0 })
  const plugin = createDockerPlugin({ host, links: createMemoryLinks(), logger: createSilentLogger() })
  const create = fixtures.networkCreate as Call[]
  const pool = create[0] as Call
  await t.throwsAsync(plugin.handle(pool.method, pool.body), { name: 'DockerPluginError', message: /10\.20\.0\.0\/24 overlaps subnet 10\.20\.0\.0\/16 of scalelb network front/ })

  // the name given with -o scalelb.network must hold the subnet
  const cn = create.find((c) => c.method === 'NetworkDriver.CreateNetwork') as Call
  const named = structuredClone(cn.body) as { Options: Record<string, Record<string, string>> }
  named.Options['com.docker.network.generic'] = { 'scalelb.network': 'front' }
  host.nets.set('n1', { name: 'front', subnets: ['10.30.0.0/24'], vni: 4096, options: {}, createdMs: 0 })
  await t.throwsAsync(plugin.handle(cn.method, named), { name: 'DockerPluginError', message: 'scalelb network front has subnet 10.30.0.0/24, not 10.20.0.0/24: give --subnet 10.30.0.0/24' })

  // created unnamed, and dockerd does not know it any more: the network is missing in the cluster
  await plugin.handle(cn.method, cn.body)
  const ra = (fixtures.containerRun as Call[])[0] as Call
  await t.throwsAsync(plugin.handle(ra.method, ra.body), { name: 'DockerPluginError', message: /scalelb network missing in the cluster: no network has subnet 10\.20\.0\.0\/24/ })

  host.nets.set('n2', { name: 'front2', subnets: ['10.20.0.0/24'], vni: 4097, options: {}, createdMs: 0 })
  host.full = true
  await t.throwsAsync(plugin.handle(ra.method, ra.body), { name: 'DockerPluginError', message: /^address space exhausted: scalelb network front2 \(10\.20\.0\.0\/24\)/ })
})

test('malformed calls are PluginRequestErrors naming the field; unknown methods too', async (t) => {
  const plugin = createDockerPlugin({ host: fakeHost(), links: createMemoryLinks(), logger: createSilentLogger() })
  await t.throwsAsync(plugin.handle('NetworkDriver.Join', { NetworkID: 'a', EndpointID: 'b' }), { name: 'PluginRequestError', message: 'SandboxKey: required' })
  await t.throwsAsync(plugin.handle('IpamDriver.RequestAddress', { PoolID: 7 }), { name: 'PluginRequestError', message: 'PoolID: must be a string, got number' })
  await t.throwsAsync(plugin.handle('NetworkDriver.CreateEndpoint', []), { name: 'PluginRequestError', message: 'body: must be a JSON object' })
  await t.throwsAsync(plugin.handle('NetworkDriver.Nope', {}), { name: 'PluginRequestError', message: /unknown plugin method/ })
})

test('Leave and DeleteEndpoint are idempotent (twice, and for an endpoint never seen)', async (t) => {
  const host = fakeHost()
  const plugin = createDockerPlugin({ host, links: createMemoryLinks(), logger: createSilentLogger() })
  await replay(plugin, fixtures.networkCreate as Call[])
  host.dockerNames.set((((fixtures.networkCreate as Call[]).find((c) => c.method === 'NetworkDriver.CreateNetwork')?.body) as { NetworkID: string }).NetworkID, 'front')
  await replay(plugin, fixtures.containerRun as Call[])
  const rm = fixtures.containerRm as Call[]
  await replay(plugin, rm)
  const again = await replay(plugin, rm)
  t.true(again.every((a) => a.Err === undefined))
  t.deepEqual(await plugin.handle('NetworkDriver.Leave', { NetworkID: 'x', EndpointID: 'y' }), {})
})

test('a subnet overlapping a Docker network of this host not bound yet is refused at RequestPool; the same subnet is not', async (t) => {
  const plugin = createDockerPlugin({ host: fakeHost(), links: createMemoryLinks(), logger: createSilentLogger() })
  await replay(plugin, fixtures.networkCreate as Call[])
  const pool = (fixtures.networkCreate as Call[])[0] as Call
  await t.throwsAsync(plugin.handle(pool.method, { ...(pool.body as object), Pool: '10.20.0.0/16' }), { name: 'DockerPluginError', message: /^subnet 10\.20\.0\.0\/16 overlaps subnet 10\.20\.0\.0\/24 of Docker network 4e418d2ba7fd on this host/ })
  t.like(await plugin.handle(pool.method, pool.body), { PoolID: 'scalelb/10.20.0.0/24' })
  await t.throwsAsync(plugin.handle(pool.method, { ...(pool.body as object), V6: true }), { name: 'DockerPluginError', message: /Docker plugin does not take IPv6 yet/ })
  await t.throwsAsync(plugin.handle(pool.method, { ...(pool.body as object), Pool: '' }), { name: 'DockerPluginError', message: /give the scalelb network's subnet/ })
})
