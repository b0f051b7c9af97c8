/**
 * Who may change a node's address range. A member that holds the cluster
 * key may write any ring token: the owner keeps its range and addresses
 * against a false claim, and gives up only to an heir's takeover after it
 * was gone past reclaimAfter, and only where it holds nothing. Donations go
 * through, once per request. Real gossip nodes on the in-memory transport,
 * manual clock.
 */
import test from 'ava'
import ipNum from 'ip-num'
import { createNodeAllocator, type WriteRefusal } from '@scalelb/allocator'
import { pump, pumpUntil } from '@scalelb/test-support'
import { TABLE_IPAM, TABLE_IPAM_REQUESTS } from '../../../src/state/tables.js'
import { usageKey } from '../../../src/state/ipam-space.js'
import { tokenKey } from '../../../src/state/ipam.js'
import { startCluster } from '../../support/gossip-cluster.js'
import { createNetworkOn, ipamNode, wireIpam } from '../../support/ipam-wire.js'

const NET = 'writers0net'

/** An IPv4 address as a number (for range compares). */
const ip4 = (a: string): bigint => ipNum.IPv4.fromString(a).value
const SUBNET = '10.72.0.0/24'

test('a ring token another node writes over a range takes it from a third node\'s view, never from its owner', async (t) => {
  const [V, Y, X] = ['owner-node', 'honest-node', 'rogue-node']
  const c = await startCluster([V, Y, X], 11)
  t.teardown(async () => { await c.stop() })
  const refusedAtV: WriteRefusal[] = []
  const v = ipamNode(t, c, V, { onRefused: (r) => refusedAtV.push(r) })
  const vips: Array<{ ip: string, service: string }> = []
  const y = ipamNode(t, c, Y, { vipsOf: () => vips })
  const x = ipamNode(t, c, X)
  const created = createNetworkOn(c, V, v, NET, SUBNET, 102)
  const held = v.alloc.allocate(NET, 'task', c.clock.now(), 'web.1')
  const vip = v.alloc.allocate(NET, 'vip', c.clock.now(), 'svc-1')
  vips.push({ ip: vip, service: 'svc-1' })
  t.true(await pumpUntil(c.clock, () => [y, x].every((n) => n.alloc.hasNetwork(NET) && n.alloc.tokens(NET).length > 0), 5_000))

  // the rogue node writes the whole range to itself at a high version, over V's own key
  const grab = { start: '10.72.0.0', end: '10.72.0.255', owner: X, version: 1000 }
  c.get(X).set('cluster', TABLE_IPAM, tokenKey(NET, '10.72.0.0'), grab)
  t.true(await pumpUntil(c.clock, () => refusedAtV.length > 0, 5_000), 'the owner refuses it')
  t.deepEqual(refusedAtV, ['own-range'])
  t.deepEqual(v.alloc.tokens(NET), created, 'the owner keeps its range')
  t.true(v.alloc.allocations(NET).some((a) => a.address === held), 'and its addresses: nothing to renumber')
  t.is(v.alloc.counts(NET).owned, 256)
  // a third node cannot tell this claim from a donation it missed (see the README's security model)
  t.true(await pumpUntil(c.clock, () => y.alloc.tokens(NET).some((s) => s.owner === X), 5_000))
  // and takes what the claimant "gives" it, but holds the service VIPs in it: it never hands those out
  c.get(X).set('cluster', TABLE_IPAM, tokenKey(NET, '10.72.0.0'), { start: '10.72.0.0', end: '10.72.0.255', owner: Y, version: 1001 })
  t.true(await pumpUntil(c.clock, () => y.alloc.counts(NET).owned > 0, 5_000))
  t.deepEqual(y.alloc.allocations(NET).filter((a) => a.kind === 'vip'), [{ address: vip, kind: 'vip', owner: 'svc-1' }])
})

test('a donation is taken, also from the gossip store by a node that lost its allocator state', async (t) => {
  const [V, Y] = ['owner-node', 'asker-node']
  const c = await startCluster([V, Y], 12)
  t.teardown(async () => { await c.stop() })
  const v = ipamNode(t, c, V)
  const y = ipamNode(t, c, Y)
  createNetworkOn(c, V, v, NET, SUBNET, 102)
  t.true(await pumpUntil(c.clock, () => y.alloc.hasNetwork(NET) && y.alloc.tokens(NET).length > 0, 5_000))
  let ip: string | undefined
  y.ipam.allocate(NET, 'task', 'web.2').then((a) => { ip = a }, () => {})
  t.true(await pumpUntil(c.clock, () => ip !== undefined, 10_000), 'the requester got an address')
  t.true(y.alloc.counts(NET).owned > 0)
  // a fresh allocator for Y (its state lost) rebuilds the same ring from the stored tokens, by their writers
  const again = createNodeAllocator({ self: Y })
  const rIpam = wireIpam(c.get(Y), again, c.clock)
  t.teardown(() => { rIpam.stop() })
  again.addNetwork(NET, [SUBNET])
  rIpam.syncNetwork(NET)
  t.deepEqual(again.tokens(NET), y.alloc.tokens(NET))
})

test('the space of a node gone past reclaimAfter goes to its heir; the node, back, gives up what it holds nothing in', async (t) => {
  const [V, B, C] = ['heir-node', 'gone-node', 'third-node']
  const c = await startCluster([V, B, C], 13, 3_600_000)
  t.teardown(async () => { await c.stop() })
  const quick = { reclaimIntervalMs: 1_000 }
  const reclaimAfterMs = 30_000
  const refusedAtB: WriteRefusal[] = []
  const vips: Array<{ ip: string, service: string }> = []
  const v = ipamNode(t, c, V, { ...quick, vipsOf: () => vips }, { reclaimAfterMs })
  const b = ipamNode(t, c, B, { ...quick, onRefused: (r) => refusedAtB.push(r) }, { reclaimAfterMs })
  const third = ipamNode(t, c, C, quick, { reclaimAfterMs })
  createNetworkOn(c, V, v, NET, SUBNET, 103)
  t.true(await pumpUntil(c.clock, () => b.alloc.hasNetwork(NET) && b.alloc.tokens(NET).length > 0, 5_000))
  let held: string | undefined
  b.ipam.allocate(NET, 'task', 'web.3').then((a) => { held = a }, () => {})
  t.true(await pumpUntil(c.clock, () => held !== undefined && third.alloc.hasNetwork(NET) && third.alloc.tokens(NET).some((s) => s.owner === B), 10_000))
  const bRange = v.alloc.tokens(NET).find((s) => s.owner === B)
  t.truthy(bRange, 'B owns a block')
  // a service B created has its VIP in B's block: the VIP outlives B
  const vip = b.alloc.allocate(NET, 'vip', c.clock.now(), 'svc-1')
  vips.push({ ip: vip, service: 'svc-1' })

  // B is cut off: V and C (a majority) see it dead; after reclaimAfter its heir V takes its block at version + 1
  c.net.partition([B], [V, C])
  const ownerOfBlock = (n: { alloc: typeof v.alloc }): string | undefined => n.alloc.tokens(NET).find((s) => ip4(s.start) <= ip4(bRange?.start ?? '') && ip4(bRange?.end ?? '') <= ip4(s.end))?.owner
  const taken = (n: { alloc: typeof v.alloc }): boolean => ownerOfBlock(n) === V
  t.true(await pumpUntil(c.clock, () => taken(v) && taken(third), 5 * reclaimAfterMs), 'the heir took the block and the third node knows it')
  t.is(ownerOfBlock(b), B, 'B, alone, kept its block')
  t.deepEqual(v.alloc.allocations(NET).filter((a) => a.kind === 'vip'), [{ address: vip, kind: 'vip', owner: 'svc-1' }], 'the heir holds the VIP it took over')
  t.false(b.alloc.tokens(NET).some((s) => s.owner === B && s.start !== bRange?.start), 'B (one of three) reclaims nobody\'s space')

  // back, B still holds an address there: it keeps its block (a conflict it logs), until it holds nothing
  c.net.heal()
  t.true(await pumpUntil(c.clock, () => refusedAtB.includes('own-range'), 30_000), 'B refuses the takeover while it holds an address there')
  t.is(ownerOfBlock(b), B)
  b.alloc.release(NET, held as string, c.clock.now(), { cooldown: false })
  t.true(await pumpUntil(c.clock, () => taken(b), 10_000), 'B gives the block up at its next pass')
  t.is(b.alloc.counts(NET).owned, 0)
  t.false(b.alloc.allocations(NET).some((a) => a.address === vip), 'the VIP went with the block (B held only the VIP there)')
  t.true(v.alloc.allocations(NET).some((a) => a.address === vip), 'the heir still holds it')
})

test('a donation request is served once, not again when its writer is suspended or comes back', async (t) => {
  const [D, R] = ['donor-node', 'asking-node']
  const c = await startCluster([D, R], 14, 3_600_000)
  t.teardown(async () => { await c.stop() })
  const d = ipamNode(t, c, D)
  const r = ipamNode(t, c, R, { prefetch: false })
  createNetworkOn(c, D, d, NET, SUBNET, 104)
  t.true(await pumpUntil(c.clock, () => r.alloc.hasNetwork(NET) && r.alloc.tokens(NET).length > 0, 5_000))
  // the request stays written (as while its writer waits for an answer)
  c.get(R).set('cluster', TABLE_IPAM_REQUESTS, usageKey(NET, R), { networkId: NET, requester: R, donor: D, atMs: c.clock.now() })
  t.true(await pumpUntil(c.clock, () => d.alloc.counts(NET).owned < 256, 5_000), 'served')
  const afterOne = d.alloc.counts(NET).owned
  c.net.partition([R], [D])
  t.true(await pumpUntil(c.clock, () => c.get(D).members().some((m) => m.id === R && m.state === 'dead'), 60_000), 'the asker is declared dead')
  c.net.heal()
  t.true(await pumpUntil(c.clock, () => c.get(D).members().some((m) => m.id === R && m.state === 'alive'), 60_000), 'and back')
  await pump(c.clock, 5_000)
  t.is(d.alloc.counts(NET).owned, afterOne, 'no second donation for the same request')
})

test('a member asking for space again and again gets its quota of the network, not the network', async (t) => {
  const ids = ['donor-node', 'greedy-node', 'n3', 'n4', 'n5', 'n6']
  const [D, G] = ids
  const c = await startCluster(ids, 15, 3_600_000)
  t.teardown(async () => { await c.stop() })
  const d = ipamNode(t, c, D)
  const g = ipamNode(t, c, G, { prefetch: false })
  createNetworkOn(c, D, d, NET, '10.73.0.0/22', 105)
  t.true(await pumpUntil(c.clock, () => g.alloc.hasNetwork(NET) && g.alloc.tokens(NET).length > 0 && c.get(D).members().filter((m) => m.state === 'alive').length === 6, 10_000))
  const usable = 1022
  const quota = Math.max(4 * 64, 4 * usable / 6) // 681
  for (let i = 0; i < 25; i++) {
    c.get(G).set('cluster', TABLE_IPAM_REQUESTS, usageKey(NET, G), { networkId: NET, requester: G, donor: D, atMs: c.clock.now() })
    await pump(c.clock, 100)
  }
  await pump(c.clock, 2_000)
  const owned = g.alloc.counts(NET).owned
  t.true(owned >= quota - 64 && owned < quota + 64, `the asker owns its quota (${owned} of ${usable}, quota ${Math.floor(quota)})`)
  t.is(d.alloc.counts(NET).owned, usable + 2 - owned, 'the donor keeps the rest')
})

test('a node writes again under its own name the donation that gave it space: the block stays known after the donor leaves', async (t) => {
  const [D, B, N] = ['donor-node', 'taker-node', 'later-node']
  const c = await startCluster([D, B, N], 16)
  t.teardown(async () => { await c.stop() })
  const d = ipamNode(t, c, D)
  const b = ipamNode(t, c, B, { prefetch: false })
  createNetworkOn(c, D, d, NET, SUBNET, 106)
  t.true(await pumpUntil(c.clock, () => b.alloc.hasNetwork(NET) && b.alloc.tokens(NET).length > 0, 5_000))
  let ip: string | undefined
  b.ipam.allocate(NET, 'task', 'web.4').then((a) => { ip = a }, () => {})
  t.true(await pumpUntil(c.clock, () => ip !== undefined, 10_000))
  const block = b.alloc.ownedBy(NET).owned[0]
  const stored = (): { origin: string } | undefined => c.get(N).get('cluster', TABLE_IPAM, tokenKey(NET, block?.start ?? ''))
  t.true(await pumpUntil(c.clock, () => stored()?.origin === B, 5_000), 'the block\'s token is stored under the taker\'s name')
  // the donor leaves; its entries are reaped (30 min); a node that rebuilds its ring from the store still sees B's block
  const left = c.get(D).leave()
  await pump(c.clock, 1_000)
  await left
  await pump(c.clock, 31 * 60_000)
  const fresh = createNodeAllocator({ self: N })
  const nIpam = wireIpam(c.get(N), fresh, c.clock)
  t.teardown(() => { nIpam.stop() })
  fresh.addNetwork(NET, [SUBNET])
  nIpam.syncNetwork(NET)
  t.true(fresh.tokens(NET).some((s) => s.owner === B && s.start === block?.start), 'B\'s block is known')
})

test('a node that leaves hands its ranges to their heirs at once, VIPs held by the heir', async (t) => {
  const [D, B, N] = ['donor-node', 'leaving-node', 'third-node']
  const c = await startCluster([D, B, N], 17)
  t.teardown(async () => { await c.stop() })
  const vips: Array<{ ip: string, service: string }> = []
  const d = ipamNode(t, c, D, { vipsOf: () => vips })
  const b = ipamNode(t, c, B, { prefetch: false })
  const n = ipamNode(t, c, N, { prefetch: false })
  createNetworkOn(c, D, d, NET, SUBNET, 107)
  t.true(await pumpUntil(c.clock, () => b.alloc.hasNetwork(NET) && b.alloc.tokens(NET).length > 0, 5_000))
  let vip: string | undefined
  b.ipam.allocate(NET, 'vip', 'svc-2').then((a) => { vip = a }, () => {})
  t.true(await pumpUntil(c.clock, () => vip !== undefined && n.alloc.hasNetwork(NET) && n.alloc.tokens(NET).some((s) => s.owner === B), 10_000))
  vips.push({ ip: vip as string, service: 'svc-2' })
  b.ipam.handOver()
  t.is(b.alloc.counts(NET).owned, 0)
  t.true(await pumpUntil(c.clock, () => d.alloc.counts(NET).owned === 256 && !n.alloc.tokens(NET).some((s) => s.owner === B), 5_000), 'the heir owns the network again, and the third node knows it')
  t.deepEqual(d.alloc.allocations(NET).filter((a) => a.kind === 'vip'), [{ address: vip, kind: 'vip', owner: 'svc-2' }], 'the heir holds the VIP of the service the leaver created')
})

test('the space of a revoked member goes to its heir at the next pass, not after reclaimAfter', async (t) => {
  const [V, B, C] = ['heir-node', 'revoked-node', 'third-node']
  const c = await startCluster([V, B, C], 17, 3_600_000)
  t.teardown(async () => { await c.stop() })
  const reclaimAfterMs = 3_600_000
  const revoked = new Set<string>()
  const init = { reclaimIntervalMs: 1_000, revoked: () => revoked }
  const v = ipamNode(t, c, V, init, { reclaimAfterMs })
  const b = ipamNode(t, c, B, init, { reclaimAfterMs })
  const third = ipamNode(t, c, C, init, { reclaimAfterMs })
  createNetworkOn(c, V, v, NET, SUBNET, 107)
  t.true(await pumpUntil(c.clock, () => b.alloc.hasNetwork(NET) && b.alloc.tokens(NET).length > 0, 5_000))
  let held: string | undefined
  b.ipam.allocate(NET, 'task', 'web.1').then((a) => { held = a }, () => {})
  t.true(await pumpUntil(c.clock, () => held !== undefined && third.alloc.tokens(NET).some((s) => s.owner === B), 10_000))
  const bRange = v.alloc.tokens(NET).find((s) => s.owner === B)
  t.truthy(bRange)
  const owner = (n: { alloc: typeof v.alloc }): string | undefined => n.alloc.tokens(NET).find((s) => ip4(s.start) <= ip4(bRange?.start ?? '') && ip4(bRange?.end ?? '') <= ip4(s.end))?.owner

  // the managers revoke B: every node holds it left (gossip's part) and the IPAM counts it gone for good
  revoked.add(B)
  for (const id of [V, C]) c.get(id).revoke([B])
  t.true(await pumpUntil(c.clock, () => owner(v) === V && owner(third) === V, 30_000), 'the heir took B\'s block within seconds, an hour before reclaimAfter')
})
