/**
 * Ring tokens judged by their writer: a member holding the cluster key may
 * write any token, but a node keeps its own ranges unless it wrote the change
 * itself.
 */
import test from 'ava'
import { createNodeAllocator, type NodeAllocator } from '@scalelb/allocator'

const SUBNET = '10.0.0.0/24'

/** `a` created the network; `b` and `y` know a's token and a's gift of the top /26 to b. */
function cluster (): { a: NodeAllocator, b: NodeAllocator, y: NodeAllocator } {
  const a = createNodeAllocator({ self: 'a' })
  const b = createNodeAllocator({ self: 'b' })
  const y = createNodeAllocator({ self: 'y' })
  const created = a.createNetwork('n', [SUBNET], 0)
  for (const n of [b, y]) {
    n.addNetwork('n', [SUBNET])
    n.mergeTokens('n', created, 0, 'a')
  }
  const gift = a.donate('n', 'b', 0) ?? []
  b.mergeTokens('n', gift, 0, 'a')
  y.mergeTokens('n', gift, 0, 'a')
  return { a, b, y }
}

test('a token from another writer that would take this node\'s range is refused; the range and its addresses stay', (t) => {
  const { a, b } = cluster()
  const held = a.allocate('n', 'task', 0, 'web.1')
  const before = a.tokens('n')
  const grab = { start: '10.0.0.0', end: '10.0.0.255', owner: 'x', version: 99 }
  const r = a.mergeTokens('n', [grab], 0, 'x')
  t.false(r.changed)
  t.deepEqual(r.refused, [{ token: grab, reason: 'own-range' }])
  t.deepEqual(a.tokens('n'), before)
  t.true(a.allocations('n').some((x) => x.address === held), 'no renumbering')
  // a version bump of a's own range written by someone else is refused too (it would starve a's donations)
  t.is(a.mergeTokens('n', [{ start: '10.0.0.0', end: '10.0.0.63', owner: 'a', version: 2 ** 52 }], 0, 'x').refused?.[0].reason, 'own-range')
  // the same token merged without a writer (trusted input, e.g. tests or tools) still wins as before
  t.true(b.mergeTokens('n', [grab], 0).changed)
})

test('an heir\'s takeover of a returning node\'s range is taken where that node holds no address, refused where it does', (t) => {
  const { a, b } = cluster()
  // b was gone past reclaimAfter: a (its preceding owner) takes b's /26 at version + 1
  const dead = [{ id: 'b', deadSinceMs: 0 }]
  const taken = a.reclaim('n', dead, 2 * 3_600_000, ['a'])
  t.deepEqual(taken, [{ start: '10.0.0.192', end: '10.0.0.255', owner: 'a', version: 3 }])
  // b holding nothing there gives the range up (nothing to renumber)
  const idle = createNodeAllocator({ self: 'b' })
  idle.addNetwork('n', [SUBNET])
  idle.mergeTokens('n', b.tokens('n'), 0, 'a')
  const r = idle.mergeTokens('n', taken, 0, 'a')
  t.true(r.changed)
  t.is(r.refused, undefined)
  t.is(idle.counts('n').owned, 0)
  // b holding an address there keeps the range (it is in use: a conflict to log, not an address to lose)
  const busy = b.allocate('n', 'task', 0, 'web.1')
  const r2 = b.mergeTokens('n', taken, 0, 'a')
  t.false(r2.changed)
  t.deepEqual(r2.refused?.map((x) => x.reason), ['own-range'])
  t.true(b.allocations('n').some((x) => x.address === busy))
  // a service VIP does not keep the range (it outlives b; the heir holds it)
  const withVip = createNodeAllocator({ self: 'b' })
  withVip.addNetwork('n', [SUBNET])
  withVip.mergeTokens('n', b.tokens('n'), 0, 'a')
  withVip.allocate('n', 'vip', 0, 'svc-1')
  const r3 = withVip.mergeTokens('n', taken, 0, 'a')
  t.true(r3.changed)
  t.deepEqual(r3.renumber.map((x) => x.kind), ['vip'])
  // a takeover more than one version up, or naming a third node, is refused even where b holds nothing
  const spare = createNodeAllocator({ self: 'b' })
  spare.addNetwork('n', [SUBNET])
  spare.mergeTokens('n', b.tokens('n'), 0, 'a')
  t.is(spare.mergeTokens('n', [{ ...taken[0], version: 4 }], 0, 'a').refused?.[0].reason, 'own-range')
  t.is(spare.mergeTokens('n', [{ ...taken[0], owner: 'y' }], 0, 'a').refused?.[0].reason, 'own-range')
})

test('leaving, a node hands each range to its heir at version + 1; the heir takes it, and it is the only writer that may', (t) => {
  const { a, b, y } = cluster()
  b.allocate('n', 'task', 0, 'web.1')
  const given = b.handOver('n', ['a', 'b', 'y'])
  t.deepEqual(given, [{ start: '10.0.0.192', end: '10.0.0.255', owner: 'a', version: 3 }], 'its preceding owner is the heir')
  t.is(b.counts('n').owned, 0)
  t.deepEqual(b.allocations('n'), [], 'its allocations there are dropped')
  const r = a.mergeTokens('n', given, 0, 'b')
  t.true(r.changed)
  t.is(a.counts('n').owned, 256)
  t.true(y.mergeTokens('n', given, 0, 'b').changed)
  // a node alone in the ring with no one alive keeps its ranges
  const lone = createNodeAllocator({ self: 'z' })
  lone.createNetwork('m', [SUBNET], 0)
  t.deepEqual(lone.handOver('m', []), [])
  t.is(lone.counts('m').owned, 256)
  t.deepEqual(lone.handOver('m', ['q']).map((x) => x.owner), ['q'], 'with a live node, the lowest live ID')
  t.is(t.throws(() => lone.handOver('m', [''] as string[]))?.name, 'InvalidInputError')
})

test('tokens about other nodes\' ranges are merged as before: a donation this node missed cannot be told from a false claim', (t) => {
  const { b, y } = cluster()
  const real = b.donate('n', 'y', 0) ?? []
  const seen = createNodeAllocator({ self: 'z' })
  seen.addNetwork('n', [SUBNET])
  seen.mergeTokens('n', y.tokens('n'), 0, 'a')
  t.true(seen.mergeTokens('n', real, 0, 'b').changed)
  t.is(seen.mergeTokens('n', [{ start: '10.0.0.0', end: '10.0.0.63', owner: 'x', version: 7 }], 0, 'x').refused, undefined)
})

test('tokens this node wrote itself (restored, or echoed back by gossip) are merged as before', (t) => {
  const { a } = cluster()
  const own = { start: '10.0.0.0', end: '10.0.0.191', owner: 'a', version: 3 }
  const r = a.mergeTokens('n', [own], 0, 'a')
  t.true(r.changed)
  t.is(r.refused, undefined)
})

test('a bad writer is a typed error naming the field', (t) => {
  const { a } = cluster()
  t.is(t.throws(() => a.mergeTokens('n', [], 0, ''))?.name, 'InvalidInputError')
})
