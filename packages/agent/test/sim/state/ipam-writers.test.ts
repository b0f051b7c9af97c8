/**
 * A member that holds the cluster key may write any address-ring token. Here
 * it tries to take the creator's range: the creator keeps its range and its
 * addresses; a real donation still goes through, and a node that lost its
 * allocator state rebuilds the same ring from the stored tokens by their
 * writers. Real gossip nodes on the in-memory transport, manual clock.
 */
import test from 'ava'
import { createNodeAllocator, type WriteRefusal } from '@scalelb/allocator'
import { pumpUntil } from '@scalelb/test-support'
import { TABLE_IPAM } from '../../../src/state/tables.js'
import { tokenKey } from '../../../src/state/ipam.js'
import { startCluster } from '../../support/gossip-cluster.js'
import { createNetworkOn, ipamNode, wireIpam } from '../../support/ipam-wire.js'

const NET = 'writers0net'
const SUBNET = '10.72.0.0/24'

test('a ring token another node writes over a range takes it from a third node\'s view, never from its owner', async (t) => {
  const [V, Y, X] = ['owner-node', 'honest-node', 'rogue-node']
  const c = await startCluster([V, Y, X], 11)
  t.teardown(async () => { await c.stop() })
  const refusedAtV: WriteRefusal[] = []
  const v = ipamNode(t, c, V, { onRefused: (r) => refusedAtV.push(r) })
  const y = ipamNode(t, c, Y)
  const x = ipamNode(t, c, X)
  const created = createNetworkOn(c, V, v, NET, SUBNET, 102)
  const held = v.alloc.allocate(NET, 'task', c.clock.now(), 'web.1')
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
