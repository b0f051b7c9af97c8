import { bridgeName, lbNetnsName, linkList, nftListTables } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer, type NetworkDesired } from '../../../../src/dataplane/programmer/index.js'
import { attachTaskNetns } from '../../../../src/dataplane/plumber/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab, netnsWithPrefix, startClient, startServer } from '../../../support/netns.js'

const NET = 'trafficnet0123456789'
const VIP = '10.88.0.100'
const VIP_EMPTY = '10.88.0.101'
const B = ['10.88.0.11', '10.88.0.12', '10.88.0.13']

function want (drained: string[] = []): NetworkDesired {
  return {
    sandbox: {
      networkId: NET,
      lbAddresses: ['10.88.0.2/24'],
      lbMac: '02:42:0a:58:00:02',
      services: [
        {
          id: 'web',
          vip: VIP,
          ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'udp', port: 53, targetPort: 8080 }],
          backends: B.map(ip => ({ ip, weight: 1, draining: drained.includes(ip) }))
        },
        { id: 'empty', vip: VIP_EMPTY, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], backends: [] }
      ]
    },
    overlay: { networkId: NET, vni: 88, subnets: ['10.88.0.0/24'], localUnderlay: '', remotes: [] },
    localTaskNetns: []
  }
}


rootTest(`nft sandbox balances real TCP and UDP over 3 backends, drains, rejects, and leaves nothing on remove`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  await p.apply(want())

  for (const [i, ip] of B.entries()) {
    const ns = await lab.netns(`b${i}`)
    await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: `/run/netns/${ns}`, address: `${ip}/24`, mac: `02:42:0a:58:00:${11 + i}`, kernel: lab.kernel })
    await startServer(lab, ns, `task${i}`, 8080)
  }
  const cns = await lab.netns('client')
  await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: `/run/netns/${cns}`, address: '10.88.0.50/24', mac: '02:42:0a:58:00:50', kernel: lab.kernel })
  const client = startClient(lab, cns)

  const tcp = await client.spread(VIP, 80, 60)
  t.deepEqual(Object.keys(tcp).sort(), ['task0', 'task1', 'task2'], JSON.stringify(tcp))
  const udp = await client.spread(VIP, 53, 60, 'udp')
  t.deepEqual(Object.keys(udp).sort(), ['task0', 'task1', 'task2'], JSON.stringify(udp))

  // a connection open before the drain keeps working; new ones avoid the drained task
  const greeting = await client.open('long', VIP, 80)
  const res = await p.apply(want([B.find((_, i) => `task${i}` === greeting)!]))
  t.is(res.transactions, 1)
  t.is(await client.send('long', 'still-there'), `${greeting}:still-there`)
  // backends see the LB IP (SNAT), so replies come back through the sandbox
  t.is(await client.send('long', 'whoami'), `${greeting}:10.88.0.2`)
  const after = await client.spread(VIP, 80, 40)
  t.false(greeting in after, JSON.stringify(after))
  t.is(Object.values(after).reduce((a, b) => a + b, 0), 40)
  t.is(Object.keys(after).length, 2, JSON.stringify(after))

  // no ready backend: refused at once, not a timeout
  t.deepEqual(await client.spread(VIP_EMPTY, 80, 3), { 'error:ECONNREFUSED': 3 })

  await p.remove(NET)
  const lbNs = lbNetnsName(lab.prefix, NET)
  t.false((await netnsWithPrefix(lab.prefix)).includes(lbNs))
  const links = (await linkList(lab.kernel)).map(l => l.ifname)
  t.false(links.includes(bridgeName(lab.prefix, NET)))
  t.false(links.some(l => l.startsWith('sl')), links.join(','))
  t.deepEqual(await nftListTables(lab.kernel), [])
})
