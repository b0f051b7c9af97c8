import test from 'ava'
import type { EntryStatus } from '../../src/types.js'
import { Net, member } from '../support/tables-harness.js'

const C = 'cluster'
const N = 'network:n1'
const HOUR = 3_600_000

function setup (opts = {}): Net {
  const net = new Net(['a', 'b', 'c'], 21, { reconnectTimeoutMs: 24 * HOUR, tombstoneTtlMs: HOUR, ...opts })
  for (const id of net.ids()) net.get(id).joinScope(0, N)
  net.get('b').set(0, C, 'nodes', 'b', { addr: '10.0.0.2' })
  net.get('b').set(0, N, 'ep', 'task1', { ip: '10.1.0.5' })
  for (let i = 0; i < 3; i++) net.gossip(1 << 20)
  return net
}

function statuses (net: Net, id: string): Array<[string, EntryStatus, EntryStatus | undefined]> {
  return (net.events.get(id) ?? []).map((e) => [e.entry.key, e.entry.status, e.previousStatus])
}

test('a dead member\'s entries are suspended, live again when it returns, and reaped after the reconnect timeout', (t) => {
  const net = setup()
  const a = net.get('a')
  t.is(a.get(N, 'ep', 'task1')?.status, 'live')
  t.deepEqual(a.scopeMembers(N).sort(), ['a', 'b', 'c'])
  net.clearEvents('a')
  a.memberChanged(1000, member('b', 'suspect', 1000))
  t.deepEqual(statuses(net, 'a'), [], 'suspect changes nothing')
  a.memberChanged(5000, member('b', 'dead', 5000))
  t.is(a.get(N, 'ep', 'task1')?.status, 'suspended')
  t.deepEqual(a.get(N, 'ep', 'task1')?.value, { ip: '10.1.0.5' }, 'still visible')
  t.is(a.entries(N, 'ep').length, 1)
  t.deepEqual(a.scopeMembers(N).sort(), ['a', 'c'])
  t.deepEqual(statuses(net, 'a').sort(), [['b', 'suspended', 'live'], ['b', 'suspended', 'live'], ['task1', 'suspended', 'live']].sort())
  // back
  net.clearEvents('a')
  a.memberChanged(9000, member('b', 'alive', 9000))
  t.is(a.get(N, 'ep', 'task1')?.status, 'live')
  t.is((net.events.get('a') ?? []).filter((e) => e.entry.status === 'live' && e.previousStatus === 'suspended').length, 3)
  // dead for good
  a.memberChanged(10_000, member('b', 'dead', 10_000))
  const { wakeAt } = a.tick(20_000, ['a', 'c'])
  t.true(wakeAt <= 10_000 + 24 * HOUR)
  t.is(a.get(N, 'ep', 'task1')?.status, 'suspended')
  net.clearEvents('a')
  a.tick(10_000 + 24 * HOUR, ['a', 'c'])
  t.is(a.get(N, 'ep', 'task1'), undefined)
  t.is(a.get(C, 'nodes', 'b'), undefined)
  t.deepEqual(statuses(net, 'a').filter(([k]) => k === 'task1'), [['task1', 'deleted', 'suspended']])
  // a peer that still has them cannot bring them back while b stays dead
  net.now = 10_000 + 24 * HOUR
  net.deliver('c', 'a', [{ scope: N, entries: net.get('c').records(net.now, N) }])
  t.is(a.get(N, 'ep', 'task1'), undefined)
  // but once b is alive again its entries are accepted
  a.memberChanged(net.now + 1, member('b', 'alive', net.now + 1))
  net.deliver('c', 'a', [{ scope: N, entries: net.get('c').records(net.now, N) }])
  t.is(a.get(N, 'ep', 'task1')?.status, 'live')
})

test('a member announcing a restart keeps its entries live while it is down', (t) => {
  const net = setup()
  const a = net.get('a')
  a.memberChanged(1000, member('b', 'dead', 1000, true))
  t.is(a.get(N, 'ep', 'task1')?.status, 'live')
  t.deepEqual(a.scopeMembers(N).sort(), ['a', 'b', 'c'])
  // the restart grace ran out: membership says dead without restarting
  a.memberChanged(31_000, member('b', 'dead', 31_000, false))
  t.is(a.get(N, 'ep', 'task1')?.status, 'suspended')
})

test('entries of a member that left are deleted even if its tombstones never arrived, and reaped after the tombstone ttl', (t) => {
  const net = setup()
  const a = net.get('a')
  net.clearEvents('a')
  a.memberChanged(1000, member('b', 'left', 1000))
  const e = a.get(N, 'ep', 'task1')
  t.is(e?.status, 'deleted')
  t.true(e?.deleted)
  t.is(e?.value, undefined)
  t.deepEqual(a.entries(N), [])
  t.deepEqual(a.scopeMembers(N).sort(), ['a', 'c'])
  t.true(statuses(net, 'a').some(([k, s, p]) => k === 'task1' && s === 'deleted' && p === 'live'))
  a.tick(1000 + HOUR, ['a', 'c'])
  t.is(a.get(N, 'ep', 'task1'), undefined)
  t.is(a.stats().entries[N], 0)
})

test('leaveAll tombstones every own entry and peers see them deleted', (t) => {
  const net = setup()
  const b = net.get('b')
  net.clearEvents('a')
  b.leaveAll(100)
  t.is(b.get(N, 'ep', 'task1')?.status, 'deleted')
  t.is(b.get(C, 'nodes', 'b')?.status, 'deleted')
  t.is(b.get(C, 'scopes', 'b')?.status, 'deleted')
  net.now = 100
  net.deliver('b', 'a', b.broadcastsFor('a', 1 << 20, 3))
  const a = net.get('a')
  t.deepEqual(a.entries(N), [])
  t.deepEqual(a.entries(C, 'nodes'), [])
  t.deepEqual(a.scopeMembers(N).sort(), ['a', 'c'])
  t.deepEqual(statuses(net, 'a').sort(), [['b', 'deleted', 'live'], ['b', 'deleted', 'live'], ['task1', 'deleted', 'live']].sort())
})

test('leaveScope tombstones own entries there, announces it, and forgets the scope once the tombstones went out', (t) => {
  const net = setup()
  const b = net.get('b')
  const a = net.get('a')
  b.leaveScope(100, N)
  t.deepEqual(b.scopes(), [C])
  t.throws(() => b.set(100, N, 'ep', 'x', 1), { name: 'NotInScopeError' })
  // tombstones still go to the scope's members
  net.now = 100
  let sent = 0
  for (let i = 0; i < 20; i++) {
    for (const to of ['a', 'c']) {
      const msgs = b.broadcastsFor(to, 1 << 20, 3)
      sent += msgs.filter((m) => m.scope === N).length
      net.deliver('b', to, msgs)
    }
  }
  t.true(sent > 0)
  t.is(a.get(N, 'ep', 'task1')?.status, 'deleted')
  t.deepEqual(a.scopeMembers(N).sort(), ['a', 'c'])
  b.tick(200, ['a', 'b', 'c'])
  t.is(b.get(N, 'ep', 'task1'), undefined)
  t.false(N in b.stats().entries)
  // and an entry for it arriving later is ignored
  b.handle(300, 'a', { scope: N, entries: [['ep', 'late', 'a', 99, 1, 0, 1]] })
  t.deepEqual(b.entries(N), [])
  // joining again works
  b.joinScope(400, N)
  t.deepEqual(b.scopes(), [C, N])
  t.is(b.set(400, N, 'ep', 'again', 1).status, 'live')
})

test('a node restarted without its state re-asserts its new writes over its previous life\'s', (t) => {
  const net = setup()
  const a = net.get('a')
  // b's earlier life wrote nodes/b at a higher lamport than the fresh process will start with
  for (let i = 0; i < 10; i++) net.get('b').set(0, C, 'nodes', 'b', { addr: `10.0.0.${i}` })
  net.gossip(1 << 20)
  const fresh = new Net(['b'], 99).get('b')
  const e = fresh.set(0, C, 'nodes', 'b', { addr: '10.9.9.9' })
  t.true(e.lamport < (a.get(C, 'nodes', 'b')?.lamport ?? 0))
  // the fresh b syncs with a and learns its old write: it writes its current value again, above it
  const req = fresh.tick(2000, ['a', 'b']).syncs.find((s) => s.to === 'a')?.req
  t.truthy(req)
  const back = fresh.handleSyncResponse(2000, 'a', a.handleSyncRequest(2000, 'b', req!))
  t.deepEqual(fresh.get(C, 'nodes', 'b')?.value, { addr: '10.9.9.9' })
  for (const m of back) a.handle(2000, 'b', m)
  for (const m of fresh.broadcastsFor('a', 1 << 20, 3)) a.handle(2000, 'b', m)
  t.deepEqual(a.get(C, 'nodes', 'b')?.value, { addr: '10.9.9.9' })
})

test('a left scope is forgotten after the linger time even if nobody took its tombstones', (t) => {
  const net = new Net(['a'], 31)
  const a = net.get('a')
  a.joinScope(0, N)
  a.set(0, N, 'ep', 'x', 1)
  a.leaveScope(10, N)
  const { wakeAt } = a.tick(20, ['a'])
  t.true(N in a.stats().entries)
  t.true(wakeAt <= 30_010)
  a.tick(30_010, ['a'])
  t.false(N in a.stats().entries)
})

test('own entries of an earlier life that the restarted process does not write again are tombstoned after a grace', (t) => {
  const net = setup()
  const a = net.get('a')
  net.get('b').set(0, N, 'ep', 'gone-task', { ip: '10.1.0.6' })
  net.gossip(1 << 20)
  const fresh = new Net(['b'], 98).get('b')
  fresh.tick(1000, ['a', 'b'])
  fresh.joinScope(1000, N)
  // peers' state reaches the restarted node before it restored anything: nothing flaps
  for (const scope of [C, N] as const) fresh.handle(1000, 'a', { scope, entries: a.records(1000, scope) })
  t.is(fresh.get(N, 'ep', 'gone-task')?.status, 'live')
  t.is(fresh.get(N, 'ep', 'task1')?.status, 'live')
  // the agent restores what it still owns
  fresh.set(1500, N, 'ep', 'task1', { ip: '10.1.0.5' })
  const { wakeAt } = fresh.tick(2000, ['a', 'b'])
  t.true(wakeAt <= 11_000)
  t.is(fresh.get(N, 'ep', 'gone-task')?.status, 'live')
  fresh.tick(11_000, ['a', 'b'])
  t.is(fresh.get(N, 'ep', 'gone-task')?.status, 'deleted')
  t.is(fresh.get(N, 'ep', 'task1')?.status, 'live')
  t.is(fresh.get(C, 'nodes', 'b')?.status, 'deleted', 'not written by this life either')
  for (const m of fresh.broadcastsFor('a', 1 << 20, 3)) a.handle(11_000, 'b', m)
  t.is(a.get(N, 'ep', 'gone-task')?.status, 'deleted')
  t.is(a.get(N, 'ep', 'task1')?.status, 'live')
})
