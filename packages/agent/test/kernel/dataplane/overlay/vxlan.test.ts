import { bridgeName, createKernel, linkList, vxlanName } from '../../../../src/dataplane/kernel/index.js'
import { createProgrammer } from '../../../../src/dataplane/programmer/index.js'
import { rootTest } from '@scalelb/test-support'
import { createLab, startClient } from '../../../support/netns.js'
import { overlayFixture, plugTasks, secondHost } from '../../../support/overlay-hosts.js'

const F = overlayFixture('overlaynet0123456789', 90, 77, '5a')
const { NET, VIP, U1, U2, T1, T2, C1, LB1, LB2, want } = F

rootTest(`VXLAN overlay: tasks on two hosts reach each other and a VIP balances across hosts`, async t => {
  const lab = await createLab()
  t.teardown(async () => { await lab.cleanup() })
  // underlay: a veth between the two "hosts"
  const { k1, k2 } = await secondHost(lab, F)

  const pa = `${lab.prefix}a`
  const pb = `${lab.prefix}b`
  const p1 = createProgrammer('nft', { netnsPrefix: pa, kernel: k1 })
  const p2 = createProgrammer('nft', { netnsPrefix: pb, kernel: k2 })
  await p1.apply(want(LB1, U1, [T2, LB2]))
  await p2.apply(want(LB2, U2, [T1, LB1]))

  const { c1 } = await plugTasks(lab, F, { k1, k2, pa, pb })

  // the client joins later: host 2 learns it in one neighbour batch + one FDB batch, sent over rtnetlink (no process)
  const res = await p2.apply(want(LB2, U2, [T1, LB1, C1]))
  t.is(res.transactions, 2)
  t.is(res.spawns, 0)

  const client = startClient(lab, c1)
  t.deepEqual(await client.spread(T2.ip, 8080, 2), { 'task-h2': 2 }, 'TCP across VXLAN')
  const spread = await client.spread(VIP, 80, 40)
  t.deepEqual(Object.keys(spread).sort(), ['task-h1', 'task-h2'], JSON.stringify(spread))

  // the VIP is answered by the local LB sandbox, never through the neighbour table
  const neigh = await k1.run('ip', ['-j', 'neigh', 'show', 'dev', vxlanName(pa, NET)])
  t.false(neigh.includes(VIP))
  t.true(neigh.includes(T2.ip))
  const fdb = await k1.run('bridge', ['fdb', 'show', 'dev', vxlanName(pa, NET)])
  t.regex(fdb, new RegExp(`00:00:00:00:00:00 dst ${U2.replaceAll('.', '\\.')}`))
  t.regex(fdb, new RegExp(`${T2.mac} dst ${U2.replaceAll('.', '\\.')}`))

  // adoption reads the overlay back as programmed
  const p1b = createProgrammer('nft', { netnsPrefix: pa, kernel: k1 })
  await p1b.adopt()
  t.true(await p1b.verify(NET))
  t.is((await p1b.apply(want(LB1, U1, [T2, LB2]))).transactions, 0)

  // the periodic check reads the kernel in-process (no process); drift behind the agent's back is found, and the
  // resync (adopt, then apply: what the reconciler does) repairs it
  const vx = vxlanName(pa, NET)
  const behind = createKernel({ baseNetns: k1.baseNetns, rtnlInProcess: false })
  const drifts = [
    { name: 'neighbour deleted', lines: ['ip', `neigh del ${T2.ip} dev ${vx}`] },
    { name: 'neighbour changed', lines: ['ip', `neigh replace ${T2.ip} lladdr 02:42:0a:5a:00:99 dev ${vx} nud permanent`] },
    { name: 'FDB entry deleted', lines: ['bridge', `fdb del ${T2.mac} dev ${vx} dst ${U2} self`] },
    { name: 'flood entry deleted', lines: ['bridge', `fdb del 00:00:00:00:00:00 dev ${vx} dst ${U2} self`] },
    { name: 'stray FDB entry', lines: ['bridge', `fdb append 02:42:0a:5a:00:77 dev ${vx} dst 192.168.77.9 self permanent`] }
  ] as const
  for (const d of drifts) {
    const before = k1.spawns()
    t.true(await p1b.verify(NET), `${d.name}: clean before`)
    t.is(k1.spawns(), before, 'a check spawns no process')
    await behind.run(d.lines[0], ['-batch', '-'], { input: `${d.lines[1]}\n` })
    t.false(await p1b.verify(NET), `${d.name}: found`)
    await p1b.adopt()
    t.true((await p1b.apply(want(LB1, U1, [T2, LB2]))).transactions > 0, `${d.name}: repaired`)
    t.true(await p1b.verify(NET), `${d.name}: clean after`)
  }
  t.true((await k1.run('ip', ['-j', 'neigh', 'show', 'dev', vx])).includes(`"lladdr":"${T2.mac}"`))

  // the network's last local task leaves: bridge and VXLAN device go
  await p1b.remove(NET)
  const links = (await linkList(k1)).map(l => l.ifname)
  t.false(links.includes(bridgeName(pa, NET)))
  t.false(links.includes(vxlanName(pa, NET)))
})
