import { access } from 'node:fs/promises'
import { LB_IFNAME, bridgeName, lbNetnsName, lbVethName, linkList, overlayNetnsName, vxlanName, type Kernel } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer } from '../../../../src/dataplane/programmer/index.js'
import { addBridgedVeth, detachTaskNetns, removeBridgedVeth } from '../../../../src/dataplane/plumber/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab, startClient } from '../../../support/netns.js'
import { overlayFixture, plugTasks, secondHost } from '../../../support/overlay-hosts.js'

const F = overlayFixture('ovnsnet0123456789', 91, 78, '5b')
const { NET, VIP, U1, U2, T1, T2, C1, LB1, LB2, want } = F

/** Packets the host's own IPv4 forward hook saw (a counter chain the test adds to the "host" netns). */
async function hostForwarded (k: Kernel, table: string): Promise<number> {
  const out = await k.run('nft', ['list', 'table', 'ip', table])
  return Number(/counter packets (\d+)/.exec(out)?.[1] ?? NaN)
}

/** Inode of a named netns (two names of one netns share it). */
async function netnsInode (k: Kernel, name: string): Promise<string> {
  return (await k.run('stat', ['-L', '-c', '%i', `/run/netns/${name}`], { netns: null })).trim()
}

rootTest('overlay netns (--overlay-netns): bridge and VXLAN in a netns of their own that is the LB sandbox, bridged frames skip the host\'s netfilter, adoption, moving between layouts, removal', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const { k1, k2 } = await secondHost(lab, F)
  // host 1's netfilter: bridge netfilter on (the default of a new netns where br_netfilter is loaded), a counter on forward
  const brNf = await access('/proc/sys/net/bridge/bridge-nf-call-iptables').then(() => true, () => false)
  if (brNf) await k1.run('sh', ['-c', 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables'])
  const table = `${lab.prefix}count`
  await k1.run('nft', ['-f', '-'], { input: `table ip ${table} {\n  chain tally {\n    type filter hook forward priority 0\n    counter\n  }\n}\n` })

  const pa = `${lab.prefix}a`
  const pb = `${lab.prefix}b`
  const p1 = createProgrammer('nft', { netnsPrefix: pa, kernel: k1, overlayNetns: true })
  // host 2 keeps the bridge in its own netns: both layouts speak the same VXLAN
  const p2 = createProgrammer('nft', { netnsPrefix: pb, kernel: k2 })
  await p1.apply(want(LB1, U1, [T2, LB2]))
  await p2.apply(want(LB2, U2, [T1, LB1]))

  const ovns = overlayNetnsName(pa, NET)
  const inNs = (await linkList(k1, ovns)).map(l => l.ifname)
  t.true(inNs.includes(LB_IFNAME) && inNs.includes(vxlanName(pa, NET)), `bridge and VXLAN device in ${ovns}: ${inNs.join(' ')}`)
  // the overlay netns is the LB sandbox: its bridge is lb0, with the LB address and the VIP, and no veth between them
  const lbNs = (await linkList(k1, ovns)).find(l => l.ifname === LB_IFNAME)
  t.is(lbNs?.linkinfo?.info_kind, 'bridge')
  t.is(lbNs?.address, LB1.mac)
  t.is(await netnsInode(k1, lbNetnsName(pa, NET)), await netnsInode(k1, ovns), 'the sandbox\'s netns name is the overlay netns')
  t.regex(await k1.run('ip', ['-o', 'addr', 'show', 'dev', LB_IFNAME], { netns: ovns }), new RegExp(`${LB1.ip}/24[\\s\\S]*${VIP.replaceAll('.', '\\.')}/32`))
  t.false(inNs.includes(lbVethName(pa, NET)))
  const onHost = await linkList(k1)
  t.false(onHost.some(l => l.ifname === lbVethName(pa, NET)), 'no sandbox veth')
  t.is(onHost.find(l => l.ifname === bridgeName(pa, NET))?.linkinfo?.info_kind, 'veth', 'the host keeps a veth named as the bridge')
  t.false(onHost.some(l => l.ifname === vxlanName(pa, NET)))
  if (brNf) t.is((await k1.run('cat', ['/proc/sys/net/bridge/bridge-nf-call-iptables'], { netns: ovns })).trim(), '0', 'bridge netfilter off in the overlay netns')

  const { t1, c1 } = await plugTasks(lab, F, { k1, k2, pa, pb })
  await p2.apply(want(LB2, U2, [T1, LB1, C1]))

  const client = startClient(lab, c1)
  const check = async (what: string): Promise<void> => {
    t.deepEqual(await client.spread(T2.ip, 8080, 2), { 'task-h2': 2 }, `${what}: TCP across VXLAN`)
    t.deepEqual(await client.spread(T1.ip, 8080, 2), { 'task-h1': 2 }, `${what}: TCP on the bridge`)
    const spread = await client.spread(VIP, 80, 40)
    t.deepEqual(Object.keys(spread).sort(), ['task-h1', 'task-h2'], `${what}: ${JSON.stringify(spread)}`)
  }
  await check('overlay netns')
  t.is(await hostForwarded(k1, table), 0, 'the host\'s forward hook saw none of the bridged frames')

  // a restart adopts it as it is, and switches bridge netfilter off again (br_netfilter loaded since turns it on)
  if (brNf) await k1.run('sh', ['-c', 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables'], { netns: ovns })
  const p1b = createProgrammer('nft', { netnsPrefix: pa, kernel: k1, overlayNetns: true })
  t.deepEqual(await p1b.adopt(), [NET])
  if (brNf) t.is((await k1.run('cat', ['/proc/sys/net/bridge/bridge-nf-call-iptables'], { netns: ovns })).trim(), '0', 'off again after adoption')
  t.true(await p1b.verify(NET))
  t.is((await p1b.apply(want(LB1, U1, [T2, LB2]))).transactions, 0)

  // the 60 s check notices the host's veth gone and bridge netfilter back on; a resync (adoption) mends both
  await k1.run('ip', ['link', 'del', bridgeName(pa, NET)])
  if (brNf) await k1.run('sh', ['-c', 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables'], { netns: ovns })
  t.false(await p1b.verify(NET), 'the check sees the drift')
  await p1b.adopt()
  t.is((await linkList(k1)).find(l => l.ifname === bridgeName(pa, NET))?.linkinfo?.info_kind, 'veth', 'the host veth made again')
  t.is((await linkList(k1, ovns)).find(l => l.ifname === 'host0')?.master, LB_IFNAME)
  if (brNf) t.is((await k1.run('cat', ['/proc/sys/net/bridge/bridge-nf-call-iptables'], { netns: ovns })).trim(), '0')
  t.true(await p1b.verify(NET))
  if (brNf) {
    // bridge netfilter alone
    await k1.run('sh', ['-c', 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables'], { netns: ovns })
    t.false(await p1b.verify(NET))
    await p1b.adopt()
    t.true(await p1b.verify(NET))
  }
  await check('after the repair')

  // started without the option: the overlay moves to the host, tasks and sandbox still plugged
  const p1c = createProgrammer('nft', { netnsPrefix: pa, kernel: k1 })
  await p1c.adopt()
  await p1c.apply(want(LB1, U1, [T2, LB2]))
  t.is((await linkList(k1)).find(l => l.ifname === bridgeName(pa, NET))?.linkinfo?.info_kind, 'bridge')
  t.false(await access(`/run/netns/${ovns}`).then(() => true, () => false), 'overlay netns gone')
  t.is((await linkList(k1, lbNetnsName(pa, NET))).find(l => l.ifname === LB_IFNAME)?.linkinfo?.info_kind, 'veth', 'a sandbox of its own again, on a veth')
  await check('moved to the host')
  if (brNf) t.true(await hostForwarded(k1, table) > 0, 'on the host, bridged frames cross its forward hook (bridge netfilter)')

  // and back again
  const p1d = createProgrammer('nft', { netnsPrefix: pa, kernel: k1, overlayNetns: true })
  await p1d.adopt()
  await p1d.apply(want(LB1, U1, [T2, LB2]))
  t.true(await p1d.verify(NET))
  t.is(await netnsInode(k1, lbNetnsName(pa, NET)), await netnsInode(k1, ovns))
  t.false((await linkList(k1)).some(l => l.ifname === lbVethName(pa, NET)), 'the sandbox\'s veth is gone')
  await check('moved back to an overlay netns')

  // Docker's Join: the peer stays on the host for dockerd to move, the bridge's end is in the overlay netns
  const docker = await addBridgedVeth({ netnsPrefix: pa, networkId: NET, key: 'docker:ep1', peerName: `${lab.prefix}dp`, mtu: 1450, kernel: k1 })
  t.is((await linkList(k1, ovns)).find(l => l.ifname === docker)?.master, LB_IFNAME)
  t.is((await linkList(k1)).find(l => l.ifname === `${lab.prefix}dp`)?.mtu, 1450, 'the peer on the host at the overlay MTU')
  await removeBridgedVeth({ netnsPrefix: pa, networkId: NET, key: 'docker:ep1', kernel: k1 })
  t.false((await linkList(k1)).some(l => l.ifname === `${lab.prefix}dp`))

  // a task leaves: its veth goes from the overlay netns
  await detachTaskNetns({ netnsPrefix: pa, networkId: NET, netnsPath: c1, kernel: k1 })
  t.false((await linkList(k1, c1)).some(l => l.ifname === 'eth0'))

  // the network's last local task leaves: netns, host veth and VXLAN device go
  await detachTaskNetns({ netnsPrefix: pa, networkId: NET, netnsPath: t1, kernel: k1 })
  await p1d.remove(NET)
  t.false(await access(`/run/netns/${ovns}`).then(() => true, () => false))
  t.false(await access(`/run/netns/${lbNetnsName(pa, NET)}`).then(() => true, () => false))
  t.false((await linkList(k1)).some(l => l.ifname === bridgeName(pa, NET) || l.ifname === vxlanName(pa, NET)))
  // made again at once: the names and the VNI are free
  await p1d.apply(want(LB1, U1, [T2, LB2]))
  t.true(await p1d.verify(NET))
  await p1d.remove(NET)
})

const G = overlayFixture('ovnslegacy0123456', 92, 79, '5c')

rootTest('overlay netns: the previous version\'s layout (bridge sb<hash> in the overlay netns, a sandbox netns of its own on a veth) moves to the overlay netns that is the sandbox, tasks still plugged', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const { k1, k2 } = await secondHost(lab, G)
  const pa = `${lab.prefix}a`
  const pb = `${lab.prefix}b`
  const p1 = createProgrammer('nft', { netnsPrefix: pa, kernel: k1 })
  const p2 = createProgrammer('nft', { netnsPrefix: pb, kernel: k2 })
  await p1.apply(G.want(G.LB1, G.U1, [G.T2, G.LB2]))
  await p2.apply(G.want(G.LB2, G.U2, [G.T1, G.LB1]))
  const { c1 } = await plugTasks(lab, G, { k1, k2, pa, pb })
  await p2.apply(G.want(G.LB2, G.U2, [G.T1, G.LB1, G.C1]))

  // the previous --overlay-netns layout, built by hand from the host layout
  const ovns = overlayNetnsName(pa, G.NET)
  const br = bridgeName(pa, G.NET)
  const vx = vxlanName(pa, G.NET)
  const ports = (await linkList(k1)).filter(l => l.master === br && l.ifname !== vx).map(l => l.ifname)
  t.true(ports.includes(lbVethName(pa, G.NET)))
  await k1.run('ip', ['netns', 'add', ovns], { netns: null })
  await k1.run('ip', ['-batch', '-'], {
    input: [...ports.map(p => `link set ${p} netns ${ovns}`), `link del ${vx}`, `link del ${br}`,
      `link add ${vx} mtu 1450 type vxlan id ${G.T1.ip.split('.')[1] ?? ''} local ${G.U1} dstport 4789 nolearning proxy`, `link set ${vx} netns ${ovns}`,
      `link add ${br} mtu 1450 type veth peer name host0 mtu 1450 netns ${ovns}`, `link set ${br} up`].join('\n') + '\n'
  })
  await k1.run('ip', ['-batch', '-'], {
    netns: ovns,
    input: [`link add ${br} mtu 1450 type bridge`, `link set ${br} alias ${G.NET}`, `link set ${br} up`, `link set ${vx} master ${br}`, `link set ${vx} up`,
      'link set host0 master ' + br, 'link set host0 up', ...ports.flatMap(p => [`link set ${p} master ${br}`, `link set ${p} up`])].join('\n') + '\n'
  })

  const p1b = createProgrammer('nft', { netnsPrefix: pa, kernel: k1, overlayNetns: true })
  t.deepEqual(await p1b.adopt(new Map([[G.NET, G.want(G.LB1, G.U1, [G.T2, G.LB2])]])), [G.NET])
  await p1b.apply(G.want(G.LB1, G.U1, [G.T2, G.LB2]))
  t.true(await p1b.verify(G.NET))
  const inNs = await linkList(k1, ovns)
  t.is(inNs.find(l => l.ifname === LB_IFNAME)?.linkinfo?.info_kind, 'bridge')
  t.false(inNs.some(l => l.ifname === br || l.ifname === lbVethName(pa, G.NET)), 'no old bridge, no sandbox veth')
  t.is(await netnsInode(k1, lbNetnsName(pa, G.NET)), await netnsInode(k1, ovns))
  const client = startClient(lab, c1)
  t.deepEqual(await client.spread(G.T2.ip, 8080, 2), { 'task-h2': 2 })
  t.deepEqual(await client.spread(G.T1.ip, 8080, 2), { 'task-h1': 2 })
  t.deepEqual(Object.keys(await client.spread(G.VIP, 80, 40)).sort(), ['task-h1', 'task-h2'])
  await p1b.remove(G.NET)
})
