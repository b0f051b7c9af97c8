import test from 'ava'
import { createApiClient } from '@scalelb/agent/client'
import { createTestCluster, type TestAgent, type TestCluster } from '../../../agent/test/support/agents.js'
import { CNI_ERR, SCALELB_ERR } from '../../src/constants.js'
import { runPlugin, type PluginOutcome } from '../../src/run.js'
import type { FoundInterface, PluginDeps } from '../../src/plugin.js'
import type { BandwidthCall } from '../../src/bandwidth.js'
import type { CniErrorResult, CniResult } from '../../src/types.js'

/**
 * The plugin as a runtime drives it (env + stdin), against an in-process
 * agent (memory programmer and plumber) over its real control socket.
 */

const CID = 'c0ffee'.repeat(10) + 'abcd'
const NETNS = '/run/netns/cni-test'
const CONF = { cniVersion: '1.0.0', name: 'front-web', type: 'scalelb-cni', network: 'front', service: 'web' }

interface Lab {
  cluster: TestCluster
  a: TestAgent
  networkId: string
  /** What the fake `ip addr` in the namespace shows (CHECK). */
  iface: Map<string, FoundInterface>
}

async function lab (t: { teardown: (fn: () => Promise<void>) => void }): Promise<Lab> {
  const cluster = await createTestCluster()
  t.teardown(async () => { await cluster.close() })
  const a = await cluster.add()
  const net = await a.agent.controller.createNetwork({ name: 'front', subnets: ['10.50.0.0/24'] })
  await a.agent.controller.createService({ name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], networks: ['front'] })
  await a.agent.controller.createService({ name: 'api', ports: [{ proto: 'tcp', port: 81, targetPort: 8081 }], networks: ['front'] })
  return { cluster, a, networkId: net.id, iface: new Map() }
}

async function run (l: Lab, command: string, conf: object, env: Record<string, string> = {}, deps: Partial<PluginDeps> = {}): Promise<PluginOutcome> {
  return await runPlugin({
    env: { CNI_COMMAND: command, CNI_CONTAINERID: CID, CNI_IFNAME: 'eth0', CNI_NETNS: NETNS, CNI_PATH: '/opt/cni/bin', SCALELB_API_SOCKET: l.a.socket, ...env },
    stdin: JSON.stringify(conf),
    defaults: { defaultSocket: '/nonexistent/api.sock' },
    deps: (c) => ({ client: createApiClient({ socketPath: c.socket }), inspectInterface: async (netns, ifname) => l.iface.get(`${netns}|${ifname}`), ...deps })
  })
}

function ok (o: PluginOutcome): CniResult {
  if (o.exitCode !== 0) throw new Error(`plugin failed: ${o.stdout}`)
  return JSON.parse(o.stdout) as CniResult
}

function failed (o: PluginOutcome): CniErrorResult {
  if (o.exitCode === 0) throw new Error(`plugin succeeded: ${o.stdout}`)
  return JSON.parse(o.stdout) as CniErrorResult
}

test('ADD: the container ID is the task, a backend of the service, plugged in the namespace; the result tells interface, address, gateway (LB IP)', async (t) => {
  const l = await lab(t)
  const r = ok(await run(l, 'ADD', CONF))
  const task = l.a.agent.controller.inspectTask(CID)
  const ep = task.endpoints[0]
  t.like(task, { id: CID, service: 'web', netns: NETNS })
  t.is(ep?.ifName, 'eth0')
  t.deepEqual(r, {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'mem-0' }, { name: 'eth0', mac: ep?.mac, sandbox: NETNS }],
    ips: [{ address: `${ep?.ip ?? ''}/24`, gateway: l.a.agent.allocator.lbIp(l.networkId), interface: 1 }],
    routes: [],
    dns: {}
  })
  t.is(l.a.plumber.attached.get(`${l.networkId}|${NETNS}`)?.address, `${ep?.ip ?? ''}/24`)

  t.deepEqual(ok(await run(l, 'ADD', CONF)), r, 'a repeated ADD answers the same result')
  const other = failed(await run(l, 'ADD', CONF, { CNI_ARGS: 'SCALELB_SERVICE=api' }))
  t.is(other.code, SCALELB_ERR.CONFLICT)
  t.is(other.msg, `CNI_ARGS SCALELB_SERVICE: task ${CID} exists for service web, not api`)
  t.like(failed(await run(l, 'ADD', CONF, { CNI_IFNAME: 'net1' })), { code: SCALELB_ERR.CONFLICT, msg: `CNI_IFNAME: task ${CID} exists with interface eth0, not net1` })
  t.like(failed(await run(l, 'ADD', CONF, { CNI_NETNS: '/run/netns/other' })), { code: SCALELB_ERR.CONFLICT, msg: `CNI_NETNS: task ${CID} exists with netns ${NETNS}, not /run/netns/other` })
  await l.a.agent.controller.createNetwork({ name: 'back', subnets: ['10.51.0.0/24'] })
  t.like(failed(await run(l, 'ADD', { ...CONF, network: 'back' })), { code: SCALELB_ERR.CONFLICT, msg: `network: task ${CID} exists on networks front, not back` }, 'one scalelb network per container')
  t.deepEqual(l.a.agent.controller.inspectTask(CID), task, 'the conflicts changed nothing')
})

test('ADD without a service (or SCALELB_SERVICE empty) makes an endpoint only; the configuration\'s dns or the agent\'s goes in the result; 0.4.0 IPs carry version', async (t) => {
  const l = await lab(t)
  const { service: _s, ...noService } = CONF
  const r = ok(await run(l, 'ADD', { ...noService, cniVersion: '0.4.0', dns: { nameservers: ['10.50.0.53'], search: ['front'] } }))
  t.is(l.a.agent.controller.inspectTask(CID).service, undefined)
  t.is(r.ips?.[0]?.version, '4')
  t.deepEqual(r.dns, { nameservers: ['10.50.0.53'], search: ['front'] })
  t.deepEqual(await run(l, 'DEL', noService), { exitCode: 0, stdout: '' })

  // an agent whose TaskInfo carries dns: it wins over the configuration's
  const withDns: Partial<PluginDeps> = {
    client: (() => {
      const c = createApiClient({ socketPath: l.a.socket })
      return { ...c, addTask: async (body) => ({ ...await c.addTask(body), dns: { nameservers: ['10.50.0.2'], options: ['ndots:1'] } }) }
    })()
  }
  const r2 = ok(await run(l, 'ADD', { ...CONF, dns: { nameservers: ['9.9.9.9'] } }, { CNI_ARGS: 'SCALELB_SERVICE=' }, withDns))
  t.deepEqual(r2.dns, { nameservers: ['10.50.0.2'], options: ['ndots:1'] })
  t.is(l.a.agent.controller.inspectTask(CID).service, undefined, 'SCALELB_SERVICE= : no service')
})

test('bad input: unknown network or service is 7 naming the key, nothing left behind; an unreachable agent is 11; errors are the spec\'s JSON', async (t) => {
  const l = await lab(t)
  const net = failed(await run(l, 'ADD', { ...CONF, network: 'nope' }))
  t.deepEqual(net, { cniVersion: '1.0.0', code: CNI_ERR.INVALID_CONFIG, msg: 'network: unknown network "nope"', details: 'agent answered HTTP 404 NotFoundError on field network' })
  t.like(failed(await run(l, 'ADD', { ...CONF, service: 'nope' })), { code: CNI_ERR.INVALID_CONFIG, msg: 'service: unknown service "nope"' })
  t.like(failed(await run(l, 'ADD', CONF, { CNI_ARGS: 'SCALELB_SERVICE=nope' })), { code: CNI_ERR.INVALID_CONFIG, msg: 'CNI_ARGS SCALELB_SERVICE: unknown service "nope"' })
  t.deepEqual(l.a.agent.controller.localTasks(), [], 'nothing half-added')
  t.is(l.a.plumber.attached.size, 0)
  const down = failed(await run(l, 'ADD', { ...CONF, socket: '/nonexistent/scalelb.sock' }))
  t.is(down.code, CNI_ERR.TRY_AGAIN)
  t.regex(down.msg, /^scalelb agent \(\/nonexistent\/scalelb\.sock\): cannot reach the agent/)
  t.like(failed(await run(l, 'DEL', { ...CONF, socket: '/nonexistent/scalelb.sock' })), { code: CNI_ERR.TRY_AGAIN })
  t.like(failed(await run(l, 'ADD', { ...CONF, cniVersion: '2.0.0' })), { cniVersion: '1.0.0', code: CNI_ERR.INCOMPATIBLE_VERSION })
  t.like(failed(await run(l, 'ADD', { ...CONF, cniVersion: '0.4.0', network: 'nope' })), { cniVersion: '0.4.0', code: CNI_ERR.INVALID_CONFIG }, 'in the request\'s version')
  t.like(failed(await run(l, 'ADD', CONF, { CNI_NETNS: '' })), { code: CNI_ERR.INVALID_ENV, msg: 'CNI_NETNS: not set (ADD needs the container\'s network namespace)' })
  const raw = await runPlugin({ env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: CID, CNI_IFNAME: 'eth0', CNI_NETNS: NETNS }, stdin: '{"cniVersion": "1.0.0",', defaults: { defaultSocket: l.a.socket }, deps: () => { throw new Error('not reached') } })
  t.like(failed(raw), { code: CNI_ERR.DECODE })
})

test('DEL: removes the task; a second DEL, a DEL without a namespace and a DEL for a container never added succeed; another network\'s DEL leaves it alone', async (t) => {
  const l = await lab(t)
  ok(await run(l, 'ADD', CONF))
  const other = await l.a.agent.controller.createNetwork({ name: 'back', subnets: ['10.51.0.0/24'] })
  t.is((await run(l, 'DEL', { ...CONF, network: 'back' })).exitCode, 0, 'not this attachment: success, nothing done')
  t.is((await run(l, 'DEL', CONF, { CNI_IFNAME: 'net1' })).exitCode, 0)
  t.deepEqual(l.a.agent.controller.localTasks().map((x) => x.id), [CID])
  t.deepEqual(await run(l, 'DEL', CONF, { CNI_NETNS: '' }), { exitCode: 0, stdout: '' })
  t.deepEqual(l.a.agent.controller.localTasks(), [])
  t.is(l.a.plumber.attached.size, 0)
  t.deepEqual(await run(l, 'DEL', CONF), { exitCode: 0, stdout: '' }, 'DEL twice')
  t.deepEqual(await run(l, 'DEL', CONF, { CNI_CONTAINERID: 'never-added' }), { exitCode: 0, stdout: '' })
  t.truthy(other.id)
})

test('CHECK: passes when the agent, prevResult and the interface agree; names what differs otherwise', async (t) => {
  const l = await lab(t)
  const r = ok(await run(l, 'ADD', CONF))
  const ep = l.a.agent.controller.inspectTask(CID).endpoints[0]
  const address = r.ips?.[0]?.address ?? ''
  l.iface.set(`${NETNS}|eth0`, { mac: ep?.mac ?? '', addresses: [address] })
  t.deepEqual(await run(l, 'CHECK', { ...CONF, prevResult: r }), { exitCode: 0, stdout: '' })
  t.like(failed(await run(l, 'CHECK', CONF)), { code: CNI_ERR.INVALID_CONFIG, msg: 'prevResult: required for CHECK (the result of ADD)' })
  const wrongIp = { ...r, ips: [{ ...r.ips?.[0], address: '10.50.0.250/24' }] }
  t.like(failed(await run(l, 'CHECK', { ...CONF, prevResult: wrongIp })), { code: SCALELB_ERR.CHECK_FAILED, msg: `prevResult.ips: 10.50.0.250/24 for eth0, but the agent has ${ep?.ip ?? ''}` })
  t.like(failed(await run(l, 'CHECK', { ...CONF, prevResult: r }, { CNI_ARGS: 'SCALELB_SERVICE=api' })), { code: SCALELB_ERR.CHECK_FAILED, msg: `CNI_ARGS SCALELB_SERVICE: task ${CID} is a backend of web, not a backend of api` })
  l.iface.set(`${NETNS}|eth0`, { mac: ep?.mac ?? '', addresses: [] })
  t.like(failed(await run(l, 'CHECK', { ...CONF, prevResult: r })), { code: SCALELB_ERR.CHECK_FAILED, msg: `CNI_IFNAME: eth0 in ${NETNS} has no address, not ${address}` })
  l.iface.clear()
  t.like(failed(await run(l, 'CHECK', { ...CONF, prevResult: r })), { code: SCALELB_ERR.CHECK_FAILED, msg: `CNI_IFNAME: no interface eth0 in ${NETNS}` })
  t.deepEqual(await run(l, 'DEL', CONF), { exitCode: 0, stdout: '' })
  t.like(failed(await run(l, 'CHECK', { ...CONF, prevResult: r })), { code: SCALELB_ERR.CHECK_FAILED, msg: `CNI_CONTAINERID: the agent has no task ${CID}` })
})

test('VERSION needs no agent; STATUS answers 0 when the agent does, 50 when it cannot be reached', async (t) => {
  const l = await lab(t)
  const v = await runPlugin({ env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}', defaults: { defaultSocket: '/nonexistent' }, deps: () => { throw new Error('not reached') } })
  t.deepEqual(JSON.parse(v.stdout), { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] })
  t.deepEqual(await run(l, 'STATUS', CONF), { exitCode: 0, stdout: '' })
  t.like(failed(await run(l, 'STATUS', { ...CONF, socket: '/nonexistent/scalelb.sock' })), { code: CNI_ERR.NOT_AVAILABLE })
})

test('the bandwidth capability: the reference plugin run where the host end of the veth is, fed our result with that end as a host interface; its failure fails ADD; DEL and CHECK run it too', async (t) => {
  const l = await lab(t)
  const calls: BandwidthCall[] = []
  let code = 0
  const bandwidth = async (c: BandwidthCall): Promise<{ code: number, out: string }> => { calls.push(c); return { code, out: code === 0 ? '' : 'qdisc: file exists' } }
  const bw = { ingressRate: 8000000, ingressBurst: 80000, egressRate: 0, egressBurst: 0 }
  const conf = { ...CONF, capabilities: { bandwidth: true }, runtimeConfig: { bandwidth: bw } }
  // all zero: nothing to shape, no process
  ok(await run(l, 'ADD', { ...CONF, runtimeConfig: { bandwidth: { ingressRate: 0 } } }, {}, { bandwidth }))
  t.is(calls.length, 0)
  t.is((await run(l, 'DEL', CONF)).exitCode, 0)

  const r = ok(await run(l, 'ADD', conf, {}, { bandwidth }))
  t.is(calls.length, 1)
  const c = calls[0] as BandwidthCall
  t.like(c, { command: 'ADD', netns: undefined, cniPath: '/opt/cni/bin', env: { containerId: CID, ifname: 'eth0', netns: NETNS } })
  const stdin = JSON.parse(c.stdin) as { type: string, name: string, runtimeConfig: unknown, prevResult: CniResult }
  t.like(stdin, { type: 'bandwidth', name: 'front-web', runtimeConfig: { bandwidth: bw } })
  t.deepEqual(stdin.prevResult.interfaces, [{ name: 'mem-0' }, { name: 'eth0', mac: r.interfaces?.[1]?.mac, sandbox: NETNS }], 'the host end without a sandbox: the plugin looks it up where it runs')

  l.iface.set(`${NETNS}|eth0`, { mac: r.interfaces?.[1]?.mac ?? '', addresses: [r.ips?.[0]?.address ?? ''] })
  t.is((await run(l, 'CHECK', { ...conf, prevResult: r }, {}, { bandwidth })).exitCode, 0)
  t.is(calls.at(-1)?.command, 'CHECK')
  code = 1
  t.like(failed(await run(l, 'CHECK', { ...conf, prevResult: r }, {}, { bandwidth })), { code: SCALELB_ERR.CHECK_FAILED })
  code = 0
  t.is((await run(l, 'DEL', conf, {}, { bandwidth })).exitCode, 0)
  t.is(calls.at(-1)?.command, 'DEL')

  code = 1
  const f = failed(await run(l, 'ADD', conf, {}, { bandwidth }))
  t.is(f.code, SCALELB_ERR.AGENT)
  t.regex(f.msg, /bandwidth plugin failed ADD in the host netns: qdisc: file exists/)
  t.like(failed(await run(l, 'ADD', { ...CONF, runtimeConfig: { bandwidth: { ingressRate: -1 } } }, {}, { bandwidth })), { code: CNI_ERR.INVALID_CONFIG, msg: 'runtimeConfig.bandwidth.ingressRate: must be a non-negative integer' })
})
