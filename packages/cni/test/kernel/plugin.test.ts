/**
 * scalelb-cni on a real kernel: a 2-host lab (one agent per host netns), the
 * plugin run as a runtime runs it (CNI_* env + stdin, in the host's netns):
 * ADD, CHECK, DEL, DEL twice, DEL after the namespace is gone, ADD then an
 * agent restart then CHECK and DEL; then chained with Debian's reference
 * plugins (tuning, portmap) fed our prevResult, and the bandwidth capability
 * (the reference `bandwidth` run where the host end of the veth is). Needs root.
 */
import test, { type ImplementationFn } from 'ava'
import { randomBytes } from 'node:crypto'
import { access, constants, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot, rootTest } from '@scalelb/test-support'
import {
  createPlainNetns, labApi, labDown, labRun, labUp, probe, saveLab, serveInNetns, startAgent, stopProcess, taskNetnsName, waitFor, waitMembers,
  type LabHost, type LabState
} from '@scalelb/lab'
import { taskVethName } from '@scalelb/agent'
import type { CniResult } from '../../src/types.js'
import { REFERENCE_PLUGINS, buildPlugin, linksIn, referencePlugin, sandboxHasBackend, scalelbCni, type CniCall } from '../support/cni-lab.js'

const serial = rootTest.serial
const referencePlugins = await Promise.all(['tuning', 'portmap', 'bandwidth'].map(async (p) => await access(join(REFERENCE_PLUGINS, p), constants.X_OK).then(() => true, () => false)))
/** The chained test needs Debian's containernetworking-plugins: skipped naming it when they are not installed. */
const chainTest = referencePlugins.every((x) => x) ? serial : (title: string, impl: ImplementationFn<[]>) => { test.skip(`${title} (skipped: needs ${REFERENCE_PLUGINS}/{tuning,portmap,bandwidth}: Debian package containernetworking-plugins)`, impl) }
const SUBNET = '10.97.0.0/24'
const TARGET_PORT = 8080
let lab: LabState | undefined
let tmp: string | undefined
let networkId = ''
let vip = ''

function state (): LabState {
  if (lab === undefined) throw new Error('the lab did not come up (see the first failure)')
  return lab
}

function host (name: string): LabHost {
  return state().hosts.find((h) => h.name === name) as LabHost
}

/** The plugin's configuration for `h`'s agent. */
function conf (h: LabHost, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.0.0', name: 'front-web', type: 'scalelb-cni', network: 'front', service: 'web', socket: h.apiSocket, ...extra }
}

/** A container: a 64-hex ID (as Docker and Podman make them) and a fresh netns on `h`. */
async function container (h: LabHost, name: string): Promise<{ id: string, ns: string, path: string }> {
  const ns = taskNetnsName(state(), h, name)
  await createPlainNetns(state(), ns)
  return { id: randomBytes(32).toString('hex'), ns, path: `/run/netns/${ns}` }
}

async function deleteNetns (ns: string): Promise<void> {
  await labRun('ip', ['netns', 'del', ns], { allowFail: true })
  state().netns = state().netns.filter((n) => n !== ns)
  await saveLab(state())
}

/** The netns of the bridge of network `front` on `h`, where the host ends of the containers' veths are: the agent's overlay netns when it has one, else the host's. */
async function bridgeNetns (h: LabHost): Promise<string | undefined> {
  const ov = `/run/netns/${h.netnsPrefix}ov-${networkId.slice(0, 12)}`
  return await access(ov).then(() => ov, () => h.netns)
}

function call (command: CniCall['command'], c: { id: string, path: string }, extra: Partial<CniCall> = {}): CniCall {
  return { command, containerId: c.id, netns: c.path, ...extra }
}

test.before(async () => {
  if (!isRoot) return
  await buildPlugin()
  tmp = await mkdtemp(join(tmpdir(), `slbcni-${process.pid}-`))
  lab = await labUp({ nodes: 2, stateDir: join(tmp, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'] })
  networkId = (await labApi.createNetwork(host('h1'), 'front', [SUBNET])).id
  const svc = await labApi.createService(host('h1'), 'web', ['front'], [`80:${TARGET_PORT}/tcp`])
  vip = labApi.vipOn(svc, 'front') as string
  await waitFor('h2 learns the service', async () => await labApi.inspectService(host('h2'), 'web').then(() => true, () => false), { timeoutMs: 30_000 })
})

test.after.always(async () => {
  if (lab !== undefined) await labDown(lab)
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true })
})

serial('ADD plugs the container with the overlay MTU and makes it a backend everywhere; CHECK passes; DEL withdraws it; DEL twice succeeds', async (t) => {
  const h1 = host('h1')
  const h2 = host('h2')
  const c1 = await container(h1, 'c1')
  await serveInNetns(state(), c1.ns, 'c1', TARGET_PORT)
  const add = await scalelbCni(h1, call('ADD', c1), conf(h1))
  t.is(add.code, 0, add.stdout + add.stderr)
  const r = add.json as CniResult
  const address = r.ips?.[0]?.address as string
  const ip = address.split('/')[0] as string
  t.regex(address, /^10\.97\.0\.\d+\/24$/)
  t.is(r.interfaces?.[r.ips?.[0]?.interface as number]?.sandbox, c1.path)
  const mtu = (await labApi.inspectNetwork(h1, 'front')).mtu
  const eth0 = (await linksIn(c1.ns, 'addr')).find((l) => l.ifname === 'eth0')
  t.is(eth0?.mtu, mtu, 'the overlay MTU, as task add --netns')
  t.deepEqual(eth0?.addr_info?.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), [address])
  t.true((await linksIn(await bridgeNetns(h1))).some((l) => l.ifname === r.interfaces?.[0]?.name), 'the host end of the veth, as the result says')

  const check = await scalelbCni(h1, call('CHECK', c1), conf(h1, { prevResult: r }))
  t.deepEqual([check.code, check.stdout], [0, ''], check.stderr)

  // a client on h2: an endpoint only (no service), reaching the VIP through h2's sandbox
  const c2 = await container(h2, 'c2')
  const { service: _s, ...endpointOnly } = conf(h2)
  const add2 = await scalelbCni(h2, call('ADD', c2), endpointOnly)
  t.is(add2.code, 0, add2.stdout)
  await waitFor('h2\'s sandbox balances to c1', async () => await sandboxHasBackend(h2, networkId, ip, TARGET_PORT), { timeoutMs: 30_000 })
  const answers = await probe(state(), c2.ns, [{ vip, port: 80 }], 5)
  t.deepEqual(answers[`${vip}:80`], { c1: 5 })

  const del = await scalelbCni(h1, call('DEL', c1), conf(h1))
  t.deepEqual([del.code, del.stdout], [0, ''], del.stderr)
  t.false((await linksIn(c1.ns)).some((l) => l.ifname === 'eth0'), 'the container\'s interface is gone')
  await waitFor('h2\'s sandbox drops c1', async () => !await sandboxHasBackend(h2, networkId, ip, TARGET_PORT), { timeoutMs: 30_000 })
  const again = await scalelbCni(h1, call('DEL', c1), conf(h1))
  t.deepEqual([again.code, again.stdout], [0, ''], 'DEL twice')
  t.is((await scalelbCni(h2, call('DEL', c2), endpointOnly)).code, 0)
  t.false((await labApi.listTasks(h2)).some((x) => x.id === c2.id))
})

serial('DEL after the namespace is gone: success, the host end and the task gone, the address released', async (t) => {
  const h1 = host('h1')
  const c3 = await container(h1, 'c3')
  const r = (await scalelbCni(h1, call('ADD', c3), conf(h1))).json as CniResult
  const hostIf = r.interfaces?.[0]?.name as string
  t.true((await linksIn(await bridgeNetns(h1))).some((l) => l.ifname === hostIf))
  await deleteNetns(c3.ns)
  const del = await scalelbCni(h1, call('DEL', c3, { netns: '' }), conf(h1))
  t.deepEqual([del.code, del.stdout], [0, ''], del.stderr)
  t.false((await linksIn(await bridgeNetns(h1))).some((l) => l.ifname === hostIf), 'no host-side link left')
  t.false((await labApi.listTasks(h1)).some((x) => x.id === c3.id))
  t.is((await scalelbCni(h1, call('DEL', c3, { netns: '' }), conf(h1))).code, 0, 'and again')
})

serial('ADD, agent restart, CHECK still passes, DEL cleans up (the task came back from the agent\'s state file)', async (t) => {
  const h1 = host('h1')
  const c4 = await container(h1, 'c4')
  const add = await scalelbCni(h1, call('ADD', c4), conf(h1))
  t.is(add.code, 0, add.stdout)
  const r = add.json as CniResult
  await stopProcess({ pid: h1.pid as number, pidStart: h1.pidStart as string }, { signal: 'SIGTERM' })
  const down = await scalelbCni(h1, call('CHECK', c4), conf(h1, { prevResult: r }))
  t.like(down.json, { code: 11 }, 'agent down: try again later')
  await startAgent(state(), h1, { join: [host('h2').listen], extraArgs: ['--profile', 'local'] })
  await waitMembers(state(), 2, 60_000)
  await waitFor('h1\'s agent answers', async () => (await scalelbCni(h1, { command: 'STATUS', containerId: 'x', netns: '' }, conf(h1))).code === 0, { timeoutMs: 30_000 })
  const check = await scalelbCni(h1, call('CHECK', c4), conf(h1, { prevResult: r }))
  t.deepEqual([check.code, check.stdout], [0, ''], check.stderr)
  const del = await scalelbCni(h1, call('DEL', c4), conf(h1))
  t.deepEqual([del.code, del.stdout], [0, ''], del.stderr)
  t.false((await linksIn(c4.ns)).some((l) => l.ifname === 'eth0'))
  t.false((await linksIn(await bridgeNetns(h1))).some((l) => l.ifname === r.interfaces?.[0]?.name))
})

serial('bad input: unknown service, a netns that does not exist, a second ADD with another service: error JSON naming the field, nothing plumbed', async (t) => {
  const h1 = host('h1')
  const c5 = await container(h1, 'c5')
  const unknown = await scalelbCni(h1, call('ADD', c5), conf(h1, { service: 'nope' }))
  t.is(unknown.code, 1)
  t.like(unknown.json, { cniVersion: '1.0.0', code: 7, msg: 'service: unknown service "nope"' })
  const noNs = await scalelbCni(h1, call('ADD', c5, { netns: '/run/netns/slbcni-does-not-exist' }), conf(h1))
  t.like(noNs.json, { code: 4 })
  t.regex((noNs.json as { msg: string }).msg, /^CNI_NETNS: \/run\/netns\/slbcni-does-not-exist does not exist/)
  t.deepEqual((await linksIn(c5.ns)).map((l) => l.ifname), ['lo'], 'nothing in the container')
  // (the network's bridge and LB sandbox that the attempts built stay for the LB release grace, as after a task rm)
  const hostLinks = (await linksIn(await bridgeNetns(h1))).map((l) => l.ifname)
  for (const path of [c5.path, '/run/netns/slbcni-does-not-exist']) t.false(hostLinks.includes(taskVethName(h1.netnsPrefix, networkId, path)), `no host end of a veth for ${path}`)
  t.false((await labApi.listTasks(h1)).some((x) => x.id === c5.id))

  t.is((await scalelbCni(h1, call('ADD', c5), conf(h1))).code, 0)
  await labApi.createService(h1, 'other', ['front'], ['81:8081/tcp'])
  const other = await scalelbCni(h1, call('ADD', c5, { args: 'IgnoreUnknown=1;SCALELB_SERVICE=other' }), conf(h1))
  t.like(other.json, { code: 100 })
  t.regex((other.json as { msg: string }).msg, /^CNI_ARGS SCALELB_SERVICE: task [0-9a-f]{64} exists for service web, not other$/)
  t.is((await scalelbCni(h1, call('DEL', c5), conf(h1))).code, 0)
})

chainTest('chained: tuning and portmap read our result as prevResult; the bandwidth capability shapes on the host end of the veth, in the agent\'s overlay netns (ADD, CHECK, DEL in the runtime\'s order)', async (t) => {
  const h1 = host('h1')
  const c6 = await container(h1, 'c6')
  const bandwidth = { ingressRate: 8_000_000, ingressBurst: 80_000, egressRate: 8_000_000, egressBurst: 80_000 }
  const chain: Array<Record<string, unknown>> = [
    conf(h1, { capabilities: { bandwidth: true }, runtimeConfig: { bandwidth } }),
    { type: 'tuning', sysctl: { 'net.core.somaxconn': '777' } },
    { type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: TARGET_PORT, protocol: 'tcp' }] } }
  ]
  const run = async (command: CniCall['command'], plugin: Record<string, unknown>, prevResult?: CniResult): Promise<{ code: number, json: unknown, out: string }> => {
    const full = { cniVersion: '1.0.0', name: 'front-web', ...plugin, ...(prevResult === undefined ? {} : { prevResult }) }
    const r = plugin.type === 'scalelb-cni' ? await scalelbCni(h1, call(command, c6), full) : await referencePlugin(h1, plugin.type as string, call(command, c6), full)
    return { code: r.code, json: r.json, out: r.stdout + r.stderr }
  }
  let result: CniResult | undefined
  for (const p of chain) {
    const r = await run('ADD', p, result)
    t.is(r.code, 0, `${String(p.type)} ADD: ${r.out}`)
    result = r.json as CniResult
  }
  const hostNs = await bridgeNetns(h1)
  const hostIf = result?.interfaces?.[0]?.name as string
  const inHostNs = async (args: string[]): Promise<string> => (await labRun('nsenter', [`--net=${hostNs?.includes('/') === true ? hostNs : `/run/netns/${hostNs ?? ''}`}`, ...args])).stdout
  t.regex(await inHostNs(['tc', 'qdisc', 'show', 'dev', hostIf]), /tbf/, 'the container\'s ingress shaped on the host end of its veth')
  t.regex(await inHostNs(['tc', 'qdisc', 'show', 'dev', hostIf]), /ingress/, 'its egress redirected to an ifb')
  if (hostNs !== h1.netns) {
    // the reference plugin chained after us runs in the host's netns: it finds no host end there (README, CNI)
    const chained = await run('ADD', { type: 'bandwidth', ...bandwidth }, result)
    t.not(chained.code, 0)
    t.regex(chained.out, /not in host ns|no veth peer/)
  }
  const ours = result?.ips?.find((x) => x.address.startsWith('10.97.'))
  t.truthy(ours, 'our address survives the chain')
  t.is((await labRun('ip', ['netns', 'exec', c6.ns, 'sysctl', '-n', 'net.core.somaxconn'])).stdout.trim(), '777', 'tuning set its sysctl in our container')
  const nat = (await labRun('ip', ['netns', 'exec', h1.netns as string, 'iptables', '-t', 'nat', '-S'])).stdout
  t.regex(nat, new RegExp(`--dport 18080 .*--to-destination ${(ours?.address ?? '').split('/')[0] ?? ''}:${TARGET_PORT}`), 'portmap DNATs to our address')
  for (const p of chain) {
    const r = await run('CHECK', p, result)
    // Debian 12's portmap (1.1.1) fails CHECK for an IPv4-only container: it looks for ip6tables rules it
    // never made (containernetworking/plugins#819, fixed upstream); that failure is allowed, no other
    if (p.type === 'portmap' && r.code !== 0) t.regex(r.out, /could not check ipv6 dnat: chain CNI-DN-\w+ not found/, `portmap CHECK: ${r.out}`)
    else t.is(r.code, 0, `${String(p.type)} CHECK: ${r.out}`)
  }
  for (const p of [...chain].reverse()) {
    const r = await run('DEL', p, result)
    t.is(r.code, 0, `${String(p.type)} DEL: ${r.out}`)
  }
  t.notRegex((await labRun('ip', ['netns', 'exec', h1.netns as string, 'iptables', '-t', 'nat', '-S'])).stdout, /--dport 18080/)
  t.false((await linksIn(hostNs)).some((l) => l.ifname === hostIf))
  t.false((await linksIn(hostNs)).some((l) => l.ifname.startsWith('bwp')), 'the ifb device gone')
})
