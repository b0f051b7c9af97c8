import test from 'ava'
import { createNodeAllocator, type NodeAllocator, type RingToken } from '@scalelb/allocator'

function pair (): { a: NodeAllocator, b: NodeAllocator } {
  const a = createNodeAllocator({ self: 'a' })
  const b = createNodeAllocator({ self: 'b' })
  const tokens = a.createNetwork('n', ['10.0.0.0/24'], 0)
  b.addNetwork('n', ['10.0.0.0/24'])
  b.mergeTokens('n', tokens, 0)
  return { a, b }
}

test('the creator owns the whole network; others own nothing and are told whom to ask', (t) => {
  const { a, b } = pair()
  t.deepEqual(a.tokens('n'), [{ start: '10.0.0.0', end: '10.0.0.255', owner: 'a', version: 1 }])
  t.deepEqual(b.tokens('n'), a.tokens('n'))
  t.is(a.counts('n').owned, 256)
  t.is(b.counts('n').owned, 0)
  const e = t.throws(() => b.allocate('n', 'task', 0))
  t.is(e?.name, 'NeedSpaceError')
  t.deepEqual((e as unknown as { donors: string[] }).donors, ['a'])
})

test('donation: the donor carves a free /26, writes it at version+1 naming the requester', (t) => {
  const { a, b } = pair()
  a.allocate('n', 'task', 0)
  const written = a.donate('n', 'b', 0)
  t.deepEqual(written, [
    { start: '10.0.0.0', end: '10.0.0.191', owner: 'a', version: 1 },
    { start: '10.0.0.192', end: '10.0.0.255', owner: 'b', version: 2 }
  ])
  // before b learns of it, b still owns nothing; tokens travel only by merge
  t.is(t.throws(() => b.allocate('n', 'task', 0))?.name, 'NeedSpaceError')
  t.true(b.mergeTokens('n', written ?? [], 0).changed)
  t.is(b.allocate('n', 'task', 0), '10.0.0.192')
  t.is(b.counts('n').owned, 64)
  t.is(a.counts('n').owned, 192)
  // the donor no longer hands out the donated block
  t.is(t.throws(() => a.allocateSpecific('n', '10.0.0.200', 'task', 0))?.name, 'AddressUnavailableError')
})

test('donation never gives away used or cooling addresses and keeps half for the donor', (t) => {
  const a = createNodeAllocator({ self: 'a', reuseCooldownMs: 1000 })
  a.createNetwork('n', ['10.0.0.0/28'], 0) // 16 addresses: donor keeps 8
  for (const ip of ['10.0.0.9', '10.0.0.13']) a.allocateSpecific('n', ip, 'task', 0)
  a.release('n', '10.0.0.13', 0) // cooling
  const given = a.donate('n', 'b', 0)
  // the donor keeps at least half: 8..15 holds its addresses, so 0..7 goes
  t.deepEqual(given?.find((x) => x.owner === 'b'), { start: '10.0.0.0', end: '10.0.0.7', owner: 'b', version: 2 })
  // 8..15 left: 8..11 holds .9 and 12..15 holds cooling .13, so only a pair is free
  const again = a.donate('n', 'c', 0)
  t.deepEqual(again?.find((x) => x.owner === 'c'), { start: '10.0.0.14', end: '10.0.0.15', owner: 'c', version: 2 })
  t.is(a.allocations('n')[0].address, '10.0.0.9')
})

test('merge is order independent and idempotent; the higher version wins', (t) => {
  const { a, b } = pair()
  const c = createNodeAllocator({ self: 'c' })
  c.addNetwork('n', ['10.0.0.0/24'])
  const w1 = a.donate('n', 'b', 0) ?? []
  b.mergeTokens('n', w1, 0)
  const w2 = b.donate('n', 'c', 0) ?? [] // b carves from what it got: version 3
  const ordered = [a.tokens('n'), w1, w2]
  const d = createNodeAllocator({ self: 'd' })
  d.addNetwork('n', ['10.0.0.0/24'])
  for (const set of [...ordered].reverse()) d.mergeTokens('n', set, 0)
  for (const set of ordered) c.mergeTokens('n', set, 0)
  t.deepEqual(c.tokens('n'), d.tokens('n'))
  t.false(c.mergeTokens('n', d.tokens('n'), 0).changed)
  t.deepEqual(c.tokens('n').map((x) => [x.owner, x.version]), [['a', 1], ['b', 2], ['c', 3]])
  // a stale version-1 token for the whole range changes nothing
  t.false(c.mergeTokens('n', [{ start: '10.0.0.0', end: '10.0.0.255', owner: 'a', version: 1 }], 0).changed)
})

test('same version, different owners: the lower ID wins and the loser renumbers exactly its addresses there', (t) => {
  // two nodes created the "same" network independently (a race): both at version 1
  const a = createNodeAllocator({ self: 'node-a' })
  const z = createNodeAllocator({ self: 'node-z' })
  const ta = a.createNetwork('n', ['10.0.0.0/24'], 0)
  const tz = z.createNetwork('n', ['10.0.0.0/24'], 0)
  const zv = z.allocate('n', 'vip', 0, 'svc-1')
  const zt = z.allocate('n', 'task', 0, 'task-1')
  z.localTaskAdded('n', 'task-1', 0)
  a.allocate('n', 'task', 0)
  const ra = a.mergeTokens('n', tz, 0)
  t.false(ra.changed)
  t.deepEqual(ra.renumber, [])
  const rz = z.mergeTokens('n', ta, 0)
  t.true(rz.changed)
  t.deepEqual(rz.renumber.map((x) => [x.address, x.kind, x.owner]), [[zv, 'vip', 'svc-1'], [zt, 'task', 'task-1'], ['10.0.0.3', 'lb', 'lb']])
  t.deepEqual(z.allocations('n'), [])
  t.is(z.lbIp('n'), undefined)
  t.deepEqual(rz.lbIpChanged, { from: '10.0.0.3', to: undefined })
  t.deepEqual(z.tokens('n'), a.tokens('n'))
})

test('a partial loss renumbers only the addresses inside the lost range', (t) => {
  const a = createNodeAllocator({ self: 'a' })
  a.createNetwork('n', ['10.0.0.0/24'], 0)
  a.allocateSpecific('n', '10.0.0.10', 'task', 0)
  a.allocateSpecific('n', '10.0.0.200', 'task', 0)
  a.allocateSpecific('n', '10.0.0.201', 'task', 0)
  a.release('n', '10.0.0.201', 0) // cooling, in the range about to be lost
  t.is(a.counts('n').cooling, 1)
  // a conflicting writer (say, a wrong reclaim) took 10.0.0.128/25 at version 2
  const r = a.mergeTokens('n', [{ start: '10.0.0.128', end: '10.0.0.255', owner: 'b', version: 2 }], 0)
  t.deepEqual(r.renumber.map((x) => x.address), ['10.0.0.200'])
  t.deepEqual(a.allocations('n').map((x) => x.address), ['10.0.0.10'])
  t.is(a.counts('n').cooling, 0)
  t.is(a.counts('n').owned, 128)
  // and it never allocates there again
  const last = (ip: string): number => Number(ip.split('.')[3])
  for (let i = 0; i < 126; i++) t.true(last(a.allocate('n', 'task', 0)) < 128)
  t.is(t.throws(() => a.allocate('n', 'task', 0))?.name, 'NeedSpaceError')
})

test('bad tokens are typed errors naming the field; nothing is merged', (t) => {
  const { b } = pair()
  const before = b.tokens('n')
  const good: RingToken = { start: '10.0.0.0', end: '10.0.0.63', owner: 'x', version: 9 }
  const cases: Array<[unknown, string]> = [
    [{ ...good, start: '10.1.0.0' }, 'tokens[1].start'],
    [{ ...good, end: '10.0.1.5' }, 'tokens[1].end'],
    [{ ...good, end: '9.0.0.0' }, 'tokens[1].end'],
    [{ ...good, owner: '' }, 'tokens[1].owner'],
    [{ ...good, version: 1.5 }, 'tokens[1].version'],
    [{ ...good, version: 0 }, 'tokens[1].version'],
    [{ ...good, start: 42 }, 'tokens[1].start'],
    [null, 'tokens[1]']
  ]
  for (const [bad, field] of cases) {
    const e = t.throws(() => b.mergeTokens('n', [good, bad as RingToken], 0))
    t.is(e?.name, 'InvalidTokenError')
    t.is((e as unknown as { field: string }).field, field)
  }
  t.deepEqual(b.tokens('n'), before)
  t.is(t.throws(() => b.mergeTokens('nope', [good], 0))?.name, 'UnknownNetworkError')
})

test('reclaim: after reclaimAfter the heir (nearest preceding live owner) takes a dead node\'s space at version+1', (t) => {
  const hour = 3_600_000
  const nodes = ['a', 'b', 'c', 'd'].map((self) => createNodeAllocator({ self }))
  const [a, b, c, d] = nodes
  a.createNetwork('n', ['10.0.0.0/24'], 0)
  for (const x of [b, c, d]) x.addNetwork('n', ['10.0.0.0/24'])
  const sync = (): void => { for (const x of nodes) for (const y of nodes) x.mergeTokens('n', y.tokens('n'), 0) }
  for (const x of [b, c, d]) { sync(); x.mergeTokens('n', a.donate('n', x.self, 0) ?? [], 0) }
  sync()
  // ring: a [0,63] d [64,127] c [128,191] b [192,255]
  t.deepEqual(a.tokens('n').map((x) => x.owner), ['a', 'd', 'c', 'b'])
  const dead = [{ id: 'c', deadSinceMs: 1000 }]
  t.deepEqual(d.reclaim('n', dead, 1000 + hour - 1), [], 'not before reclaimAfter')
  for (const x of [a, b]) t.deepEqual(x.reclaim('n', dead, 1000 + hour), [], `${x.self} is not the heir`)
  const w = d.reclaim('n', dead, 1000 + hour)
  t.deepEqual(w, [{ start: '10.0.0.128', end: '10.0.0.191', owner: 'd', version: 3 }])
  t.is(d.allocateSpecific('n', '10.0.0.150', 'task', 0), '10.0.0.150')
  // c and d both dead: the heir of both is a (wrapping is not needed here)
  const both = [{ id: 'c', deadSinceMs: 0 }, { id: 'd', deadSinceMs: 0 }]
  const a2 = createNodeAllocator({ self: 'a' })
  a2.addNetwork('n', ['10.0.0.0/24'])
  a2.mergeTokens('n', a.tokens('n'), 0)
  t.deepEqual(a2.reclaim('n', both, hour).map((x) => [x.start, x.owner]), [['10.0.0.64', 'a']])
  t.is(a2.counts('n').owned, 192)
})

test('reclaim when every ring owner is dead: the lowest live node ID inherits', (t) => {
  const b = createNodeAllocator({ self: 'b' })
  const c = createNodeAllocator({ self: 'c' })
  const tokens = createNodeAllocator({ self: 'a' }).createNetwork('n', ['fd00::/120'], 0)
  for (const x of [b, c]) { x.addNetwork('n', ['fd00::/120']); x.mergeTokens('n', tokens, 0) }
  const dead = [{ id: 'a', deadSinceMs: 0 }]
  t.deepEqual(c.reclaim('n', dead, 3_600_000, ['b', 'c']), [])
  t.deepEqual(b.reclaim('n', dead, 3_600_000, ['b', 'c']), [{ start: 'fd00::', end: 'fd00::ff', owner: 'b', version: 2 }])
})

test('reclaim without a membership list has no fallback heir: nobody claims an all-dead ring', (t) => {
  const b = createNodeAllocator({ self: 'b' })
  b.addNetwork('n', ['10.0.0.0/24'])
  b.mergeTokens('n', createNodeAllocator({ self: 'a' }).createNetwork('n', ['10.0.0.0/24'], 0), 0)
  t.deepEqual(b.reclaim('n', [{ id: 'a', deadSinceMs: 0 }], 3_600_000), [])
  t.is(b.counts('n').owned, 0)
})

test('an LB IP lost to a merge is reported the same way in both families, with or without local tasks left', (t) => {
  for (const tasksLeft of [true, false]) {
    const a = createNodeAllocator({ self: 'node-a' })
    const z = createNodeAllocator({ self: 'node-z' })
    const ta = a.createNetwork('n', ['10.0.0.0/24', 'fd00::/120'], 0)
    z.createNetwork('n', ['10.0.0.0/24', 'fd00::/120'], 0)
    const r = z.localTaskAdded('n', 'task-1', 0)
    t.truthy(r.lbIp6, 'a dual-stack network gives an LB IP per family')
    // the task left, the LB IPs are kept for their grace period
    if (!tasksLeft) z.localTaskRemoved('n', 'task-1', 0)
    const rz = z.mergeTokens('n', ta, 0)
    t.deepEqual(rz.lbIpChanged, { from: r.lbIp, to: undefined }, `IPv4 (tasks left: ${String(tasksLeft)})`)
    t.deepEqual(rz.lbIp6Changed, { from: r.lbIp6, to: undefined }, `IPv6 (tasks left: ${String(tasksLeft)})`)
    t.deepEqual(z.lbIps('n'), [])
  }
})
