import test from 'ava'
import { OWN_ADOPT_GRACE_MS } from '../../src/tables/constants.js'
import { createTables, type Tables, type TablesMsg } from '../../src/tables/index.js'
import type { EntryStatus, NodeId, Rng, ScopeName } from '../../src/types.js'
import { createSeededRng } from '../../src/rng.js'
import { Net, member } from '../support/tables-harness.js'

/*
 * A node that leaves a network scope tombstones its entries there; if every
 * transmission of those tombstones is lost, the other members must still stop
 * showing the entries once they hold the leaver's `scopes` record (which
 * anti-entropy repairs), and the leaver's rejoin must end with its old
 * entries tombstoned everywhere.
 */

const C = 'cluster'
const N = 'network:n1'
const SYNC_MS = 2000
const HOUR = 3_600_000

function int (r: Rng, n: number): number { return Math.floor(r.next() * n) }
function pick<T> (r: Rng, xs: readonly T[]): T { return xs[int(r, xs.length)] as T }

/** Take and drop everything `id` would gossip: every transmission of its queued entries is lost. */
function loseAll (net: Net, id: NodeId): void {
  for (let i = 0; i < 50; i++) {
    for (const to of net.ids()) if (to !== id) net.get(id).broadcastsFor(to, 1 << 20, net.nodes.size)
  }
}

/** Deliver every queued broadcast of every node to every other node, a few rounds. */
function flood (net: Net): void {
  for (let i = 0; i < 3; i++) net.gossip(1 << 20)
}

/** Nodes a, b and x (all ticked at 0: their process life starts there), all in N; x holds ep/t1 and ep/t2 there. */
function setup (seed: number): Net {
  const net = new Net(['a', 'b', 'x'], seed, { syncIntervalMs: SYNC_MS, tombstoneTtlMs: HOUR })
  for (const id of net.ids()) net.get(id).tick(0, net.ids())
  for (const id of net.ids()) net.get(id).joinScope(0, N)
  flood(net)
  net.get('x').set(0, N, 'ep', 't1', { ip: '10.1.0.5' })
  net.get('x').set(0, N, 'ep', 't2', { ip: '10.1.0.6' })
  flood(net)
  return net
}

/** Run sync rounds until `done` holds (at most `max` rounds); returns the rounds run, or -1. */
function syncUntil (net: Net, done: () => boolean, max = 30): number {
  for (let n = 0; n <= max; n++) {
    if (done()) return n
    net.tick(SYNC_MS)
  }
  return -1
}

/** [key, status, previousStatus] of the events a node saw for origin x's entries in N. */
function xEvents (net: Net, id: NodeId): Array<[string, EntryStatus, EntryStatus | undefined]> {
  return (net.events.get(id) ?? [])
    .filter((e) => e.entry.scope === N && e.entry.origin === 'x')
    .map((e) => [e.entry.key, e.entry.status, e.previousStatus])
}

function holdsScopesOf (net: Net, id: NodeId, of: NodeId): boolean {
  return net.get(id).get(C, 'scopes', of)?.lamport === net.get(of).get(C, 'scopes', of)?.lamport
}

test('all tombstones of a scope leave lost: members show the leaver\'s entries deleted once anti-entropy brings its scopes record, one event each', (t) => {
  const net = setup(1)
  const x = net.get('x')
  t.is(net.get('a').get(N, 'ep', 't1')?.status, 'live')
  x.leaveScope(net.now, N)
  loseAll(net, 'x')
  t.deepEqual(x.pendingScopes(), [], 'nothing of N left to send: every tombstone transmission was lost')
  for (const id of ['a', 'b']) {
    t.is(net.get(id).get(N, 'ep', 't1')?.status, 'live', `${id} has heard nothing yet`)
    net.clearEvents(id)
  }
  // x stays a live cluster member; only anti-entropy of the cluster scope runs
  const n = syncUntil(net, () => holdsScopesOf(net, 'a', 'x') && holdsScopesOf(net, 'b', 'x'))
  t.true(n >= 0, 'anti-entropy brings x\'s scopes record')
  t.false(N in x.stats().entries, 'x forgot N')
  for (const id of ['a', 'b']) {
    const me = net.get(id)
    for (const key of ['t1', 't2']) {
      const e = me.get(N, 'ep', key)
      t.is(e?.status, 'deleted', `${id}: ${key}`)
      t.true(e?.deleted)
      t.is(e?.value, undefined)
    }
    t.deepEqual(me.entries(N), [], `${id}: no entry of x in N`)
    t.deepEqual(me.scopeMembers(N).sort(), ['a', 'b'])
    // the records themselves stay (digests agree; x's tombstones or a rewrite replace them)
    t.deepEqual(me.records(net.now, N).map((w) => [w[1], w[2], w[5]]), [['t1', 'x', 0], ['t2', 'x', 0]])
    t.deepEqual(xEvents(net, id).sort(), [['t1', 'deleted', 'live'], ['t2', 'deleted', 'live']], `${id}: one deleted event per entry`)
  }
  // more rounds, gossip, and a membership change of x change nothing more
  for (const id of ['a', 'b']) net.clearEvents(id)
  for (let i = 0; i < 3; i++) {
    net.gossip(1 << 20)
    net.tick(SYNC_MS)
  }
  t.deepEqual(xEvents(net, 'a'), [])
  t.deepEqual(xEvents(net, 'b'), [])
  t.is(net.get('a').get(N, 'ep', 't1')?.status, 'deleted')
})

test('leave, every tombstone lost, rejoin after the process grace: new entries live, old ones tombstoned everywhere, also where the leave was never seen', (t) => {
  const net = setup(3)
  const x = net.get('x')
  const a = net.get('a')
  const b = net.get('b')
  // x's process is older than its adoption grace
  net.now = OWN_ADOPT_GRACE_MS + 5000
  // b is cut off while x leaves and rejoins: it never sees x's leave record
  for (const o of ['a', 'x']) {
    net.cut.add(`b>${o}`)
    net.cut.add(`${o}>b`)
  }
  x.leaveScope(net.now, N)
  loseAll(net, 'x')
  t.true(syncUntil(net, () => holdsScopesOf(net, 'a', 'x')) >= 0)
  t.false(N in x.stats().entries, 'x forgot N')
  t.is(a.get(N, 'ep', 't1')?.status, 'deleted', 'a hides x\'s entries from before its leave')
  t.is(b.get(N, 'ep', 't1')?.status, 'live', 'b does not know x left')
  // x rejoins, writes a new key and rewrites an old one
  x.joinScope(net.now, N)
  x.set(net.now, N, 'ep', 't3', { ip: '10.1.0.7' })
  x.set(net.now, N, 'ep', 't2', { ip: '10.1.0.8' })
  net.gossip(1 << 20)
  t.deepEqual(a.get(N, 'ep', 't2')?.value, { ip: '10.1.0.8' })
  t.deepEqual(a.get(N, 'ep', 't3')?.value, { ip: '10.1.0.7' })
  net.cut.clear()
  const rounds = syncUntil(net, () => ['a', 'b', 'x'].every((id) => {
    const w = net.get(id).records(net.now, N).find((e) => e[1] === 't1')
    return w !== undefined && w[2] === 'x' && w[5] === 1
  }) && JSON.stringify(a.records(net.now, N).map((w) => w.slice(0, 6))) === JSON.stringify(b.records(net.now, N).map((w) => w.slice(0, 6))), 10)
  t.true(rounds >= 0, 'x tombstoned t1 (adopted on its rejoin sync) and every replica has the tombstone')
  // x's first periodic sync after its rejoin is due 1/2 to 3/2 intervals after it (staggered), so up to a round later
  // than one interval; waiting for an adoption grace from the rejoin would take 5 rounds
  t.true(rounds <= 3, `the process is past its adoption grace: x tombstones what it adopted at its next tick (${rounds} rounds)`)
  for (const id of ['a', 'b', 'x']) {
    const me = net.get(id)
    t.is(me.get(N, 'ep', 't1')?.status, 'deleted', `${id}: t1`)
    t.deepEqual(me.get(N, 'ep', 't2')?.value, { ip: '10.1.0.8' }, `${id}: t2 rewritten`)
    t.is(me.get(N, 'ep', 't2')?.status, 'live')
    t.is(me.get(N, 'ep', 't3')?.status, 'live', `${id}: t3`)
    t.deepEqual(me.entries(N, 'ep').map((e) => e.key).sort(), id === 'x' ? ['t2', 't3'] : ['t2', 't3'])
  }
  // a hid t1, showed it again when x's rejoin record listed N (until x's adoption tombstoned it: the accepted
  // flap, see the tables README), then deleted it: each change once
  t.deepEqual(xEvents(net, 'a').filter(([k]) => k === 't1'),
    [['t1', 'live', undefined], ['t1', 'deleted', 'live'], ['t1', 'live', 'deleted'], ['t1', 'deleted', 'live']])
  // b never saw a scopes record of x without N, and saw t1 go exactly once
  const bScopes = (net.events.get('b') ?? []).filter((e) => e.entry.table === 'scopes' && e.entry.key === 'x')
  t.true(bScopes.length > 0 && bScopes.every((e) => Array.isArray(e.entry.value) && (e.entry.value as string[]).includes(N)))
  t.deepEqual(xEvents(net, 'b').filter(([k]) => k === 't1'), [['t1', 'live', undefined], ['t1', 'deleted', 'live']])
})

test('an entry that arrives before its origin\'s join record stays live; only entries older than a leave record are hidden', (t) => {
  const net = new Net(['a', 'x'], 3, { syncIntervalMs: SYNC_MS, tombstoneTtlMs: HOUR })
  const a = net.get('a')
  const x = net.get('x')
  for (const id of net.ids()) net.get(id).tick(0, net.ids())
  for (const id of net.ids()) net.get(id).joinScope(0, N)
  flood(net)
  x.set(0, N, 'ep', 'old', { ip: '10.1.0.5' })
  flood(net)
  x.leaveScope(10, N)
  loseAll(net, 'x')
  t.true(syncUntil(net, () => holdsScopesOf(net, 'a', 'x')) >= 0)
  t.is(a.get(N, 'ep', 'old')?.status, 'deleted')
  // x rejoins and writes; a gets the entry before the join record
  x.joinScope(net.now, N)
  x.set(net.now, N, 'ep', 'new', { ip: '10.1.0.9' })
  const msgs = x.broadcastsFor('a', 1 << 20, 2)
  t.true(msgs.some((m) => m.scope === C) && msgs.some((m) => m.scope === N))
  net.clearEvents('a')
  net.deliver('x', 'a', msgs.filter((m) => m.scope === N))
  t.is(a.get(N, 'ep', 'new')?.status, 'live', 'newer than the leave record a holds')
  t.deepEqual(a.get(N, 'ep', 'new')?.value, { ip: '10.1.0.9' })
  t.is(a.get(N, 'ep', 'old')?.status, 'deleted', 'older than it')
  t.deepEqual(a.entries(N).map((e) => e.key), ['new'])
  t.deepEqual(xEvents(net, 'a'), [['new', 'live', undefined]])
  // the join record arriving later changes nothing for the new entry
  net.deliver('x', 'a', msgs.filter((m) => m.scope === C))
  t.is(a.get(N, 'ep', 'new')?.status, 'live')
  t.deepEqual(xEvents(net, 'a').filter(([k]) => k === 'new'), [['new', 'live', undefined]])
  // a node that holds no scopes record of x at all keeps x's entries live
  const c: Tables = new Net(['c'], 4).get('c')
  c.joinScope(net.now, N)
  c.handle(net.now, 'x', { scope: N, entries: x.records(net.now, N) })
  t.is(c.get(N, 'ep', 'new')?.status, 'live')
})

// Known gap (see the tables README): an earlier life's join record that reached no peer before a restart
// without state is lost with the process, and its entries written after that join stay live at peers.
// With 4% restarts per step instead of 1.5% this generator hits that in about 1 of 400 seeds.
test('random leaves, rejoins and restarts without state under lossy gossip: replicas converge and no live entry of a node outside the scope survives (40 seeds)', (t) => {
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5']
  const B: ScopeName = 'network:blue'
  let hiddenSeeds = 0
  let lostLeaves = 0
  let restarts = 0
  for (let seed = 1; seed <= 40; seed++) {
    const r = createSeededRng(seed + 7000)
    const net = new Net(ids, seed, { syncIntervalMs: SYNC_MS, tombstoneTtlMs: HOUR })
    for (const id of ids) net.get(id).tick(0, ids)
    for (const id of ids) net.get(id).joinScope(0, B)
    flood(net)
    const pool: Array<{ from: NodeId, to: NodeId, msgs: TablesMsg[] }> = []
    let lastRestart = 0
    for (let step = 0; step < 160; step++) {
      net.now += int(r, 250)
      const id = pick(r, ids)
      let node = net.get(id)
      if (r.next() < 0.015) {
        // the process restarts with no state (clock, entries) and is in no network
        node = createTables({ self: id, rng: createSeededRng(seed * 1000 + step), syncIntervalMs: SYNC_MS, tombstoneTtlMs: HOUR })
        net.nodes.set(id, node)
        node.tick(net.now, ids)
        lastRestart = net.now
        restarts++
      }
      const joined = node.scopes().includes(B)
      const x = r.next()
      if (x < 0.08) {
        if (joined) {
          node.leaveScope(net.now, B)
          if (r.next() < 0.5) {
            loseAll(net, id)
            lostLeaves++
          }
        } else {
          node.joinScope(net.now, B)
        }
      } else if (joined && x < 0.3) {
        node.delete(net.now, B, 'ep', `k${int(r, 12)}`)
      } else if (joined) {
        node.set(net.now, B, 'ep', `k${int(r, 12)}`, { by: id, step })
      }
      const to = pick(r, ids.filter((y) => y !== id))
      pool.push({ from: id, to, msgs: node.broadcastsFor(to, 1400, ids.length) })
      while (pool.length > 0 && r.next() < 0.6) {
        const item = pool.splice(int(r, pool.length), 1)[0] as { from: NodeId, to: NodeId, msgs: TablesMsg[] }
        if (r.next() < 0.4) continue // lost
        net.deliver(item.from, item.to, item.msgs)
      }
      if (step % 15 === 0) {
        // an anti-entropy round where some exchanges are lost
        for (const p of ids) for (const q of ids) if (p !== q && r.next() < 0.4) net.cut.add(`${p}>${q}`)
        net.tick(int(r, 200))
        net.cut.clear()
      }
    }
    // heal: gossip and anti-entropy without loss
    const joined = (): NodeId[] => ids.filter((id) => net.get(id).scopes().includes(B))
    const state = (id: NodeId, scope: ScopeName): string => JSON.stringify(net.get(id).records(net.now, scope).map((w) => w[5] === 1 ? w.slice(0, 6) : w))
    const same = (xs: NodeId[], scope: ScopeName): boolean => xs.every((id) => state(id, scope) === state(xs[0] as NodeId, scope))
    let n = 0
    while (!(same(ids, C) && same(joined(), B) && net.now > lastRestart + OWN_ADOPT_GRACE_MS)) {
      if (++n > 40) {
        t.fail(`seed ${seed}: not converged after 40 rounds`)
        return
      }
      net.gossip(1 << 20)
      net.tick(SYNC_MS)
    }
    // a couple more rounds: whatever adoption tombstoned has gone out
    for (let i = 0; i < 3; i++) {
      net.gossip(1 << 20)
      net.tick(SYNC_MS)
    }
    if (!(same(ids, C) && same(joined(), B))) {
      t.fail(`seed ${seed}: diverged again`)
      return
    }
    let hidden = false
    for (const id of joined()) {
      const me = net.get(id)
      const lists = (o: NodeId): boolean => {
        const v = me.get(C, 'scopes', o)?.value
        return Array.isArray(v) && (v as unknown[]).includes(B)
      }
      for (const e of me.entries(B)) {
        if (!lists(e.origin)) {
          t.fail(`seed ${seed}: ${id} shows ${e.key} of ${e.origin} ${e.status}, but ${e.origin} is not in ${B}`)
          return
        }
      }
      for (const w of me.records(net.now, B)) if (w[5] === 0 && !lists(w[2])) hidden = true
    }
    if (hidden) hiddenSeeds++
  }
  t.log(`seeds with hidden entries of a leaver at the end: ${hiddenSeeds} of 40; leaves with all tombstones lost: ${lostLeaves}; restarts: ${restarts}`)
  t.true(hiddenSeeds >= 5, `the generator left entries of leavers without tombstones in ${hiddenSeeds} seeds`)
})

test('leaving the last network scope writes an empty scopes list, so peers still hide the lost-tombstone entries after the tombstone ttl', (t) => {
  const net = setup(5)
  const x = net.get('x')
  const a = net.get('a')
  x.leaveScope(net.now, N)
  loseAll(net, 'x')
  const rec = x.get(C, 'scopes', 'x')
  t.is(rec?.status, 'live')
  t.deepEqual(rec?.value, [])
  t.true(syncUntil(net, () => holdsScopesOf(net, 'a', 'x') && holdsScopesOf(net, 'b', 'x')) >= 0)
  t.is(a.get(N, 'ep', 't1')?.status, 'deleted')
  t.deepEqual(a.scopeMembers(N).sort(), ['a', 'b'])
  net.clearEvents('a')
  net.tick(HOUR + 1)
  for (let i = 0; i < 3; i++) net.tick(SYNC_MS)
  t.deepEqual(a.get(C, 'scopes', 'x')?.value, [])
  t.is(a.get(N, 'ep', 't1')?.status, 'deleted')
  t.deepEqual(a.entries(N), [])
  t.deepEqual(xEvents(net, 'a'), [])
})

test('a node restarted without its state that joins no network: its earlier life\'s entries there end hidden everywhere, also after the tombstone ttl', (t) => {
  const net = setup(6)
  const a = net.get('a')
  // x restarts with an empty data dir and, having no tasks, joins no network
  const fresh = createTables({ self: 'x', rng: createSeededRng(77), syncIntervalMs: SYNC_MS, tombstoneTtlMs: HOUR })
  net.nodes.set('x', fresh)
  net.now = 1000
  fresh.tick(net.now, net.ids())
  t.true(syncUntil(net, () => fresh.get(C, 'scopes', 'x') !== undefined) >= 0, 'x learns its earlier life\'s scopes record')
  t.is(a.get(N, 'ep', 't1')?.status, 'live', 'kept during the restart grace')
  t.true(syncUntil(net, () => ['a', 'b'].every((id) => net.get(id).get(N, 'ep', 't1')?.status === 'deleted')) >= 0)
  t.true(net.now >= 1000 + OWN_ADOPT_GRACE_MS)
  t.deepEqual(fresh.get(C, 'scopes', 'x')?.value, [], 'the adopted record is replaced by what this life is in: nothing')
  t.deepEqual(xEvents(net, 'a').filter(([, s]) => s === 'deleted').map(([k]) => k).sort(), ['t1', 't2'])
  net.tick(HOUR + 1)
  for (let i = 0; i < 3; i++) net.tick(SYNC_MS)
  t.is(a.get(N, 'ep', 't1')?.status, 'deleted')
  t.deepEqual(a.entries(N), [])
})

test('entries hidden by a scope leave stay deleted when their origin dies, comes back or is reaped: no events for them', (t) => {
  const net = setup(7)
  const x = net.get('x')
  const a = net.get('a')
  x.set(net.now, C, 'nodes', 'x', { addr: '10.0.0.9' })
  x.leaveScope(net.now, N)
  loseAll(net, 'x')
  t.true(syncUntil(net, () => holdsScopesOf(net, 'a', 'x') && a.get(C, 'nodes', 'x') !== undefined) >= 0)
  t.is(a.get(N, 'ep', 't1')?.status, 'deleted')
  net.clearEvents('a')
  a.memberChanged(net.now, member('x', 'dead', net.now))
  t.is(a.get(N, 'ep', 't1')?.status, 'deleted', 'not suspended')
  t.is(a.get(C, 'nodes', 'x')?.status, 'suspended')
  t.deepEqual(xEvents(net, 'a'), [])
  a.memberChanged(net.now + 1, member('x', 'alive', net.now + 1))
  t.is(a.get(N, 'ep', 't1')?.status, 'deleted')
  t.deepEqual(xEvents(net, 'a'), [])
  a.memberChanged(net.now + 2, member('x', 'dead', net.now + 2))
  a.tick(net.now + 2 + 24 * HOUR, ['a', 'b'])
  t.is(a.get(N, 'ep', 't1'), undefined, 'reaped with its origin')
  t.is(a.get(C, 'nodes', 'x'), undefined)
  t.deepEqual(xEvents(net, 'a'), [])
  t.true((net.events.get('a') ?? []).some((e) => e.entry.key === 'x' && e.entry.table === 'nodes' && e.entry.status === 'deleted'))
})

test('a restarted process that joins a network and leaves it before any sync there still ends with its earlier life\'s entries hidden', (t) => {
  const net = setup(8)
  const a = net.get('a')
  // the earlier life wrote a lot in N: its entries there are far above anything in the cluster scope
  for (let i = 0; i < 20; i++) net.get('x').set(0, N, 'ep', 't1', { ip: '10.1.0.5', gen: i })
  flood(net)
  const old = a.get(N, 'ep', 't1')
  t.true((old?.lamport ?? 0) > 20)
  const fresh = createTables({ self: 'x', rng: createSeededRng(78), syncIntervalMs: SYNC_MS, tombstoneTtlMs: HOUR })
  net.nodes.set('x', fresh)
  net.now = 1000
  fresh.tick(net.now, net.ids())
  // restored a task, which went away at once: joined, wrote, tombstoned, left, all before a sync of N
  fresh.joinScope(net.now, N)
  fresh.set(net.now, N, 'ep', 't9', { ip: '10.1.0.9' })
  fresh.delete(net.now, N, 'ep', 't9')
  fresh.leaveScope(net.now, N)
  t.true((fresh.get(C, 'scopes', 'x')?.lamport ?? Infinity) < (old?.lamport ?? 0), 'its scopes record starts below its old entries')
  const n = syncUntil(net, () => ['a', 'b'].every((id) => net.get(id).get(N, 'ep', 't1')?.status === 'deleted' && net.get(id).get(N, 'ep', 't2')?.status === 'deleted'))
  t.true(n >= 0, 'peers hide x\'s entries of its earlier life')
  t.deepEqual(fresh.get(C, 'scopes', 'x')?.value, [])
  t.true((fresh.get(C, 'scopes', 'x')?.lamport ?? 0) > (old?.lamport ?? Infinity), 'written above them')
  t.deepEqual(a.entries(N), [])
})
