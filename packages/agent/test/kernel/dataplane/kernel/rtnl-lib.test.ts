import { bridgeBatch, createKernel, ipBatch, KernelCommandError } from '../../../../src/dataplane/kernel/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab } from '../../../support/netns.js'

const LINES = {
  ip: [
    'neigh replace 10.91.0.5 lladdr 02:00:0a:5b:00:05 dev vx0 nud permanent',
    'neigh replace 10.91.0.6 lladdr 02:00:0a:5b:00:06 dev vx0 nud permanent',
    'neigh replace 10.91.0.6 lladdr 02:00:0a:5b:00:66 dev vx0 nud permanent',
    'neigh del 10.91.0.5 dev vx0'
  ],
  bridge: [
    'fdb append 00:00:00:00:00:00 dev vx0 dst 192.168.91.2 self permanent',
    'fdb append 00:00:00:00:00:00 dev vx0 dst 192.168.91.3 self permanent',
    'fdb replace 02:00:0a:5b:00:05 dev vx0 dst 192.168.91.2 self permanent',
    'fdb replace 02:00:0a:5b:00:06 dev vx0 dst 192.168.91.2 self permanent',
    'fdb replace 02:00:0a:5b:00:06 dev vx0 dst 192.168.91.3 self permanent',
    'fdb del 02:00:0a:5b:00:05 dev vx0 dst 192.168.91.2 self',
    'fdb del 00:00:00:00:00:00 dev vx0 dst 192.168.91.2 self'
  ]
}

/** What the kernel holds on vx0, read with the commands (sorted, stable fields only). */
async function state (k: ReturnType<typeof createKernel>): Promise<{ neigh: string[], fdb: string[] }> {
  const neigh = JSON.parse(await k.run('ip', ['-j', 'neigh', 'show', 'dev', 'vx0'])) as Array<{ dst: string, lladdr: string, state: string[] }>
  const fdb = JSON.parse(await k.run('bridge', ['-j', 'fdb', 'show', 'dev', 'vx0'])) as Array<{ mac: string, dst?: string, state?: string, flags?: string[] }>
  return {
    neigh: neigh.map(n => `${n.dst} ${n.lladdr} ${n.state.join(',')}`).sort(),
    fdb: fdb.filter(f => f.dst !== undefined).map(f => `${f.mac} ${f.dst as string} ${f.state ?? ''} ${(f.flags ?? []).join(',')}`).sort()
  }
}

async function vxlanHost (lab: Awaited<ReturnType<typeof createLab>>, name: string): Promise<ReturnType<typeof createKernel>> {
  const ns = await lab.netns(name)
  const k = createKernel({ baseNetns: ns, rtnlInProcess: false })
  await ipBatch(k, ['link add vx0 type vxlan id 91 local 192.168.91.1 dstport 4789 nolearning proxy', 'link set vx0 up'])
  return k
}

rootTest(`neighbour and FDB batches in-process leave the kernel as the ip/bridge commands do, without a process`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const byCommand = await vxlanHost(lab, 'a')
  const inProcess = createKernel({ baseNetns: (await vxlanHost(lab, 'b')).baseNetns })
  for (const k of [byCommand, inProcess]) {
    await ipBatch(k, LINES.ip)
    await bridgeBatch(k, LINES.bridge)
  }
  t.is(inProcess.spawns(), 0)
  t.true(byCommand.spawns() > 0)
  const want = await state(byCommand)
  t.deepEqual(want.neigh, ['10.91.0.6 02:00:0a:5b:00:66 PERMANENT'])
  t.is(want.fdb.length, 2)
  t.deepEqual(await state(createKernel({ baseNetns: inProcess.baseNetns })), want)
})

rootTest(`a refused neighbour line stops the batch and is reported with the kernel's reason; a missing device is named`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const k = createKernel({ baseNetns: (await vxlanHost(lab, 'a')).baseNetns })
  const err = await t.throwsAsync(ipBatch(k, [
    'neigh replace 10.91.0.5 lladdr 02:00:0a:5b:00:05 dev vx0 nud permanent',
    'neigh del 10.91.0.9 dev vx0',
    'neigh replace 10.91.0.7 lladdr 02:00:0a:5b:00:07 dev vx0 nud permanent'
  ]), { instanceOf: KernelCommandError })
  t.regex(err?.stderr ?? '', /RTNETLINK answers: No such file or directory \(line 2: neigh del 10\.91\.0\.9 dev vx0\)/)
  t.deepEqual((await state(createKernel({ baseNetns: k.baseNetns }))).neigh, ['10.91.0.5 02:00:0a:5b:00:05 PERMANENT'], 'line 1 applied, line 3 not')
  const missing = await t.throwsAsync(bridgeBatch(k, ['fdb replace 02:00:0a:5b:00:05 dev vx9 dst 192.168.91.2 self permanent']), { instanceOf: KernelCommandError })
  t.regex(missing?.stderr ?? '', /Cannot find device "vx9"/)
  await t.throwsAsync(ipBatch(createKernel({ baseNetns: `${lab.prefix}gone` }), ['neigh del 10.91.0.5 dev vx0']), { instanceOf: KernelCommandError, message: /gone/ })
})

rootTest(`task plumbing in-process: veth into the bridge with its peer in the task netns, MAC, address, up; a second add is refused; detach removes both ends`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const k = lab.kernel
  await ipBatch(createKernel({ baseNetns: k.baseNetns, rtnlInProcess: false }), ['link add sbtest mtu 1400 type bridge', 'link set sbtest up'])
  const task = await lab.netns('task')
  const lines = [`link add sttest mtu 1400 type veth peer name eth0 mtu 1400 netns /run/netns/${task}`, 'link set sttest master sbtest', 'link set sttest up']
  await ipBatch(k, lines)
  await ipBatch(k, ['link set eth0 address 02:42:0a:00:00:07', 'addr add 10.9.0.7/24 dev eth0', 'link set eth0 up', 'link set lo up'], `/run/netns/${task}`)
  t.is(k.spawns(), 0)
  const host = JSON.parse(await createKernel({ baseNetns: k.baseNetns }).run('ip', ['-j', '-d', 'link', 'show', 'sttest'])) as Array<{ mtu: number, master: string, flags: string[] }>
  t.like(host[0], { mtu: 1400, master: 'sbtest' })
  t.true(host[0]?.flags.includes('UP'))
  const inTaskLink = JSON.parse(await createKernel({ baseNetns: task }).run('ip', ['-j', 'link', 'show', 'eth0'])) as Array<{ mtu: number, address: string, flags: string[] }>
  t.like(inTaskLink[0], { mtu: 1400, address: '02:42:0a:00:00:07' })
  t.true(inTaskLink[0]?.flags.includes('UP'))
  const inTask = JSON.parse(await createKernel({ baseNetns: task }).run('ip', ['-j', '-4', 'addr', 'show', 'eth0'])) as Array<{ addr_info: Array<{ local: string, prefixlen: number }> }>
  t.deepEqual(inTask[0]?.addr_info.map(a => `${a.local}/${a.prefixlen}`), ['10.9.0.7/24'])
  const again = await t.throwsAsync(ipBatch(k, lines), { instanceOf: KernelCommandError })
  t.regex(again?.stderr ?? '', /RTNETLINK answers: File exists \(line 1: link add sttest/)
  await ipBatch(k, ['link del sttest'])
  t.is(JSON.parse(await createKernel({ baseNetns: task }).run('ip', ['-j', 'link', 'show'])).length, 1, 'only lo is left in the task netns')
})

rootTest(`a link's alias, MAC and addresses read in-process are what \`ip -d -j addr show\` prints, without a process`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const byCommand = createKernel({ baseNetns: await lab.netns('r'), rtnlInProcess: false })
  const lines = ['link add hk0 type veth peer name hk1', 'link set hk0 address 02:42:0a:5b:00:02', 'link set hk0 alias net-hk', 'link set hk0 up',
    'addr add 10.91.0.2/16 dev hk0', 'addr add fd00:5b::2/64 dev hk0 nodad']
  for (let i = 1; i <= 300; i++) lines.push(`addr add 10.91.${i >> 8}.${i & 255}/32 dev hk0`, `addr add fd00:5b::ff:${i.toString(16)}/128 dev hk0 nodad`)
  await ipBatch(byCommand, lines)
  const inProcess = createKernel({ baseNetns: byCommand.baseNetns })
  const addrShow = ['-d', '-j', 'addr', 'show', 'dev', 'hk0']
  const [read] = JSON.parse(await inProcess.run('ip', addrShow)) as Array<{ ifalias: string, address: string, addr_info: Array<{ family: string, local: string, prefixlen: number, scope: string }> }>
  t.is(inProcess.spawns(), 0)
  const [want] = JSON.parse(await byCommand.run('ip', ['-d', '-j', 'addr', 'show', 'dev', 'hk0'])) as Array<{ ifalias: string, address: string, addr_info: Array<{ family: string, local: string, prefixlen: number, scope: string }> }>
  t.is(read?.ifalias, 'net-hk')
  t.is(read?.address, want?.address)
  const fields = (as: ReadonlyArray<{ family: string, local: string, prefixlen: number, scope: string }>): string[] => as.map(a => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}`).sort()
  t.true((read?.addr_info.length ?? 0) >= 602, 'the 602 added (and a link-local one once the link has a carrier)')
  t.deepEqual(fields(read?.addr_info ?? []), fields(want?.addr_info ?? []))
  // a missing device or netns fails as `ip` does
  const gone = await t.throwsAsync(inProcess.run('ip', ['-d', '-j', 'addr', 'show', 'dev', 'nosuchdev']))
  t.true(gone instanceof KernelCommandError)
  t.regex(gone?.message ?? '', /nosuchdev/)
  await t.throwsAsync(inProcess.run('ip', addrShow, { netns: '/run/netns/hk-no-such-netns' }), { instanceOf: KernelCommandError })
})
