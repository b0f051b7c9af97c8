import { LB_IFNAME, bridgeName, lbNetnsName, lbVethName, linkList, taskVethName, vxlanName, type Kernel } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer, type NetworkDesired } from '../../../../src/dataplane/programmer/index.js'
import { attachTaskNetns } from '../../../../src/dataplane/plumber/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab } from '../../../support/netns.js'

const NET = 'mtunet0123456789'
const U1 = '192.168.78.1'

function want (mtu: number, taskNetns: string[]): NetworkDesired {
  return {
    sandbox: { networkId: NET, lbAddresses: ['10.94.0.2/24'], lbMac: '02:42:0a:5e:00:02', services: [] },
    overlay: { networkId: NET, vni: 94, subnets: ['10.94.0.0/24'], localUnderlay: U1, remotes: [{ ip: '10.94.0.3', mac: '02:42:0a:5e:00:03', underlay: '192.168.78.2' }], mtu },
    localTaskNetns: taskNetns
  }
}

async function mtuOf (k: Kernel, ifname: string, netns?: string): Promise<number | undefined> {
  return (await linkList(k, netns)).find((l) => l.ifname === ifname)?.mtu
}


rootTest(`every interface of a network gets its MTU, and an adopted one at the wrong MTU is corrected`, async (t) => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const k = lab.kernel
  const pfx = `${lab.prefix}a`
  const tns = await lab.netns('t1')
  const tpath = `/run/netns/${tns}`
  const names = { bridge: bridgeName(pfx, NET), vxlan: vxlanName(pfx, NET), lbHost: lbVethName(pfx, NET), taskHost: taskVethName(pfx, NET, tns), sandbox: lbNetnsName(pfx, NET) }
  const all = async (): Promise<Record<string, number | undefined>> => ({
    bridge: await mtuOf(k, names.bridge),
    vxlan: await mtuOf(k, names.vxlan),
    lbHost: await mtuOf(k, names.lbHost),
    lb0: await mtuOf(k, LB_IFNAME, names.sandbox),
    taskHost: await mtuOf(k, names.taskHost),
    eth0: await mtuOf(k, 'eth0', tpath)
  })
  const every = (mtu: number): Record<string, number> => ({ bridge: mtu, vxlan: mtu, lbHost: mtu, lb0: mtu, taskHost: mtu, eth0: mtu })

  const p1 = createProgrammer('nft', { netnsPrefix: pfx, kernel: k })
  await p1.apply(want(1400, []))
  await attachTaskNetns({ netnsPrefix: pfx, networkId: NET, netnsPath: tns, address: '10.94.0.7/24', mac: '02:42:0a:5e:00:07', kernel: k, mtu: 1400 })
  await p1.apply(want(1400, [tpath]))
  t.deepEqual(await all(), every(1400), 'created at the network MTU, both ends of each veth')

  // what an earlier agent left: the far ends of the veths at the kernel default
  await k.run('ip', ['link', 'set', 'eth0', 'mtu', '1500'], { netns: tpath })
  await k.run('ip', ['link', 'set', LB_IFNAME, 'mtu', '1500'], { netns: names.sandbox })
  const p2 = createProgrammer('nft', { netnsPrefix: pfx, kernel: k })
  await p2.adopt(new Map([[NET, want(1400, [tpath])]]))
  const fixed = await p2.apply(want(1400, [tpath]))
  t.deepEqual(await all(), every(1400), 'adoption corrects the far ends')
  t.is(fixed.transactions, 2, 'one ip batch in the sandbox, one in the task netns')
  t.is((await p2.apply(want(1400, [tpath]))).transactions, 0, 'then nothing is left to do')

  // the MTU changes (e.g. the agent restarted with another --mtu): every interface follows
  await p2.apply(want(1350, [tpath]))
  t.deepEqual(await all(), every(1350))
  t.true(await p2.verify(NET))

  // a bridge set to another MTU behind the agent's back is drift
  await k.run('ip', ['link', 'set', names.bridge, 'mtu', '1300'])
  t.false(await p2.verify(NET))
  await p2.remove(NET)
})
