import test from 'ava'
import { createTables, type TablesMsg } from '../../src/tables/index.js'
import { createSeededRng } from '../../src/rng.js'
import { Net, member } from '../support/tables-harness.js'

const C = 'cluster'

/** Everything a node would piggyback to `to` right now (large budget). */
function drain (net: Net, from: string, to: string): TablesMsg[] {
  return net.get(from).broadcastsFor(to, 1 << 20, net.nodes.size)
}

test('a newer write wins whatever the delivery order', (t) => {
  const net = new Net(['a', 'b', 'c'], 1)
  const a = net.get('a')
  const b = net.get('b')
  a.set(net.now, C, 'svc', 'web', { v: 1 })
  const first = drain(net, 'a', 'b')
  net.deliver('a', 'b', first)
  b.set(net.now, C, 'svc', 'web', { v: 2 })
  const second = drain(net, 'b', 'c')
  // c gets the newer write first, then the older one
  net.deliver('b', 'c', second)
  net.deliver('a', 'c', first)
  t.deepEqual(net.get('c').get(C, 'svc', 'web')?.value, { v: 2 })
  t.is(net.get('c').get(C, 'svc', 'web')?.origin, 'b')
  // and a converges too
  net.deliver('b', 'a', drain(net, 'b', 'a'))
  t.deepEqual(a.get(C, 'svc', 'web')?.value, { v: 2 })
})

test('concurrent writes with equal lamport: the higher origin id wins on every replica', (t) => {
  const net = new Net(['n1', 'n2'], 2)
  net.get('n1').set(0, C, 't', 'k', 'from-n1')
  net.get('n2').set(0, C, 't', 'k', 'from-n2')
  t.is(net.get('n1').get(C, 't', 'k')?.lamport, 1)
  t.is(net.get('n2').get(C, 't', 'k')?.lamport, 1)
  const m1 = drain(net, 'n1', 'n2')
  const m2 = drain(net, 'n2', 'n1')
  net.deliver('n1', 'n2', m1)
  net.deliver('n2', 'n1', m2)
  t.is(net.get('n1').get(C, 't', 'k')?.value, 'from-n2')
  t.is(net.get('n2').get(C, 't', 'k')?.value, 'from-n2')
})

test('the lamport clock advances on every observed entry, so the next local write wins', (t) => {
  const net = new Net(['a', 'b'], 3)
  const b = net.get('b')
  for (let i = 0; i < 5; i++) b.set(0, C, 't', `k${i}`, i)
  b.set(0, C, 't', 'shared', 'old')
  net.deliver('b', 'a', drain(net, 'b', 'a'))
  const e = net.get('a').set(0, C, 't', 'shared', 'new')
  t.is(e.lamport, 7)
  t.is(e.seq, 1)
  net.deliver('a', 'b', drain(net, 'a', 'b'))
  t.is(b.get(C, 't', 'shared')?.value, 'new')
  // an older entry seen later still moves the clock forward
  const c = createTables({ self: 'c', rng: createSeededRng(1) })
  c.handle(0, 'x', { scope: C, entries: [['t', 'q', 'x', 40, 1, 0, 1]] })
  c.handle(0, 'y', { scope: C, entries: [['t', 'q', 'y', 30, 1, 0, 2]] })
  t.is(c.get(C, 't', 'q')?.value, 1)
  t.is(c.set(0, C, 't', 'z', 0).lamport, 41)
})

test('seq increases per local write, also for the same key and value', (t) => {
  const tb = createTables({ self: 'a', rng: createSeededRng(4) })
  t.is(tb.set(0, C, 't', 'k', 1).seq, 1)
  t.is(tb.set(0, C, 't', 'k', 1).seq, 2)
  tb.delete(0, C, 't', 'k')
  t.is(tb.get(C, 't', 'k')?.seq, 3)
  t.is(tb.set(0, C, 't', 'j', 1).seq, 4)
})

test('a tombstone beats the older value that arrives after it, and is reaped after the ttl', (t) => {
  const net = new Net(['a', 'c'], 5, { tombstoneTtlMs: 60_000 })
  const a = net.get('a')
  const c = net.get('c')
  a.set(0, C, 'ep', 'x', 'v')
  const create = drain(net, 'a', 'c')
  a.delete(10, C, 'ep', 'x')
  const del = drain(net, 'a', 'c')
  net.now = 10
  net.deliver('a', 'c', del)
  net.deliver('a', 'c', create)
  t.is(c.get(C, 'ep', 'x')?.status, 'deleted')
  t.is(c.get(C, 'ep', 'x')?.value, undefined)
  t.deepEqual(c.entries(C, 'ep'), [])
  t.is(c.stats().entries.cluster, 1)
  // not reaped before the ttl, reaped after
  c.tick(60_000 - 1, ['a', 'c'])
  t.is(c.stats().entries.cluster, 1)
  const { wakeAt } = c.tick(60_009, ['a', 'c'])
  t.true(wakeAt > 60_009)
  t.is(c.stats().entries.cluster, 1)
  c.tick(60_010, ['a', 'c'])
  t.is(c.get(C, 'ep', 'x'), undefined)
  t.is(c.stats().entries.cluster, 0)
})

test('tombstones carry their age: a node that learns one late reaps it with everyone else', (t) => {
  const ttl = 10_000
  const a = createTables({ self: 'a', rng: createSeededRng(6), tombstoneTtlMs: ttl })
  const b = createTables({ self: 'b', rng: createSeededRng(7), tombstoneTtlMs: ttl })
  a.set(0, C, 't', 'k', 1)
  a.delete(0, C, 't', 'k')
  const rec = a.records(9000, C)
  t.deepEqual(rec, [['t', 'k', 'a', 2, 2, 1, 9000]])
  b.handle(9000, 'a', { scope: C, entries: rec })
  b.tick(10_001, [])
  t.is(b.get(C, 't', 'k'), undefined)
  // an already expired tombstone for a key we never held is not learned at all
  b.handle(20_000, 'a', { scope: C, entries: [['t', 'old', 'a', 5, 5, 1, ttl]] })
  t.is(b.get(C, 't', 'old'), undefined)
  // but it still deletes an older live version we hold
  b.handle(20_000, 'a', { scope: C, entries: [['t', 'stale', 'a', 3, 3, 0, 'x']] })
  b.handle(20_000, 'a', { scope: C, entries: [['t', 'stale', 'a', 4, 4, 1, ttl + 5]] })
  t.is(b.get(C, 't', 'stale')?.status, 'deleted')
  b.tick(20_001, [])
  t.is(b.get(C, 't', 'stale'), undefined)
})

test('events fire on every change of value or status, with the previous status and value', (t) => {
  const net = new Net(['a', 'b'], 8)
  const a = net.get('a')
  a.set(0, C, 't', 'k', 1)
  a.set(0, C, 't', 'k', 2)
  a.delete(0, C, 't', 'k')
  a.delete(0, C, 't', 'k') // already deleted: nothing
  const evs = net.events.get('a') ?? []
  t.deepEqual(evs.map((e) => [e.entry.status, e.entry.value, e.previousStatus, e.previousValue]), [
    ['live', 1, undefined, undefined], ['live', 2, 'live', 1], ['deleted', undefined, 'live', 2]
  ])
  // a tombstone for a key b never saw is not an event; an old version is not either
  net.deliver('a', 'b', drain(net, 'a', 'b'))
  t.deepEqual(net.events.get('b'), [])
  net.get('b').handle(0, 'a', { scope: C, entries: [['t', 'k', 'a', 1, 1, 0, 1]] })
  t.deepEqual(net.events.get('b'), [])
  // a throwing listener does not break the others or the state
  net.get('b').onEntry(() => { throw new Error('consumer bug') })
  net.get('b').handle(0, 'a', { scope: C, entries: [['t', 'n', 'a', 9, 9, 0, 'x']] })
  t.is(net.events.get('b')?.length, 1)
  t.is(net.get('b').get(C, 't', 'n')?.value, 'x')
})

test('an event after a tombstone has no previous value; a status change has the value as before and after', (t) => {
  const net = new Net(['a', 'b'], 8)
  net.get('a').set(0, C, 't', 'k', 1)
  net.get('a').delete(0, C, 't', 'k')
  net.get('a').set(0, C, 't', 'k', 3)
  t.deepEqual(net.events.get('a')?.at(-1)?.previousValue, undefined)
  // b learns a version of an origin that then dies: suspended, its value the same before and after
  const b = net.get('b')
  b.handle(0, 'a', { scope: C, entries: [['t', 'n', 'a', 9, 9, 0, 'x']] })
  net.clearEvents('b')
  b.memberChanged(5000, member('a', 'dead', 5000))
  const ev = (net.events.get('b') ?? []).find((e) => e.entry.key === 'n')
  t.is(ev?.entry.status, 'suspended')
  t.is(ev?.previousValue, 'x')
})

test('local writes reject bad scope, table, key and value with typed errors', (t) => {
  const tb = createTables({ self: 'a', rng: createSeededRng(9) })
  t.is(t.throws(() => tb.set(0, 'nope' as 'cluster', 't', 'k', 1))?.name, 'InvalidScopeError')
  t.is(t.throws(() => tb.set(0, 'network:', 't', 'k', 1))?.name, 'InvalidScopeError')
  t.is(t.throws(() => tb.set(0, C, '', 'k', 1))?.name, 'InvalidKeyError')
  t.is(t.throws(() => tb.set(0, C, 't', 'x'.repeat(600), 1))?.name, 'InvalidKeyError')
  t.is(t.throws(() => tb.set(0, C, 't', 'k', () => 1))?.name, 'InvalidValueError')
  t.is(t.throws(() => tb.set(0, C, 't', 'k', new Date()))?.name, 'InvalidValueError')
  t.is(t.throws(() => tb.set(0, C, 't', 'k', { a: 'x'.repeat(16_000), b: 'y'.repeat(16_000), c: 'z'.repeat(16_000) }))?.name, 'InvalidValueError')
  t.is(t.throws(() => tb.set(0, 'network:n1', 't', 'k', 1))?.name, 'NotInScopeError')
  t.is(t.throws(() => tb.set(0, C, 'scopes', 'a', []))?.name, 'ReservedTableError')
  t.deepEqual(tb.stats().entries, { cluster: 0 })
})
