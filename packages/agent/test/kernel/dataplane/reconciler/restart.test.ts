import { createSystemClock } from '@scalelb/gossip'
import { bridgeName, lbNetnsName, linkList } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer, type NetworkDesired } from '../../../../src/dataplane/programmer/index.js'
import { attachTaskNetns } from '../../../../src/dataplane/plumber/index.js'
import { createReconciler } from '../../../../src/dataplane/reconciler/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab, netnsWithPrefix, startClient, startServer } from '../../../support/netns.js'

const NET = 'restartnet0123456789'
const VIP = '10.89.0.100'
const B = ['10.89.0.11', '10.89.0.12']

const ORPHAN = 'orphannet0123456789'

const want: NetworkDesired = {
  sandbox: {
    networkId: NET,
    lbAddresses: ['10.89.0.2/24'],
    lbMac: '02:42:0a:59:00:02',
    services: [{ id: 'web', vip: VIP, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], backends: B.map(ip => ({ ip, weight: 1, draining: false })) }]
  },
  overlay: { networkId: NET, vni: 89, subnets: ['10.89.0.0/24'], localUnderlay: '', remotes: [] },
  localTaskNetns: []
}


rootTest(`a restarted reconciler adopts the kernel: an open TCP connection through the VIP survives`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const clock = createSystemClock()
  const p1 = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  const r1 = createReconciler({ programmer: p1, clock })
  t.teardown(async () => { await r1.stop() })
  const orphan: NetworkDesired = {
    sandbox: { ...want.sandbox, networkId: ORPHAN, lbAddresses: ['10.91.0.2/24'], services: [] },
    overlay: { ...want.overlay, networkId: ORPHAN },
    localTaskNetns: []
  }
  r1.setDesired(new Map([[NET, want], [ORPHAN, orphan]]))
  await r1.start()
  t.true((await netnsWithPrefix(lab.prefix)).includes(lbNetnsName(lab.prefix, ORPHAN)))
  t.true(r1.synced())

  for (const [i, ip] of B.entries()) {
    const ns = await lab.netns(`b${i}`)
    await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: ns, address: `${ip}/24`, mac: `02:42:0a:59:00:${11 + i}`, kernel: lab.kernel })
    await startServer(lab, ns, `task${i}`, 8080)
  }
  const cns = await lab.netns('client')
  await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: cns, address: '10.89.0.50/24', mac: '02:42:0a:59:00:50', kernel: lab.kernel })
  const client = startClient(lab, cns)
  const greeting = await client.open('long', VIP, 80)
  t.is(await client.send('long', 'before'), `${greeting}:before`)

  // the agent stops; its kernel state stays; a new one starts and adopts it
  await r1.stop()
  const p2 = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  const r2 = createReconciler({ programmer: p2, clock })
  t.teardown(async () => { await r2.stop() })
  r2.setDesired(new Map([[NET, want]]))
  await r2.start()
  // the network no longer desired (its last task left while the agent was down) is removed at start
  t.false((await netnsWithPrefix(lab.prefix)).includes(lbNetnsName(lab.prefix, ORPHAN)))
  t.false((await linkList(lab.kernel)).some(l => l.ifname === bridgeName(lab.prefix, ORPHAN)))
  t.is(p2.counters().transactions, 2, 'only the removal (sandbox, overlay): the kept network is not re-programmed')
  t.is(await client.send('long', 'after'), `${greeting}:after`)
  t.deepEqual(Object.keys(await client.spread(VIP, 80, 20)).sort(), ['task0', 'task1'])

  // the network's last task leaves: the sandbox goes away
  r2.setDesired(new Map())
  await r2.flush()
  t.false((await netnsWithPrefix(lab.prefix)).includes(lbNetnsName(lab.prefix, NET)))
  t.is(r2.stats().sandboxes, 0)
})
