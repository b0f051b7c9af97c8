import { lbNetnsName, nftListTables, nftTableName } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer, type NetworkDesired } from '../../../../src/dataplane/programmer/index.js'
import { attachTaskNetns, detachTaskNetns } from '../../../../src/dataplane/plumber/index.js'
import { readDsr } from '../../../../src/dataplane/lb/dsr.js'
import type { ServiceSpec } from '../../../../src/dataplane/spec/types.js'
import { rootTest } from '@scalelb/test-support'
import { createLab, netnsWithPrefix, startClient, startServer } from '../../../support/netns.js'

const NET = 'dsrnet0123456789abcd'
const LB_IP = '10.89.0.2'
const VIP = '10.89.0.100'
/** A service with two VIP ports on one target port: its replies' source port cannot be restored statelessly. */
const VIP_DUP = '10.89.0.101'
const B = ['10.89.0.11', '10.89.0.12', '10.89.0.13']
const CLIENT_IP = '10.89.0.50'

function want (backends: string[], dsr = true): NetworkDesired {
  const web: ServiceSpec = {
    id: 'web',
    vip: VIP,
    ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'udp', port: 53, targetPort: 8080 }],
    backends: backends.map(ip => ({ ip, weight: 1, draining: false, dsr: true }))
  }
  const dup: ServiceSpec = {
    id: 'x-dup',
    vip: VIP_DUP,
    ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'tcp', port: 81, targetPort: 8080 }],
    backends: backends.map(ip => ({ ip, weight: 1, draining: false, dsr: true }))
  }
  return {
    sandbox: { networkId: NET, lbAddresses: [`${LB_IP}/24`], lbMac: '02:42:0a:59:00:02', services: [web, dup], ...(dsr ? { dsr: true } : {}) },
    overlay: { networkId: NET, vni: 89, subnets: ['10.89.0.0/24'], localUnderlay: '', remotes: [] },
    localTaskNetns: []
  }
}

rootTest('nft sandbox with direct server return: flows keep their backend when another comes or goes, replies skip the sandbox, NAT where DSR cannot work, nothing left after', async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  const p = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  await p.apply(want(B.slice(0, 2)))
  const lbNs = lbNetnsName(lab.prefix, NET)
  const table = nftTableName(NET)

  const tasks: string[] = []
  for (const [i, ip] of B.entries()) {
    const ns = await lab.netns(`b${i}`)
    tasks.push(ns)
    const r = await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: `/run/netns/${ns}`, address: `${ip}/24`, mac: `02:42:0a:59:00:${11 + i}`, dsr: { vip: VIP, ports: [{ port: 80, targetPort: 8080 }] }, kernel: lab.kernel })
    t.true(r.dsr)
    await startServer(lab, ns, `task${i}`, 8080)
  }
  const cns = await lab.netns('client')
  await attachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: `/run/netns/${cns}`, address: `${CLIENT_IP}/24`, mac: '02:42:0a:59:00:50', kernel: lab.kernel })
  const client = startClient(lab, cns)
  const conntrack = async (): Promise<number> => Number((await lab.kernel.run('cat', ['/proc/sys/net/netfilter/nf_conntrack_count'], { netns: lbNs })).trim())

  // balanced over both backends, and the backend sees the client itself (no SNAT): the sandbox tracked nothing
  const spread = await client.spread(VIP, 80, 40)
  t.deepEqual(Object.keys(spread).sort(), ['task0', 'task1'], JSON.stringify(spread))
  const first = await client.open('probe', VIP, 80)
  t.is(await client.send('probe', 'whoami'), `${first}:${CLIENT_IP}`)
  t.is(await conntrack(), 0)

  // long-lived flows, then a third backend: only the slots it takes change hands
  const N = 16
  const owner = new Map<string, string>()
  for (let i = 0; i < N; i++) owner.set(`c${i}`, await client.open(`c${i}`, VIP, 80))
  const before = (await readDsr(lab.kernel, lbNs, table, {}))?.slots.get(VIP) ?? []
  t.is(before.length, 61)
  await p.apply(want(B))
  const after = (await readDsr(lab.kernel, lbNs, table, {}))?.slots.get(VIP) ?? []
  const moved = after.filter((ip, i) => ip !== before[i])
  t.true(moved.length > 0 && moved.every(ip => ip === B[2]), JSON.stringify(moved))
  t.is(after.filter(ip => ip === B[2]).length, moved.length)
  let kept = 0
  for (const [c, name] of owner) {
    const r = await client.send(c, 'ping')
    // a flow whose slot moved reaches a backend without its connection (reset); one that did not keeps its backend
    if (!r.startsWith('error:')) {
      t.is(r, `${name}:ping`)
      kept++
    }
  }
  t.true(kept > 0, 'no flow kept its backend')

  // flows on the third backend and on the first two; removing the third moves only its own slots
  const again = new Map<string, string>()
  for (let i = 0; i < N; i++) again.set(`d${i}`, await client.open(`d${i}`, VIP, 80))
  t.true([...again.values()].includes('task2'), JSON.stringify([...again.values()]))
  await p.apply(want(B.slice(0, 2)))
  for (const [c, name] of again) {
    if (name === 'task2') continue
    t.is(await client.send(c, 'ping'), `${name}:ping`, `${c} lost its backend ${name}`)
  }
  t.is(await conntrack(), 0)

  // fallbacks to the NAT path (the backend sees the LB address): two VIP ports on one target port, UDP, hairpin
  const dup = await client.open('dup', VIP_DUP, 81)
  t.is(await client.send('dup', 'whoami'), `${dup}:${LB_IP}`)
  const udp = await client.spread(VIP, 53, 10, 'udp')
  t.is(Object.values(udp).reduce((a, b) => a + b, 0), 10)
  t.true(Object.keys(udp).every(k => k.startsWith('task')), JSON.stringify(udp))
  const self = startClient(lab, tasks[0] as string)
  const hair = await self.spread(VIP, 80, 20)
  t.deepEqual(Object.keys(hair).sort(), ['task0', 'task1'], JSON.stringify(hair))
  const h = await self.open('hair', VIP, 80)
  t.is(await self.send('hair', 'whoami'), `${h}:${LB_IP}`)
  t.true(await conntrack() > 0)

  // a restarted programmer adopts the slot tables: nothing to change, flows stay
  const p2 = createProgrammer('nft', { netnsPrefix: lab.prefix, kernel: lab.kernel })
  await p2.adopt()
  t.true(await p2.verify(NET))
  t.is((await p2.apply(want(B.slice(0, 2)))).transactions, 0)
  // a slot changed behind the agent's back is seen by the resync check, and the next apply after adoption mends it
  await lab.kernel.run('nft', ['delete', 'element', 'netdev', table, 'dsr_slots', `{ ${VIP} . 0 }`], { netns: lbNs })
  t.false(await p2.verify(NET))
  await p2.adopt()
  await p2.apply(want(B.slice(0, 2)))
  t.true(await p2.verify(NET))
  t.is((await readDsr(lab.kernel, lbNs, table, {}))?.slots.get(VIP)?.length, 61)

  // the network without DSR: the table goes, the NAT path serves
  await p2.apply(want(B.slice(0, 2), false))
  t.is(await readDsr(lab.kernel, lbNs, table, {}), undefined)
  const nat = await client.open('nat', VIP, 80)
  t.is(await client.send('nat', 'whoami'), `${nat}:${LB_IP}`)

  // the task side goes with the task: VIP, rule, route, reply table
  await detachTaskNetns({ netnsPrefix: lab.prefix, networkId: NET, netnsPath: `/run/netns/${tasks[0] as string}`, dsr: { vip: VIP, ifName: 'eth0' }, kernel: lab.kernel })
  const b0 = `/run/netns/${tasks[0] as string}`
  t.false((await lab.kernel.run('ip', ['-4', 'addr', 'show', 'dev', 'lo'], { netns: b0 })).includes(VIP))
  t.false((await lab.kernel.run('ip', ['rule', 'show'], { netns: b0 })).includes('lookup'.concat(' 23713')))
  t.deepEqual(await nftListTables(lab.kernel, b0), [])
  await p2.remove(NET)
  t.false((await netnsWithPrefix(lab.prefix)).includes(lbNs))
})
