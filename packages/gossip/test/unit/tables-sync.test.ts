import test from 'ava'
import { pack } from 'msgpackr'
import { createTables, digestHash, type Tables, type TablesMsg } from '../../src/tables/index.js'
import type { NodeId, Rng, ScopeName } from '../../src/types.js'
import { createSeededRng } from '../../src/rng.js'
import { Net } from '../support/tables-harness.js'

const C = 'cluster'
const SYNC_MS = 2000

function int (r: Rng, n: number): number { return Math.floor(r.next() * n) }
function pick<T> (r: Rng, xs: readonly T[]): T { return xs[int(r, xs.length)] as T }

/**
 * Drive the nodes into random divergent states: random writes and deletes at
 * random nodes, their broadcasts delivered to random nodes in random order or
 * lost, concurrent writes with equal lamport times, entries of third-party
 * origins that only some nodes hold. No anti-entropy runs here.
 */
function diverge (net: Net, r: Rng, scope: ScopeName, ops: number): void {
  const ids = net.ids()
  const pool: Array<{ from: NodeId, msgs: TablesMsg[] }> = []
  for (let i = 0; i < ops; i++) {
    net.now += int(r, 50)
    const id = pick(r, ids)
    const node = net.get(id)
    const table = pick(r, ['svc', 'ep'])
    const key = `k${int(r, 40)}`
    const x = r.next()
    if (x < 0.25) {
      node.delete(net.now, scope, table, key)
    } else if (x < 0.35) {
      // a third-party origin (e.g. a node that died) seen by one node only, sometimes tying on lamport
      const lamport = 1 + int(r, 30)
      const entry: TablesMsg['entries'][number] = r.next() < 0.2
        ? [table, key, `ghost${int(r, 3)}`, lamport, lamport, 1, int(r, 1000)]
        : [table, key, `ghost${int(r, 3)}`, lamport, lamport, 0, { g: int(r, 100) }]
      node.handle(net.now, 'ghost', { scope, entries: [entry] })
    } else {
      node.set(net.now, scope, table, key, { v: int(r, 1000), by: id })
    }
    pool.push({ from: id, msgs: node.broadcastsFor(pick(r, ids), 1 << 20, ids.length) })
    while (pool.length > 0 && r.next() < 0.6) {
      const item = pool.splice(int(r, pool.length), 1)[0] as { from: NodeId, msgs: TablesMsg[] }
      if (r.next() < 0.3) continue // lost
      const to = pick(r, ids.filter((y) => y !== item.from))
      net.deliver(item.from, to, item.msgs)
    }
  }
}

/**
 * A replica's records as comparable text. A tombstone's age is left out: it
 * is the local time since the delete and differs by the transit delay.
 */
function state (t: Tables, now: number, scope: ScopeName): string {
  return JSON.stringify(t.records(now, scope).map((w) => w[5] === 1 ? w.slice(0, 6) : w))
}

function identical (net: Net, scope: ScopeName): boolean {
  const [first, ...rest] = net.ids().map((id) => state(net.get(id), net.now, scope))
  return rest.every((x) => x === first)
}

function distinctStates (net: Net, scope: ScopeName): number {
  return new Set(net.ids().map((id) => state(net.get(id), net.now, scope))).size
}

test('two replicas from random divergent states are identical after one sync exchange (300 seeds)', (t) => {
  let diverged = 0
  for (let seed = 1; seed <= 300; seed++) {
    const r = createSeededRng(seed)
    const net = new Net(['a', 'b'], seed, { tombstoneTtlMs: 3_600_000 })
    diverge(net, r, C, 5 + int(r, 60))
    if (!identical(net, C)) diverged++
    const a = net.get('a')
    const { syncs } = a.tick(net.now, ['a', 'b'])
    t.true(syncs.length === 1 && syncs[0]?.to === 'b', `seed ${seed}: a syncs with b`)
    net.sync('a', 'b', syncs[0]!.req)
    if (!identical(net, C)) {
      t.fail(`seed ${seed}: still different after one exchange:\n${JSON.stringify(a.records(net.now, C))}\n${JSON.stringify(net.get('b').records(net.now, C))}`)
      return
    }
  }
  // the generator really produced divergent states
  t.true(diverged > 200, `diverged in ${diverged} of 300 seeds`)
})

test('five replicas from random divergent states converge by anti-entropy alone (100 seeds)', (t) => {
  const rounds: number[] = []
  let diverged = 0
  for (let seed = 1; seed <= 100; seed++) {
    const r = createSeededRng(seed + 10_000)
    const net = new Net(['n1', 'n2', 'n3', 'n4', 'n5'], seed, { tombstoneTtlMs: 3_600_000, syncIntervalMs: SYNC_MS })
    for (const id of net.ids()) net.get(id).joinScope(net.now, 'network:blue')
    // everyone learns everyone's scope entry first, so network-scope peers are known
    for (const id of net.ids()) {
      for (const to of net.ids()) if (to !== id) net.deliver(id, to, net.get(id).broadcastsFor(to, 1 << 20, 5))
    }
    diverge(net, r, 'network:blue', 20 + int(r, 80))
    diverge(net, r, C, 10 + int(r, 40))
    if (distinctStates(net, 'network:blue') > 1) diverged++
    let n = 0
    while (!(identical(net, C) && identical(net, 'network:blue'))) {
      if (++n > 30) {
        t.fail(`seed ${seed}: not converged after 30 sync rounds`)
        return
      }
      net.tick(SYNC_MS)
    }
    rounds.push(n)
  }
  rounds.sort((x, y) => x - y)
  t.log(`sync rounds to converge: p50 ${rounds[50]}, max ${rounds[rounds.length - 1]}`)
  t.true((rounds[rounds.length - 1] as number) <= 12)
  t.true(diverged > 80, `diverged in ${diverged} of 100 seeds`)
})

test('periodic syncs as digest hashes: differing replicas converge through the receiver\'s full sync, agreeing ones exchange nothing', (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const r = createSeededRng(seed)
    const net = new Net(['a', 'b', 'c', 'd'], seed)
    for (const id of net.ids()) net.get(id).joinScope(0, 'network:blue')
    net.tick(0) // join syncs: full, to up to 3 peers
    diverge(net, r, 'network:blue', 20 + int(r, 80))
    diverge(net, r, C, 10 + int(r, 40))
    let n = 0
    while (!(identical(net, C) && identical(net, 'network:blue'))) {
      if (++n > 30) {
        t.fail(`seed ${seed}: not converged after 30 hashed sync rounds`)
        return
      }
      net.tickHashed(SYNC_MS)
    }
    const agreed0 = net.ids().reduce((x, id) => x + net.get(id).stats().syncsAgreed, 0)
    const quiet = net.tickHashed(SYNC_MS)
    const agreed1 = net.ids().reduce((x, id) => x + net.get(id).stats().syncsAgreed, 0)
    t.is(quiet.full, 0, `seed ${seed}: no full sync once replicas agree`)
    t.true(quiet.hashes > 0)
    t.is(agreed1 - agreed0, quiet.hashes, `seed ${seed}: every hash matched`)
  }
})

test('a "differs" answer is taken only from the peer the last hash went to, once', (t) => {
  const net = new Net(['a', 'b', 'c'], 11)
  const a = net.get('a')
  a.set(0, C, 't', 'k', 1)
  t.is(a.handleSyncDiffers(0, 'b', C), undefined, 'no hash sent yet')
  net.tick(0) // join syncs (full)
  const s = a.tick(SYNC_MS, net.ids()).syncs.find((x) => x.periodic === true)
  t.truthy(s)
  const other = s!.to === 'b' ? 'c' : 'b'
  t.is(a.handleSyncDiffers(SYNC_MS, other, C), undefined, 'not the peer the hash went to')
  const plan = a.handleSyncDiffers(SYNC_MS, s!.to, C)
  t.deepEqual(plan, { to: s!.to, req: { scope: C, digest: s!.req.digest } })
  t.is(a.handleSyncDiffers(SYNC_MS, s!.to, C), undefined, 'a repeated answer runs no second sync')
  t.is(a.handleSyncDiffers(SYNC_MS, s!.to, 'network:none'), undefined, 'a scope we are not in')
})

test('the digest hash changes with any lane, leaf or length of the digest', (t) => {
  const d = [3, 17, -5, 200, 0x7fffffff, 1]
  const h = digestHash(d)
  t.deepEqual(digestHash([...d]), h)
  t.true(h.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff))
  for (let i = 0; i < d.length; i++) {
    for (const bit of [0, 7, 31]) {
      const e = [...d]
      e[i] = (e[i] as number) ^ (1 << bit)
      t.notDeepEqual(digestHash(e), h, `bit ${bit} of number ${i}`)
    }
  }
  t.notDeepEqual(digestHash(d.slice(0, 3)), h)
  t.notDeepEqual(digestHash([]), digestHash([0, 0, 0]))
})

test('a large difference is worked off over several rounds within the response size limit', (t) => {
  const net = new Net(['a', 'b'], 7, { maxSyncResponseBytes: 2000, tombstoneTtlMs: 3_600_000 })
  const a = net.get('a')
  for (let i = 0; i < 800; i++) a.set(0, C, 'ep', `key-${i}`, { ip: `10.0.${i >> 8}.${i & 255}`, pad: 'x'.repeat(60) })
  net.get('b').set(0, C, 'ep', 'only-on-b', 1)
  let n = 0
  let largest = 0
  const b = net.get('b')
  while (!identical(net, C)) {
    t.true(++n < 400, 'converges')
    if (n >= 400) return
    net.now += SYNC_MS
    // only b initiates: a must still learn b's entry through the push-back
    const { syncs } = b.tick(net.now, ['a', 'b'])
    for (const s of syncs) {
      const res = net.sync('b', s.to, s.req)
      largest = Math.max(largest, pack(res ?? {}).length)
    }
  }
  t.is(a.get(C, 'ep', 'only-on-b')?.value, 1)
  t.is(b.entries(C, 'ep').length, 801)
  t.true(n > 1, 'needed several rounds')
  t.true(largest < 2000, `responses stay small (${largest})`)
})

test('a sync exchange with no difference sends no entries', (t) => {
  const net = new Net(['a', 'b'], 8)
  for (let i = 0; i < 50; i++) net.get('a').set(0, C, 't', `k${i}`, i)
  net.gossip(1 << 20)
  t.true(identical(net, C))
  const req = net.get('a').tick(SYNC_MS, ['a', 'b']).syncs[0]?.req
  t.truthy(req)
  const res = net.sync('a', 'b', req!)
  t.deepEqual(res?.entries, [])
  t.deepEqual(res?.complete, [])
  t.is(net.get('a').stats().syncs, 1)
})

test('joining a scope syncs with up to 3 peers in the same tick, then one per interval', (t) => {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f']
  const net = new Net(ids, 9, { syncIntervalMs: SYNC_MS })
  for (const id of ids) net.get(id).tick(0, ids) // initial cluster join syncs
  for (const id of ids.slice(1)) {
    net.get(id).joinScope(0, 'network:red')
    net.get(id).set(0, 'network:red', 'ep', id, { ip: id })
  }
  // everyone holds the cluster scope, everyone but a (not joined yet) the network scope
  for (const x of ids) {
    for (const y of ids) {
      if (x === y) continue
      net.get(y).handle(0, x, { scope: C, entries: net.get(x).records(0, C) })
      net.get(y).handle(0, x, { scope: 'network:red', entries: net.get(x).records(0, 'network:red') })
    }
  }
  const a = net.get('a')
  t.deepEqual(a.scopeMembers('network:red').sort(), ['b', 'c', 'd', 'e', 'f'])
  a.joinScope(10, 'network:red')
  const first = a.tick(10, ids).syncs.filter((s) => s.req.scope === 'network:red')
  t.is(first.length, 3)
  t.is(new Set(first.map((s) => s.to)).size, 3)
  t.false(first.some((s) => s.to === 'a'))
  for (const s of first) net.sync('a', s.to, s.req)
  t.is(a.entries('network:red', 'ep').length, 5)
  t.is(a.tick(11, ids).syncs.length, 0)
  // the first periodic sync is due 1/2 to 3/2 intervals after the join sync (staggered), then one per interval
  const next = a.tick(10 + 3 * SYNC_MS / 2, ids).syncs.filter((s) => s.req.scope === 'network:red')
  t.is(next.length, 1)
  t.is(a.tick(10 + 3 * SYNC_MS / 2 + 1, ids).syncs.filter((s) => s.req.scope === 'network:red').length, 0)
})

test('scope membership lives in the cluster table, so anti-entropy repairs a lost announcement', (t) => {
  const net = new Net(['a', 'b', 'c'], 10, { syncIntervalMs: SYNC_MS })
  const a = net.get('a')
  const b = net.get('b')
  a.joinScope(0, 'network:n1')
  b.joinScope(0, 'network:n1')
  // all broadcasts lost
  for (const id of net.ids()) for (const to of net.ids()) net.get(id).broadcastsFor(to, 1 << 20, 3)
  t.deepEqual(a.scopeMembers('network:n1'), ['a'])
  t.deepEqual(b.entries(C, 'scopes').map((e) => e.value), [['network:n1']])
  let n = 0
  while (a.scopeMembers('network:n1').length < 2 || net.get('c').scopeMembers('network:n1').length < 2) {
    t.true(++n < 20)
    if (n >= 20) return
    net.tick(SYNC_MS)
  }
  t.deepEqual(net.get('c').scopeMembers('network:n1').sort(), ['a', 'b'])
  // and with the members known, network entries flow by gossip to scope members only
  b.set(net.now, 'network:n1', 'ep', 'x', 1)
  t.deepEqual(b.broadcastsFor('c', 1 << 20, 3).filter((m) => m.scope !== C), [])
  net.deliver('b', 'a', b.broadcastsFor('a', 1 << 20, 3))
  t.is(a.get('network:n1', 'ep', 'x')?.value, 1)
})

test('a node that has not joined a scope ignores its entries and answers syncs as non-member', (t) => {
  const a = createTables({ self: 'a', rng: createSeededRng(11) })
  a.handle(0, 'b', { scope: 'network:z', entries: [['ep', 'k', 'b', 1, 1, 0, 1]] })
  t.deepEqual(a.entries('network:z'), [])
  const res = a.handleSyncRequest(0, 'b', { scope: 'network:z', digest: [] })
  t.false(res.member)
  const b: Tables = createTables({ self: 'b', rng: createSeededRng(12) })
  b.joinScope(0, 'network:z')
  t.deepEqual(b.handleSyncResponse(0, 'a', res), [])
})

test('lossy gossip plus a partition: after the heal every replica is identical within a few sync rounds (20 seeds)', (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']
  const worst: number[] = []
  let divergedAtHeal = 0
  for (let seed = 1; seed <= 20; seed++) {
    const r = createSeededRng(seed + 500)
    const net = new Net(ids, seed, { syncIntervalMs: SYNC_MS, tombstoneTtlMs: 3_600_000 })
    for (const id of ids) net.get(id).joinScope(0, 'network:x')
    const left = new Set(ids.slice(0, 4))
    for (const a of ids) for (const b of ids) if (left.has(a) !== left.has(b)) net.cut.add(`${a}>${b}`)
    const lossy = (xs: string[]): string[] => xs.filter(() => r.next() > 0.3)
    for (let step = 0; step < 60; step++) {
      const id = pick(r, ids)
      const scope: ScopeName = r.next() < 0.5 ? C : 'network:x'
      if (r.next() < 0.2) net.get(id).delete(net.now, scope, 'ep', `k${int(r, 15)}`)
      else net.get(id).set(net.now, scope, 'ep', `k${int(r, 15)}`, { by: id, step })
      net.gossip(1400, lossy)
      if (step % 10 === 0) net.tick(SYNC_MS)
      else net.now += 200
    }
    net.cut.clear()
    if (!identical(net, C) || !identical(net, 'network:x')) divergedAtHeal++
    let n = 0
    while (!(identical(net, C) && identical(net, 'network:x'))) {
      if (++n > 15) {
        t.fail(`seed ${seed}: not identical 15 rounds after the heal`)
        return
      }
      net.gossip(1400, lossy)
      net.tick(SYNC_MS)
    }
    worst.push(n)
  }
  t.log(`rounds after heal: max ${Math.max(...worst)}`)
  t.true(divergedAtHeal >= 18, `the partition left divergent states in ${divergedAtHeal} of 20 seeds`)
})

test('an origin restarted without state whose new write ties an old one exactly: every replica ends with the new value', (t) => {
  // 'a' writes k=old (lamport 1, seq 1); 'b' learns it. 'a' restarts with no
  // state and writes k=new, which gets the very same version. Without a tie
  // break on the value the two replicas would disagree forever.
  const net = new Net(['a', 'b'], 21)
  net.get('a').set(0, C, 't', 'k', 'old')
  net.gossip(1 << 20)
  t.is(net.get('b').get(C, 't', 'k')?.value, 'old')
  const restarted = createTables({ self: 'a', rng: createSeededRng(99) })
  net.nodes.set('a', restarted)
  const e = restarted.set(net.now, C, 't', 'k', 'new')
  t.is(e.lamport, 1)
  for (let i = 0; i < 6 && !(identical(net, C) && net.get('b').get(C, 't', 'k')?.value === 'new'); i++) {
    net.tick(SYNC_MS)
    net.gossip(1 << 20)
  }
  t.is(net.get('a').get(C, 't', 'k')?.value, 'new')
  t.is(net.get('b').get(C, 't', 'k')?.value, 'new')
  t.true(identical(net, C))
})

test('nodes that join together spread their first periodic syncs over an interval, then sync once per interval', (t) => {
  const ids = Array.from({ length: 40 }, (_, i) => `n${i}`)
  const net = new Net(ids, 12, { syncIntervalMs: SYNC_MS })
  for (const id of ids) t.is(net.get(id).tick(0, ids).syncs.filter((s) => s.periodic !== true).length, 3, 'join syncs at once')
  const first = new Map<NodeId, number>()
  const count = new Map<NodeId, number>()
  let last = 0
  for (let now = 1; now < 4 * SYNC_MS; now += 10) {
    last = now
    for (const id of ids) {
      const n = net.get(id).tick(now, ids).syncs.filter((s) => s.periodic === true).length
      if (n === 0) continue
      if (!first.has(id)) first.set(id, now)
      count.set(id, (count.get(id) ?? 0) + n)
    }
  }
  const at = [...first.values()]
  t.is(at.length, ids.length)
  t.true(at.every((x) => x >= SYNC_MS / 2 && x <= 3 * SYNC_MS / 2 + 10), 'within 1/2 to 3/2 intervals of the join sync')
  t.true(Math.max(...at) - Math.min(...at) >= SYNC_MS / 2, `spread over the interval (${Math.min(...at)}..${Math.max(...at)} ms)`)
  t.true(new Set(at).size >= ids.length / 2, 'not at a few shared instants')
  // the cadence: one per interval after the first
  for (const id of ids) t.is(count.get(id), Math.floor((last - (first.get(id) as number)) / SYNC_MS) + 1, id)
})

test('a node\'s scopes joined at different times run their periodic syncs in the same ticks (one wake-up per interval)', (t) => {
  const N = 'network:blue'
  const ids = ['a', 'b', 'c']
  const net = new Net(ids, 13, { syncIntervalMs: SYNC_MS })
  for (const id of ids) net.get(id).tick(0, ids)
  for (const id of ['b', 'c']) net.get(id).joinScope(0, N)
  net.gossip(1 << 20)
  const a = net.get('a')
  a.joinScope(700, N)
  net.gossip(1 << 20)
  t.is(a.tick(700, ids).syncs.filter((s) => s.req.scope === N && s.periodic !== true).length, 2, 'join sync of N at 700')
  const at = new Map<string, number[]>([[C, []], [N, []]])
  for (let now = 701; now < 701 + 4 * SYNC_MS; now++) {
    for (const s of a.tick(now, ids).syncs) if (s.periodic === true) at.get(s.req.scope)?.push(now)
  }
  const n = at.get(N) as number[]
  t.true(n.length >= 3)
  t.true((n[0] as number) >= 700 + SYNC_MS / 2 && (n[0] as number) < 700 + 3 * SYNC_MS / 2, `first periodic sync of N at ${n[0]}`)
  t.deepEqual(n, (at.get(C) as number[]).filter((x) => x >= (n[0] as number)), 'N syncs in the ticks the cluster scope does')
})
