/**
 * Overlay MTU on a real kernel: a 2-host `scalelb lab` (underlay veths at
 * 1500 bytes, as Ethernet), one agent each, a task on each host plugged in
 * with `task add --netns`. Whatever MTU M the task's own eth0 has, traffic of
 * that size must cross the VXLAN overlay: a DF ping of M-28 bytes, a
 * fragmented 3,000-byte ping and a 1 MB UDP transfer. Needs root.
 */
import test from 'ava'
import { isRoot, rootTest } from '@scalelb/test-support'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { labApi, labDown, labRun, labUp, startTask, type LabHost, type LabState } from '../packages/lab/src/index.js'
import { mtuIn, pingReplies, udpTransfer } from '../packages/agent/test/support/mtu-traffic.js'
import { waitFor } from '@scalelb/test-support'

const serial = rootTest.serial
/** Title suffix that says why the tests are skipped without root. */
const UDP_TOTAL_BYTES = 1024 * 1024
/** A datagram far above any MTU here: the kernel fragments it. */
const FRAGMENTED_DATAGRAM_BYTES = 60_000
let state: LabState | undefined
let tmpParent: string | undefined
const tasks: Record<'a' | 'b', { ns: string, ip: string }> = { a: { ns: '', ip: '' }, b: { ns: '', ip: '' } }

test.before(async () => {
  if (!isRoot) return
  tmpParent = await mkdtemp(join(tmpdir(), 'slb-mtu-'))
  state = await labUp({ nodes: 2, stateDir: join(tmpParent, 'lab'), mode: 'netns', agentArgs: ['--profile', 'local'] })
  const [h1, h2] = state.hosts as [LabHost, LabHost]
  await labApi.createNetwork(h1, 'mtu', ['10.93.0.0/24'])
  await labApi.createService(h1, 'echo', ['mtu'], ['7:7/udp'])
  await waitFor('h2 knows service echo', async () => await labApi.inspectService(h2, 'echo').then(() => true, () => false), { timeoutMs: 30_000 })
  for (const [k, h] of [['a', h1], ['b', h2]] as const) {
    const t = await startTask(state, h, { service: 'echo', name: `mtu-${k}`, network: 'mtu', serve: false })
    const info = (await labApi.listTasks(h)).find((x) => x.id === `mtu-${k}`)
    tasks[k] = { ns: t.netns, ip: info?.endpoints[0]?.ip as string }
  }
})

test.after.always(async () => {
  if (state !== undefined) await labDown(state)
  if (tmpParent !== undefined) await rm(tmpParent, { recursive: true, force: true })
})

serial(`the lab underlay is a 1500-byte Ethernet path`, async (t) => {
  const h1 = state?.hosts[0] as LabHost
  const out = (await labRun('ip', ['-n', h1.netns as string, '-j', 'link', 'show', 'dev', 'eth0'])).stdout
  t.is((JSON.parse(out) as Array<{ mtu: number }>)[0]?.mtu, 1500)
})

serial(`a task's eth0 has the overlay MTU, and packets of that size cross the overlay: DF ping of M-28 bytes, fragmented 3,000-byte ping, 1 MB of UDP`, async (t) => {
  const { a, b } = tasks
  const m = await mtuIn(a.ns, 'eth0')
  t.log(`task eth0 MTU M = ${m}; remote task ${b.ip}`)
  t.is(await mtuIn(b.ns, 'eth0'), m, 'the same MTU on both hosts')
  // connectivity first (the remote's FDB entry arrives by gossip), so a later loss is the packet size alone
  await waitFor('a small ping reaches the remote task', async () => (await pingReplies(a.ns, b.ip, 56, { df: true, count: 1 })).received === 1, { timeoutMs: 30_000 })

  const df = await pingReplies(a.ns, b.ip, m - 28, { df: true })
  t.is(df.received, 3, `DF ping of ${m - 28} bytes:\n${df.output}`)
  // one byte more does not fit the task's own eth0: its stack refuses it, the sender knows the path MTU
  t.is((await pingReplies(a.ns, b.ip, m - 27, { df: true, count: 1 })).received, 0)
  const frag = await pingReplies(a.ns, b.ip, 3000, { df: false })
  t.is(frag.received, 3, `fragmented 3,000-byte ping:\n${frag.output}`)

  const full = await udpTransfer(a.ns, b.ns, b.ip, 9001, m - 28, UDP_TOTAL_BYTES)
  t.log(`UDP, ${m - 28}-byte datagrams: sent ${JSON.stringify(full.sent)}`)
  t.is(full.sent.error, undefined)
  t.is(full.received?.bytes, UDP_TOTAL_BYTES)
  t.is(full.received?.sha256, full.sent.sha256, '1 MB arrives whole')

  const big = await udpTransfer(a.ns, b.ns, b.ip, 9002, FRAGMENTED_DATAGRAM_BYTES, UDP_TOTAL_BYTES)
  t.log(`UDP, ${FRAGMENTED_DATAGRAM_BYTES}-byte datagrams (fragmented): sent ${JSON.stringify(big.sent)}`)
  t.is(big.sent.error, undefined)
  t.is(big.received?.bytes, UDP_TOTAL_BYTES)
  t.is(big.received?.sha256, big.sent.sha256, '1 MB of fragmented datagrams arrives whole')
  t.is(m, 1450, 'derived: the 1500-byte underlay minus 50 bytes of VXLAN')
})

serial(`every interface of the network on each host has that MTU: bridge, VXLAN device, both ends of every veth`, async (t) => {
  const m = await mtuIn(tasks.a.ns, 'eth0')
  const id = (await labApi.inspectNetwork(state?.hosts[0] as LabHost, 'mtu')).id
  for (const h of state?.hosts ?? []) {
    // in a lab host, every link but lo and the underlay's eth0 is the agent's; the sandbox's uplink (su*) is not
    // the overlay's: it carries unencapsulated traffic to the underlay at the host's MTU
    const linksIn = async (ns: string): Promise<Array<{ ifname: string, mtu: number, linkinfo?: { info_kind?: string } }>> => JSON.parse((await labRun('ip', ['-n', ns, '-j', '-d', 'link', 'show'])).stdout)
    // agents run with --overlay-netns (the default) keep the bridge and VXLAN device in a netns of the network's, the host a veth into it
    const ovns = `${h.netnsPrefix}ov-${id.slice(0, 12)}`
    const inOvns = await access(`/run/netns/${ovns}`).then(() => true, () => false)
    const links = [...await linksIn(h.netns as string), ...(inOvns ? (await linksIn(ovns)).filter((l) => l.ifname !== 'lo') : [])]
    // (with the overlay netns, which is also the LB sandbox, the uplink's inner end up0 is there too, and no sandbox veth)
    const ours = links.filter((l) => l.ifname !== 'lo' && l.ifname !== 'eth0' && !l.ifname.startsWith('su') && l.ifname !== 'up0')
    t.deepEqual(ours.map((l) => l.linkinfo?.info_kind).sort(), inOvns ? ['bridge', 'veth', 'veth', 'veth', 'vxlan'] : ['bridge', 'veth', 'veth', 'vxlan'], `${h.name}: bridge, VXLAN, task veth, ${inOvns ? 'the host\'s veth into the overlay netns (both ends)' : 'LB sandbox veth'}`)
    t.deepEqual(ours.map((l) => `${l.ifname}=${l.mtu}`), ours.map((l) => `${l.ifname}=${m}`), h.name)
    t.is(await mtuIn(`${h.netnsPrefix}lb-${id.slice(0, 12)}`, 'lb0'), m, `${h.name}: the LB sandbox's lb0`)
  }
})

serial(`a network's own MTU wins over the derived one; one above what the underlay carries is refused with 400 naming mtu`, async (t) => {
  const [h1, h2] = state?.hosts as [LabHost, LabHost]
  const api = labApi.hostApi(h1)
  const refused = await api.createNetwork({ name: 'toobig', subnets: ['10.95.0.0/24'], mtu: 1451 }).then(() => undefined, (err: unknown) => err as Error & { status?: number })
  t.is(refused?.status, 400)
  t.regex(refused?.message ?? '', /mtu: 1451 does not fit the underlay: its MTU 1500 minus 50 bytes of VXLAN over IPv4 leaves at most 1450/)
  await api.createNetwork({ name: 'small', subnets: ['10.96.0.0/24'], mtu: 1400 })
  await labApi.createService(h1, 'small', ['small'], ['7:7/udp'])
  await waitFor('h2 knows service small', async () => await labApi.inspectService(h2, 'small').then(() => true, () => false), { timeoutMs: 30_000 })
  const a = await startTask(state as LabState, h1, { service: 'small', name: 'small-a', network: 'small', serve: false })
  const b = await startTask(state as LabState, h2, { service: 'small', name: 'small-b', network: 'small', serve: false })
  const bIp = (await labApi.listTasks(h2)).find((x) => x.id === 'small-b')?.endpoints[0]?.ip as string
  t.is(await mtuIn(a.netns, 'eth0'), 1400)
  t.is(await mtuIn(b.netns, 'eth0'), 1400)
  await waitFor('a small ping reaches the remote task', async () => (await pingReplies(a.netns, bIp, 56, { df: true, count: 1 })).received === 1, { timeoutMs: 30_000 })
  t.is((await pingReplies(a.netns, bIp, 1400 - 28, { df: true })).received, 3)
})

serial(`network inspect shows the MTU the task got`, async (t) => {
  const h1 = state?.hosts[0] as LabHost
  t.is((await labApi.inspectNetwork(h1, 'mtu')).mtu, await mtuIn(tasks.a.ns, 'eth0'))
})
