import { bridgeBatch, createKernel, ipBatch, KernelCommandError, type Kernel } from '../../../../src/dataplane/kernel/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab } from '../../../support/netns.js'

/** The fields scalelb reads from each command's JSON (what the in-process answer must give as the command does). */
const LINK_FIELDS = ['ifindex', 'ifname', 'ifalias', 'address', 'master', 'mtu', 'operstate', 'link_index', 'link_netnsid'] as const
const ADDR_FIELDS = ['family', 'local', 'prefixlen', 'scope'] as const

type Json = Record<string, unknown>

function pick (o: Json, keys: readonly string[]): Json {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]))
}

function links (out: string): Json[] {
  return (JSON.parse(out) as Json[]).map((l) => {
    const info = l.linkinfo as { info_kind?: string, info_data?: Json } | undefined
    const data = info?.info_kind === 'vxlan' ? pick(info.info_data ?? {}, ['id', 'local', 'local6']) : undefined
    const addrs = (l.addr_info as Json[] | undefined)?.map((a) => pick(a, ADDR_FIELDS))
    return { ...pick(l, LINK_FIELDS), kind: info?.info_kind, data, addrs }
  })
}

function entries (out: string, keys: readonly string[]): string[] {
  return (JSON.parse(out) as Json[]).map((e) => JSON.stringify(pick(e, keys))).sort()
}

/** Every read of `args` answered by both kernels, as the fields scalelb reads. */
async function both (byCommand: Kernel, inProcess: Kernel, tool: string, args: string[], netns?: string): Promise<[unknown, unknown]> {
  const shape = (out: string): unknown => args.includes('neigh')
    ? entries(out, ['dst', 'lladdr', 'state'])
    : args.includes('fdb') ? entries(out, ['mac', 'dst', 'state', 'flags']) : links(out)
  return [shape(await byCommand.run(tool, args, { netns })), shape(await inProcess.run(tool, args, { netns }))]
}

rootTest(`link, address, neighbour and FDB reads in-process give what ip/bridge print, without a process`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const byCommand = createKernel({ baseNetns: lab.host, rtnlInProcess: false })
  const inProcess = createKernel({ baseNetns: lab.host })
  const task = await lab.netns('task')
  await ipBatch(byCommand, [
    'link add rbr0 mtu 1450 type bridge', 'link set rbr0 alias net-1', 'link set rbr0 up',
    'link add rvx0 mtu 1450 type vxlan id 4242 local 192.168.93.1 dstport 4789 nolearning proxy', 'link set rvx0 master rbr0', 'link set rvx0 up',
    'link add rvx6 type vxlan id 43 local fd00:93::1 dstport 4790 nolearning', 'link set rvx6 up',
    `link add rve0 mtu 1450 type veth peer name eth0 mtu 1450 netns /run/netns/${task}`, 'link set rve0 master rbr0', 'link set rve0 up',
    'addr add 10.93.0.1/24 dev rbr0', 'addr add fd00:93:0:0:1::a/64 dev rbr0 nodad', 'addr add 10.93.9.9/32 dev rbr0',
    'neigh replace 10.93.0.5 lladdr 02:00:0a:5d:00:05 dev rvx0 nud permanent',
    'neigh replace fd00:93::5 lladdr 02:00:0a:5d:00:06 dev rvx0 nud permanent'
  ])
  await ipBatch(byCommand, ['addr add 10.93.0.7/24 dev eth0', 'link set eth0 up'], task)
  await bridgeBatch(byCommand, [
    'fdb append 00:00:00:00:00:00 dev rvx0 dst 192.168.93.2 self permanent',
    'fdb append 00:00:00:00:00:00 dev rvx0 dst 192.168.93.3 self permanent',
    'fdb replace 02:00:0a:5d:00:05 dev rvx0 dst 192.168.93.2 self permanent'
  ])
  const reads: Array<[string, string[], string?]> = [
    ['ip', ['-d', '-j', 'link', 'show']],
    ['ip', ['-j', 'addr', 'show']],
    ['ip', ['-d', '-j', 'addr', 'show', 'dev', 'rbr0']],
    ['ip', ['-j', 'addr', 'show', 'dev', 'eth0'], task],
    ['ip', ['-d', '-j', 'link', 'show'], task],
    ['ip', ['-j', 'neigh', 'show', 'dev', 'rvx0']],
    ['bridge', ['-j', 'fdb', 'show', 'dev', 'rvx0']],
    ['bridge', ['-j', 'fdb', 'show', 'dev', 'rve0']]
  ]
  const spawned = byCommand.spawns()
  for (const [tool, args, ns] of reads) {
    const [want, got] = await both(byCommand, inProcess, tool, args, ns)
    t.deepEqual(got, want, `${tool} ${args.join(' ')}${ns === undefined ? '' : ` in ${ns}`}`)
  }
  t.is(byCommand.spawns(), spawned + reads.length)
  t.is(inProcess.spawns(), 0)
  // the fields the overlay and the LB sandbox check read, spelled out (the comparison above holds them)
  const all = links(await inProcess.run('ip', ['-d', '-j', 'link', 'show']))
  t.like(all.find((l) => l.ifname === 'rbr0'), { ifalias: 'net-1', mtu: 1450, kind: 'bridge' })
  t.like(all.find((l) => l.ifname === 'rvx0'), { master: 'rbr0', data: { id: 4242, local: '192.168.93.1' } })
  t.like(all.find((l) => l.ifname === 'rvx6'), { data: { id: 43, local6: 'fd00:93::1' } })
  t.is(typeof all.find((l) => l.ifname === 'rve0')?.link_index, 'number')
  const addrs = links(await inProcess.run('ip', ['-j', 'addr', 'show', 'dev', 'rbr0']))[0]?.addrs as Json[]
  t.deepEqual(addrs.filter((a) => a.scope === 'global').map((a) => `${String(a.local)}/${String(a.prefixlen)}`), ['10.93.0.1/24', '10.93.9.9/32', 'fd00:93::1:0:0:a/64'])
  t.deepEqual(entries(await inProcess.run('ip', ['-j', 'neigh', 'show', 'dev', 'rvx0']), ['dst', 'lladdr']),
    ['{"dst":"10.93.0.5","lladdr":"02:00:0a:5d:00:05"}', '{"dst":"fd00:93::5","lladdr":"02:00:0a:5d:00:06"}'])
})

rootTest(`in-process reads fail as the commands do: a missing device is named, a missing netns is an error`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const k = createKernel({ baseNetns: lab.host })
  const dev = await t.throwsAsync(k.run('ip', ['-j', 'neigh', 'show', 'dev', 'nosuch0']), { instanceOf: KernelCommandError })
  t.regex(dev?.stderr ?? '', /Cannot find device "nosuch0"/)
  await t.throwsAsync(k.run('bridge', ['-j', 'fdb', 'show', 'dev', 'nosuch0']), { instanceOf: KernelCommandError, message: /nosuch0/ })
  await t.throwsAsync(k.run('ip', ['-d', '-j', 'addr', 'show', 'dev', 'lb0'], { netns: `${lab.prefix}gone` }), { instanceOf: KernelCommandError, message: /gone/ })
  t.is(k.spawns(), 0)
})
