import test from 'ava'
import { createNodeAllocator, deserializeNodeAllocator, type NodeAllocator } from '@scalelb/allocator'
import { createTestRng } from '@scalelb/test-support'

const GRACE = 10_000

test('the LB IP comes with the first local task and goes after the last one leaves, after the grace period', (t) => {
  const a = createNodeAllocator({ self: 'a', lbReleaseGraceMs: GRACE })
  a.createNetwork('n', ['10.0.0.0/24'], 0)
  t.is(a.lbIp('n'), undefined)
  t.is(a.counts('n').lb, 0)
  const first = a.localTaskAdded('n', 't1', 0)
  t.deepEqual(first, { lbIp: '10.0.0.1', allocated: true })
  t.deepEqual(a.localTaskAdded('n', 't2', 0), { lbIp: '10.0.0.1', allocated: false })
  t.deepEqual(a.localTaskAdded('n', 't2', 0), { lbIp: '10.0.0.1', allocated: false }, 'idempotent per task')
  a.localTaskRemoved('n', 't1', 100)
  t.deepEqual(a.tick(100_000), [], 'one task is still there')
  a.localTaskRemoved('n', 't2', 200_000)
  t.is(a.nextDeadline(), 200_000 + GRACE)
  t.deepEqual(a.tick(200_000 + GRACE - 1), [])
  t.is(a.lbIp('n'), '10.0.0.1')
  t.deepEqual(a.tick(200_000 + GRACE), [{ networkId: 'n', ip: '10.0.0.1' }])
  t.is(a.lbIp('n'), undefined)
  t.is(a.counts('n').lb, 0)
  t.is(a.nextDeadline(), undefined)
})

test('a task coming back within the grace period keeps the same LB IP', (t) => {
  const a = createNodeAllocator({ self: 'a', lbReleaseGraceMs: GRACE })
  a.createNetwork('n', ['10.0.0.0/24'], 0)
  const { lbIp } = a.localTaskAdded('n', 't1', 0)
  a.localTaskRemoved('n', 't1', 1000)
  t.deepEqual(a.localTaskAdded('n', 't1b', 1000 + GRACE - 1), { lbIp, allocated: false })
  t.deepEqual(a.tick(1000 + GRACE * 5), [])
  t.is(a.lbIp('n'), lbIp)
})

test('deleting a network releases its LB IP', (t) => {
  const a = createNodeAllocator({ self: 'a' })
  a.createNetwork('n', ['10.0.0.0/24'], 0)
  a.localTaskAdded('n', 't1', 0)
  t.is(a.deleteNetwork('n'), '10.0.0.1')
  t.false(a.hasNetwork('n'))
  t.deepEqual(a.tick(1e12), [])
  t.is(t.throws(() => a.lbIp('n'))?.name, 'UnknownNetworkError')
})

test('a node without space gets NeedSpaceError for its LB IP, and the retry after a donation succeeds', (t) => {
  const a = createNodeAllocator({ self: 'a' })
  const b = createNodeAllocator({ self: 'b' })
  b.addNetwork('n', ['10.0.0.0/24'])
  b.mergeTokens('n', a.createNetwork('n', ['10.0.0.0/24'], 0), 0)
  t.is(t.throws(() => b.localTaskAdded('n', 't1', 0))?.name, 'NeedSpaceError')
  t.is(b.ownedBy('n').localTasks, 1)
  b.mergeTokens('n', a.donate('n', 'b', 0) ?? [], 0)
  t.deepEqual(b.localTaskAdded('n', 't1', 0), { lbIp: '10.0.0.192', allocated: true })
})

test('invariant: LB IPs in use on a network == nodes with at least one local task on it', (t) => {
  const rng = createTestRng(7)
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']
  const nodes: NodeAllocator[] = ids.map((self) => createNodeAllocator({ self, lbReleaseGraceMs: GRACE }))
  const tokens = nodes[0].createNetwork('net', ['10.1.0.0/24', 'fd00:1::/120'], 0)
  for (const n of nodes.slice(1)) { n.addNetwork('net', ['10.1.0.0/24', 'fd00:1::/120']); n.mergeTokens('net', tokens, 0) }
  for (const n of nodes.slice(1)) {
    // space of both families: a dual-stack network's node holds an LB IP of each
    const w = [...nodes[0].donate('net', n.self, 0, 4) ?? [], ...nodes[0].donate('net', n.self, 0, 6) ?? []]
    for (const m of nodes) m.mergeTokens('net', w, 0)
  }
  const tasks = new Map<NodeAllocator, Set<string>>(nodes.map((n) => [n, new Set<string>()]))
  const lbUsed = (): number => nodes.reduce((s, n) => s + n.counts('net').lb, 0)
  const withTasks = (): number => 2 * nodes.filter((n) => (tasks.get(n)?.size ?? 0) > 0).length
  let now = 0
  for (let step = 0; step < 2000; step++) {
    now += rng.int(4000)
    const n = rng.pick(nodes)
    const mine = tasks.get(n) as Set<string>
    if (mine.size === 0 || rng.next() < 0.5) {
      const key = `task-${step}`
      n.localTaskAdded('net', key, now)
      mine.add(key)
    } else {
      const key = rng.pick([...mine])
      mine.delete(key)
      n.localTaskRemoved('net', key, now)
    }
    for (const m of nodes) m.tick(now)
    // during a grace period a node may still hold its LB IP; never the other way round
    t.true(lbUsed() >= withTasks())
    if (step % 50 === 49) {
      now += GRACE
      for (const m of nodes) m.tick(now)
      t.is(lbUsed(), withTasks(), `step ${step}`)
    }
  }
  for (const n of nodes) for (const key of tasks.get(n) ?? []) n.localTaskRemoved('net', key, now)
  now += GRACE
  for (const m of nodes) m.tick(now)
  t.is(lbUsed(), 0)
})

test('a dual-stack network gives an LB IP per family (IPv4 first), released together; an IPv6-only one an IPv6 LB IP; both survive a snapshot', (t) => {
  const a = createNodeAllocator({ self: 'a', lbReleaseGraceMs: GRACE })
  a.createNetwork('d', ['fd00:10::/64', '10.0.0.0/24'], 0)
  a.createNetwork('v6', ['fd00:20::/64'], 0)
  t.deepEqual(a.localTaskAdded('d', 't1', 0), { lbIp: '10.0.0.1', lbIp6: 'fd00:10::1', allocated: true })
  t.deepEqual(a.localTaskAdded('d', 't2', 0), { lbIp: '10.0.0.1', lbIp6: 'fd00:10::1', allocated: false })
  t.deepEqual(a.localTaskAdded('v6', 't1', 0), { lbIp: 'fd00:20::1', allocated: true })
  t.deepEqual(a.lbIps('d'), ['10.0.0.1', 'fd00:10::1'])
  t.deepEqual(a.lbIps('v6'), ['fd00:20::1'])
  t.is(a.ownedBy('d').lbIp6, 'fd00:10::1')
  t.is(a.counts('d').lb, 2)
  const b = deserializeNodeAllocator(a.serialize())
  t.deepEqual(b.lbIps('d'), ['10.0.0.1', 'fd00:10::1'])
  a.localTaskRemoved('d', 't1', 0)
  a.localTaskRemoved('d', 't2', 0)
  t.deepEqual(a.tick(GRACE), [{ networkId: 'd', ip: '10.0.0.1' }, { networkId: 'd', ip: 'fd00:10::1' }])
  t.deepEqual(a.lbIps('d'), [])
  t.is(a.counts('d').lb, 0)
})
