import test from 'ava'
import { pack, unpack } from 'msgpackr'
import { createTables, type Tables, type TablesMsg, validateTablesMsg } from '../../src/tables/index.js'
import { createSeededRng } from '../../src/rng.js'
import { Net } from '../support/tables-harness.js'

const C = 'cluster'

/** Send to `peer` until nothing is left; count how often each key went out. */
function drainCounts (t: Tables, peer: string, clusterSize: number, budget = 1 << 20): Map<string, number> {
  const counts = new Map<string, number>()
  for (let i = 0; i < 1000; i++) {
    const msgs = t.broadcastsFor(peer, budget, clusterSize)
    if (msgs.length === 0) break
    for (const m of msgs) for (const e of m.entries) counts.set(`${m.scope}/${e[1]}`, (counts.get(`${m.scope}/${e[1]}`) ?? 0) + 1)
  }
  return counts
}

test('each queued entry is sent retransmitMult * ceil(log10(n + 1)) times, then no more', (t) => {
  for (const [n, want] of [[1, 4], [9, 4], [10, 8], [99, 8], [1000, 16]] as const) {
    const tb = createTables({ self: 'a', rng: createSeededRng(1) })
    tb.set(0, C, 't', 'k', 1)
    t.is(drainCounts(tb, 'b', n).get('cluster/k'), want, `cluster of ${n}`)
  }
  const tb = createTables({ self: 'a', rng: createSeededRng(1), retransmitMult: 2 })
  tb.set(0, C, 't', 'k', 1)
  t.is(drainCounts(tb, 'b', 1000).get('cluster/k'), 8)
})

test('a newer write of a key replaces the queued older one and starts its transmits afresh', (t) => {
  const tb = createTables({ self: 'a', rng: createSeededRng(2) })
  tb.set(0, C, 't', 'k', 'old')
  for (let i = 0; i < 3; i++) tb.broadcastsFor('b', 1 << 20, 10)
  tb.set(0, C, 't', 'k', 'new')
  const sent: unknown[] = []
  for (let i = 0; i < 50; i++) {
    for (const m of tb.broadcastsFor('b', 1 << 20, 10)) for (const e of m.entries) sent.push(e[6])
  }
  t.deepEqual(sent, Array(8).fill('new'))
})

test('packets stay within the byte budget, fewest-sent entries first', (t) => {
  const tb = createTables({ self: 'node-a', rng: createSeededRng(3) })
  for (let i = 0; i < 100; i++) tb.set(0, C, 'ep', `key-${i}`, { ip: `10.0.0.${i}`, pad: 'p'.repeat(i) })
  const budget = 1400
  let packets = 0
  const seen = new Set<string>()
  let urgentSent = false
  for (;;) {
    const msgs = tb.broadcastsFor('b', budget, 10)
    if (msgs.length === 0) break
    packets++
    t.true(pack(msgs).length <= budget, `packet ${packets}: ${pack(msgs).length} bytes`)
    for (const m of msgs) for (const e of m.entries) seen.add(e[1])
    if (seen.size === 100 && !urgentSent) {
      urgentSent = true
      // a fresh write jumps ahead of entries that were already sent
      tb.set(0, C, 'ep', 'urgent', 1)
      const next = tb.broadcastsFor('b', budget, 10)
      t.is(next[0]?.entries[0]?.[1], 'urgent')
    }
  }
  t.true(urgentSent)
  t.true(packets > 10)
  // a budget too small for any entry yields nothing and loses nothing
  tb.set(0, C, 'ep', 'k', 'x'.repeat(500))
  t.deepEqual(tb.broadcastsFor('b', 200, 10), [])
  t.is(tb.broadcastsFor('b', 2000, 10)[0]?.entries[0]?.[1], 'k')
})

/** Nodes a, b, c; a and b in network:n1, and every node knows it. */
function aAndBInN1 (seed: number): { net: Net, a: Tables } {
  const net = new Net(['a', 'b', 'c'], seed)
  const a = net.get('a')
  a.joinScope(0, 'network:n1')
  net.get('b').joinScope(0, 'network:n1')
  for (let i = 0; i < 2; i++) net.gossip(1 << 20)
  return { net, a }
}

test('network-scope entries go only to members of that scope; cluster entries go to everyone', (t) => {
  const { net, a } = aAndBInN1(4)
  a.set(0, 'network:n1', 'ep', 'e1', 1)
  a.set(0, C, 'nodes', 'a', 1)
  const toC = a.broadcastsFor('c', 1 << 20, 3)
  t.deepEqual(toC.map((m: TablesMsg) => m.scope), [C])
  const toB = a.broadcastsFor('b', 1 << 20, 3)
  t.deepEqual(toB.map((m: TablesMsg) => m.scope).sort(), [C, 'network:n1'])
  // a non-member that gets a network message anyway ignores it
  net.deliver('a', 'c', toB)
  t.is(net.get('c').get('network:n1', 'ep', 'e1'), undefined)
  net.deliver('a', 'b', toB)
  t.is(net.get('b').get('network:n1', 'ep', 'e1')?.value, 1)
})

test('a packet to a member of a network scope carries that scope\'s entries even behind a cluster backlog', (t) => {
  const { net, a } = aAndBInN1(9)
  // a backlog of cluster entries, far more than one packet holds, then one network write
  for (let i = 0; i < 200; i++) a.set(0, C, 'claims', `k${i}`, { pad: 'x'.repeat(60), i })
  a.set(0, 'network:n1', 'ep', 'e1', { ip: '10.0.0.1' })
  const budget = 1400
  const toB = a.broadcastsFor('b', budget, 3)
  t.true(pack(toB).length <= budget)
  t.deepEqual(toB.find((m) => m.scope === 'network:n1')?.entries.map((e) => e[1]), ['e1'])
  // the cluster backlog still gets the rest of the packet
  t.true((toB.find((m) => m.scope === C)?.entries.length ?? 0) >= 5)
  // a non-member's packet is all cluster entries
  t.deepEqual(a.broadcastsFor('c', budget, 3).map((m) => m.scope), [C])
  // with the cluster queue empty a network backlog may fill the whole packet, and with both busy it gets at
  // least half: what the cluster scope leaves goes back to it
  const x = net.get('b')
  for (let i = 0; i < 200; i++) x.set(0, 'network:n1', 'ep', `n${i}`, { pad: 'y'.repeat(60), i })
  while (x.broadcastsFor('c', 1 << 20, 3).length > 0);
  const full = x.broadcastsFor('a', budget, 3)
  t.deepEqual(full.map((m) => m.scope), ['network:n1'])
  t.true(pack(full).length > budget * 0.8)
  x.set(0, C, 'claims', 'one', 1)
  const both = x.broadcastsFor('a', budget, 3)
  t.deepEqual(both.map((m) => m.scope), ['network:n1', C])
  t.true(pack(both).length > budget * 0.8, 'the cluster scope\'s one entry leaves the rest of the packet to the network')
})

test('relayed entries are bounded per scope queue (the most-sent and oldest are dropped); own entries never are', (t) => {
  const x = createTables({ self: 'x', rng: createSeededRng(10) })
  const a = createTables({ self: 'a', rng: createSeededRng(11), maxRelayedBroadcasts: 50 })
  for (let i = 0; i < 300; i++) x.set(0, C, 'claims', `k${i}`, i)
  // a learns x's 300 entries by gossip, a few packets at a time, sending between them
  const relayed = new Map<string, number>()
  const drainTo = (peer: string): void => {
    for (const m of a.broadcastsFor(peer, 1400, 1000)) for (const e of m.entries) relayed.set(e[1], (relayed.get(e[1]) ?? 0) + 1)
  }
  for (;;) {
    const msgs = x.broadcastsFor('a', 1400, 1000)
    if (msgs.length === 0) break
    for (const m of msgs) a.handle(0, 'x', m)
    drainTo('b')
  }
  for (let i = 0; i < 2000; i++) drainTo('b')
  t.is(a.get(C, 'claims', 'k0')?.value, 0, 'everything learned is stored')
  const total = [...relayed.values()].reduce((p, c) => p + c, 0)
  // without the bound: 300 entries x 16 transmits
  t.true(total < 300 * 16 / 2, `${total} transmits`)
  t.true([...relayed.values()].every((c) => c <= 16))
  t.is([...relayed.values()].filter((c) => c === 16).length, 50, 'as many as the bound went out in full')
  t.true(a.stats().broadcastsPruned > 0)
  // own writes are all sent in full, whatever the bound
  for (let i = 0; i < 300; i++) a.set(0, C, 'own', `o${i}`, i)
  relayed.clear()
  for (let i = 0; i < 2000; i++) drainTo('b')
  t.is(relayed.size, 300)
  t.true([...relayed.values()].every((c) => c === 16))
})

test('an origin\'s unsent writes go in the order it made them (a network before the service on it)', (t) => {
  const tb = createTables({ self: 'a', rng: createSeededRng(12) })
  for (let i = 0; i < 300; i++) tb.set(0, C, 'ep', `w${i}`, { pad: 'z'.repeat(40), i })
  const sent: string[] = []
  for (let round = 0; round < 40 && sent.length < 300; round++) {
    for (const m of tb.broadcastsFor('b', 1400, 10)) for (const e of m.entries) if (!sent.includes(e[1])) sent.push(e[1])
  }
  t.deepEqual(sent, Array.from({ length: 300 }, (_, i) => `w${i}`))
})

test('entries learned by gossip are relayed; entries learned by a sync answer are not', (t) => {
  const net = new Net(['a', 'b', 'c'], 5)
  net.get('a').set(0, C, 't', 'gossiped', 1)
  net.deliver('a', 'b', net.get('a').broadcastsFor('b', 1 << 20, 3))
  t.deepEqual(net.get('b').broadcastsFor('c', 1 << 20, 3)[0]?.entries.map((e) => e[1]), ['gossiped'])
  net.get('a').set(0, C, 't', 'synced', 1)
  const req = net.get('c').tick(0, ['a', 'b', 'c']).syncs.find((s) => s.to === 'a')?.req ?? { scope: C, digest: [] }
  net.sync('c', 'a', req)
  t.is(net.get('c').get(C, 't', 'synced')?.value, 1)
  t.deepEqual(net.get('c').broadcastsFor('b', 1 << 20, 3), [])
})

test('pendingScopes names the network scopes with queued broadcasts', (t) => {
  const tb = createTables({ self: 'a', rng: createSeededRng(6) })
  tb.joinScope(0, 'network:n1')
  tb.joinScope(0, 'network:n2')
  tb.set(0, 'network:n2', 'ep', 'x', 1)
  t.deepEqual(tb.pendingScopes(), ['network:n2'])
})

test('a value is copied on write: mutating the caller\'s object later changes nothing', (t) => {
  const tb = createTables({ self: 'a', rng: createSeededRng(7) })
  const v = { ip: '10.0.0.1', ports: [80] }
  tb.set(0, C, 'ep', 'x', v)
  v.ports.push(443)
  v.ip = 'changed'
  t.deepEqual(tb.get(C, 'ep', 'x')?.value, { ip: '10.0.0.1', ports: [80] })
  t.deepEqual(tb.broadcastsFor('b', 1 << 20, 2)[0]?.entries[0]?.[6], { ip: '10.0.0.1', ports: [80] })
})

test('a huge budget still yields messages a peer accepts (entry count capped)', (t) => {
  const tb = createTables({ self: 'a', rng: createSeededRng(8) })
  for (let i = 0; i < 1500; i++) tb.set(0, C, 'ep', `k${i}`, i)
  const msgs = tb.broadcastsFor('b', 1 << 24, 2)
  t.is(msgs.length, 1)
  t.is(msgs[0]?.entries.length, 1024)
  t.deepEqual(validateTablesMsg(unpack(pack(msgs[0]))), msgs[0])
  t.is(tb.broadcastsFor('b', 1 << 24, 2)[0]?.entries.length, 1024, 'the rest and the first again, fewest-sent first')
})
