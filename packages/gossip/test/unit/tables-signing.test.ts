import test from 'ava'
import { pack, unpack } from 'msgpackr'
import { entryBytes, entryHeader, valuePart } from '../../src/sign/entry.js'
import { createKeyDirectory, type KeyDirectory, type Keyring, NotManagerError } from '../../src/sign/keyring.js'
import {
  type AuthorityPolicy, createTables, NotOwnerError, type SyncResponse, type Tables, type TablesMsg, validateSyncRequest,
  validateSyncResponse, validateTablesMsg, type WireEntry
} from '../../src/tables/index.js'
import type { NodeId, ScopeName } from '../../src/types.js'
import { createSeededRng } from '../../src/rng.js'
import { member, wire } from '../support/tables-harness.js'

const NET: ScopeName = 'network:n1'

/** The agent's shape of policy: networks by managers, endpoints keyed `<node>/<task>`, anything else by anyone. */
const policy: AuthorityPolicy = (scope, table, key) => {
  if (scope === 'cluster' && table === 'networks') return { kind: 'manager' }
  if (table === 'endpoints') {
    const slash = key.indexOf('/')
    return slash > 0 ? { kind: 'node', node: key.slice(0, slash) } : { kind: 'refused', reason: 'endpoint key without a node' }
  }
  return { kind: 'any' }
}

/** A keyring that counts signature checks. */
function counting (k: Keyring): Keyring & { verifies: number } {
  const c = {
    ...k,
    verifies: 0,
    verify (id: NodeId, data: Uint8Array, sig: Uint8Array) { c.verifies++; return k.verify(id, data, sig) },
    verifyManager (data: Uint8Array, sig: Uint8Array) { c.verifies++; return k.verifyManager(data, sig) }
  }
  return c
}

interface Node { id: NodeId, t: Tables, kr: Keyring & { verifies: number } }

function nodes (dir: KeyDirectory, ids: NodeId[], managers: NodeId[] = []): Map<NodeId, Node> {
  const out = new Map<NodeId, Node>()
  let i = 1
  for (const id of ids) {
    const kr = counting(dir.add(id, { manager: managers.includes(id) }))
    out.set(id, { id, kr, t: createTables({ self: id, rng: createSeededRng(i++), keyring: kr, authority: policy }) })
  }
  const now = 1000
  for (const n of out.values()) {
    for (const o of out.values()) if (o.id !== n.id) n.t.memberChanged(now, member(o.id, 'alive', 0))
  }
  return out
}

function get (m: Map<NodeId, Node>, id: NodeId): Node {
  return m.get(id) as Node
}

/** All queued broadcasts of `from`, delivered to `to` through the wire encoding and validator. */
function gossip (from: Node, to: Node, now: number): void {
  for (const m of from.t.broadcastsFor(to.id, 1 << 20, 3)) to.t.handle(now, from.id, wire(m, validateTablesMsg))
}

/** One sync exchange where `a` asks `b` (through the wire), `edit` may tamper with the response. */
function sync (a: Node, b: Node, scope: ScopeName, now: number, edit?: (res: SyncResponse) => void): SyncResponse {
  const req = wire({ scope, digest: digestOf(a.t, scope, now) }, validateSyncRequest)
  const res = wire(b.t.handleSyncRequest(now, a.id, req), validateSyncResponse)
  edit?.(res)
  a.t.handleSyncResponse(now, b.id, res)
  return res
}

function digestOf (t: Tables, scope: ScopeName, now: number): number[] {
  const plan = t.tick(now, []).syncs.find((s) => s.req.scope === scope)
  if (plan !== undefined) return plan.req.digest
  // no peers in the plan: ask for everything
  return []
}

/** A raw table message as an attacker holding the cluster PSK and its own valid node key would send. */
function forged (scope: ScopeName, entries: WireEntry[]): TablesMsg {
  return wire({ scope, entries }, validateTablesMsg)
}

function sign (kr: Keyring, scope: ScopeName, w: WireEntry, manager = false): WireEntry {
  const deleted = w[5] === 1
  const bytes = entryBytes(entryHeader(scope, w[0], w[1], w[2], w[3], w[4], deleted), valuePart(deleted, w[6]))
  return [...w.slice(0, 7), manager ? kr.signManager(bytes) : kr.sign(bytes)] as unknown as WireEntry
}

function joinAll (m: Map<NodeId, Node>, scope: ScopeName, now: number): void {
  for (const n of m.values()) n.t.joinScope(now, scope)
  // scope announcements (signed scopes records) reach everyone
  for (const a of m.values()) for (const b of m.values()) if (a !== b) gossip(a, b, now)
}

/** Nodes A, B, C (no manager) in network scope NET. */
function trio (): [Node, Node, Node] {
  const m = nodes(createKeyDirectory(), ['A', 'B', 'C'])
  joinAll(m, NET, 1000)
  return [get(m, 'A'), get(m, 'B'), get(m, 'C')]
}

test('a task entry under an invented origin, or under another node\'s ID signed by the attacker, is refused and counted', (t) => {
  const [, b, attacker] = trio()
  // invented origin X (no key): a signature by C does not make it X's
  const ghost = sign(attacker.kr, NET, ['endpoints', 'X/t1', 'X', 50, 1, 0, { ip: '10.0.0.9', weight: 1000 }])
  // B's key, C's signature
  const asB = sign(attacker.kr, NET, ['endpoints', 'B/t9', 'B', 51, 1, 0, { ip: '10.0.0.9', weight: 1000 }])
  // no signature at all
  const bare: WireEntry = ['endpoints', 'C/t2', 'C', 52, 1, 0, { ip: '10.0.0.9' }]
  b.t.handle(2000, 'C', forged(NET, [ghost, asB, bare]))
  t.deepEqual(b.t.entries(NET, 'endpoints'), [])
  t.is(b.t.stats().dropped['unknown-origin'], 1)
  t.is(b.t.stats().dropped['bad-signature'], 1)
  t.is(b.t.stats().dropped.unsigned, 1)
  // refused entries are not relayed
  t.deepEqual(b.t.broadcastsFor('A', 1 << 20, 3).flatMap((x) => x.entries).filter((w) => w[0] === 'endpoints'), [])
})

test('a key pair made up for the purpose signs validly, but its entries are refused until membership knows the node', (t) => {
  const dir = createKeyDirectory()
  const [a] = trio()
  const fresh = dir.add('F')
  const w = sign(fresh, NET, ['endpoints', 'F/t1', 'F', 20, 1, 0, { ip: '10.0.0.66', weight: 1000 }])
  a.t.handle(2000, 'F', forged(NET, [w]))
  t.is(a.t.get(NET, 'endpoints', 'F/t1'), undefined)
  t.is(a.t.stats().dropped['unknown-origin'], 1)
  // once F is a member (it joined, or anti-entropy offers its entries again after it did), they are taken;
  // and they go with F: suspended when it dies, reaped later
  const known = createTables({ self: 'A2', rng: createSeededRng(5), keyring: dir.add('A2'), authority: policy })
  known.joinScope(2100, NET)
  known.memberChanged(2100, member('F', 'alive', 0))
  known.handle(2100, 'F', forged(NET, [w]))
  t.is(known.get(NET, 'endpoints', 'F/t1')?.status, 'live')
  known.memberChanged(2200, member('F', 'dead', 2200))
  t.is(known.get(NET, 'endpoints', 'F/t1')?.status, 'suspended')
})

test('a tombstone of node B\'s task signed by C under C\'s own ID is refused: C does not own the key', (t) => {
  const [a, b, c] = trio()
  b.t.set(1100, NET, 'endpoints', 'B/web.1', { ip: '10.0.0.2' })
  gossip(b, a, 1100)
  t.is(a.t.entries(NET, 'endpoints').length, 1)
  const tomb = sign(c.kr, NET, ['endpoints', 'B/web.1', 'C', 10_000, 5, 1, 0])
  a.t.handle(1200, 'C', forged(NET, [tomb]))
  t.is(a.t.entries(NET, 'endpoints').length, 1, 'B\'s endpoint survives')
  t.is(a.t.stats().dropped['not-owner'], 1)
  // and C cannot write it locally either
  t.throws(() => { c.t.delete(1300, NET, 'endpoints', 'B/web.1') }, { instanceOf: NotOwnerError })
  t.throws(() => { c.t.set(1300, NET, 'endpoints', 'B/web.2', {}) }, { instanceOf: NotOwnerError })
})

test('network entries need the manager key: a worker\'s (valid node signature) is refused, a worker cannot write one, a manager\'s passes and relays', (t) => {
  const dir = createKeyDirectory()
  const m = nodes(dir, ['M', 'W', 'X'], ['M'])
  const [mgr, worker, x] = [get(m, 'M'), get(m, 'W'), get(m, 'X')]
  t.throws(() => worker.t.set(1000, 'cluster', 'networks', 'net1', { name: 'front' }), { instanceOf: NotManagerError })
  const fake = sign(worker.kr, 'cluster', ['networks', 'net1', 'W', 5, 1, 0, { name: 'evil' }])
  x.t.handle(1000, 'W', forged('cluster', [fake]))
  t.is(x.t.get('cluster', 'networks', 'net1'), undefined)
  t.is(x.t.stats().dropped['not-manager'], 1)
  // a deletion of the manager's network by the worker: refused as well
  mgr.t.set(1000, 'cluster', 'networks', 'net1', { name: 'front' })
  gossip(mgr, worker, 1000)
  gossip(worker, x, 1000) // relayed by the worker, with the manager's signature
  t.deepEqual(x.t.get<{ name: string }>('cluster', 'networks', 'net1')?.value, { name: 'front' })
  const del = sign(worker.kr, 'cluster', ['networks', 'net1', 'W', 1000, 9, 1, 0])
  x.t.handle(1100, 'W', forged('cluster', [del]))
  t.is(x.t.get('cluster', 'networks', 'net1')?.deleted, false)
})

test('a signed Lamport bomb is refused and replication goes on', (t) => {
  const [a, b, c] = trio()
  const bomb = sign(c.kr, NET, ['endpoints', 'C/x', 'C', 2 ** 48 - 1, 1, 0, { ip: '10.0.0.3' }])
  b.t.handle(2000, 'C', forged(NET, [bomb]))
  t.is(b.t.stats().dropped['lamport-jump'], 1)
  a.t.set(2100, NET, 'endpoints', 'A/web.1', { ip: '10.0.0.1', v: 1 })
  gossip(a, b, 2100)
  a.t.set(2200, NET, 'endpoints', 'A/web.1', { ip: '10.0.0.1', v: 2 })
  gossip(a, b, 2200)
  t.deepEqual(b.t.get<{ v: number }>(NET, 'endpoints', 'A/web.1')?.value?.v, 2)
})

test('signatures survive relaying and anti-entropy through a third node', (t) => {
  const [a, b, c] = trio()
  // values naming their origin: B stores them pointing at its shared copy of 'A' (tables/names.ts), and relays them verifiable
  a.t.set(1100, NET, 'endpoints', 'A/web.1', { ip: '10.0.0.1', node: 'A' })
  a.t.set(1100, NET, 'endpoints', 'A/web.2', { ip: '10.0.0.2', node: 'A' })
  gossip(a, b, 1100)
  // C never hears A: by B's broadcasts for one key, by a sync with B for the rest
  const msgs = b.t.broadcastsFor('C', 1 << 20, 3)
  const one = msgs.map((msg) => ({ ...msg, entries: msg.entries.filter((w) => w[1] !== 'A/web.2') }))
  for (const msg of one) c.t.handle(1200, 'B', wire(msg, validateTablesMsg))
  t.is(c.t.entries(NET, 'endpoints').length, 1)
  sync(c, b, NET, 1300)
  t.deepEqual(c.t.entries(NET, 'endpoints').map((e) => e.key).sort(), ['A/web.1', 'A/web.2'])
  t.false('bad-signature' in c.t.stats().dropped)
})

test('a large sync is checked by the origin\'s certificate: one signature, not one per entry; a tampered entry is refused with its leaf, which a later sync brings intact', (t) => {
  const [a, b, c] = trio()
  for (let i = 0; i < 2000; i++) a.t.set(1100, NET, 'endpoints', `A/t${i}`, { ip: `10.0.${i >> 8}.${i & 255}` })
  b.kr.verifies = 0
  let rounds = 0
  while (b.t.entries(NET, 'endpoints').length < 2000 && rounds++ < 20) sync(b, a, NET, 2000 + rounds)
  t.is(b.t.entries(NET, 'endpoints').length, 2000)
  t.true(b.kr.verifies < 50, `${b.kr.verifies} signature checks for 2000 entries`)
  // C syncs from B (not the origin): B passes A's certificate on
  c.kr.verifies = 0
  let tampered = 0
  sync(c, b, NET, 3000, (res) => {
    t.true((res.certs?.length ?? 0) > 0, 'B forwards A\'s certificate')
    const i = res.entries.findIndex((w) => w[5] === 0)
    const w = res.entries[i] as WireEntry
    res.entries[i] = [w[0], w[1], w[2], w[3], w[4], 0, { ip: '6.6.6.6' }, w[7]] as WireEntry
    tampered = i
  })
  // its leaf no longer hashes to the certified value, and its entries came without their own signatures: all refused
  t.true((c.t.stats().dropped.unsigned ?? 0) >= 1, 'the tampered entry (and its leaf) is refused')
  t.true(c.kr.verifies < 200, `${c.kr.verifies} checks`)
  t.true(tampered >= 0)
  rounds = 0
  while (c.t.entries(NET, 'endpoints').length < 2000 && rounds++ < 20) sync(c, b, NET, 3100 + rounds)
  t.is(c.t.entries(NET, 'endpoints').length, 2000)
  t.false(c.t.entries<{ ip: string }>(NET, 'endpoints').some((e) => e.value?.ip === '6.6.6.6'))
})

test('a certificate signed by someone else than its origin is refused, and the entries it was to cover with it; an honest answer brings them', (t) => {
  const [a, b, c] = trio()
  for (let i = 0; i < 100; i++) a.t.set(1100, NET, 'endpoints', `A/t${i}`, { i })
  sync(b, a, NET, 2000, (res) => {
    const cert = res.certs?.[0]
    if (cert === undefined) throw new Error('no certificate')
    cert[4] = c.kr.sign(new Uint8Array([1]))
  })
  t.is(b.t.stats().dropped['bad-cert'], 1)
  t.is(b.t.entries(NET, 'endpoints').length, 0)
  t.is(b.t.stats().dropped.unsigned, 100)
  sync(b, a, NET, 2100)
  t.is(b.t.entries(NET, 'endpoints').length, 100)
})

test('a restarted node (same key, no state) keeps its authority over its keys', (t) => {
  const dir = createKeyDirectory()
  const m = nodes(dir, ['A', 'B'])
  joinAll(m, NET, 1000)
  const [a, b] = [get(m, 'A'), get(m, 'B')]
  a.t.set(1100, NET, 'endpoints', 'A/web.1', { v: 1 })
  gossip(a, b, 1100)
  // A restarts without state: same keyring, a fresh Tables
  const a2: Node = { id: 'A', kr: a.kr, t: createTables({ self: 'A', rng: createSeededRng(9), keyring: a.kr, authority: policy }) }
  a2.t.memberChanged(2000, member('B', 'alive', 0))
  a2.t.joinScope(2000, NET)
  sync(a2, b, 'cluster', 2000)
  a2.t.set(2000, NET, 'endpoints', 'A/web.1', { v: 2 })
  // the earlier life's entry comes back by sync: A re-asserts above it if it is newer
  sync(a2, b, NET, 2100)
  gossip(a2, b, 2200)
  t.deepEqual(b.t.get<{ v: number }>(NET, 'endpoints', 'A/web.1')?.value, { v: 2 })
  t.false('bad-signature' in b.t.stats().dropped)
})

test('unsigned tables still interoperate with each other (benchmarks), and their entries are refused by signed ones', (t) => {
  const u1 = createTables({ self: 'U1', rng: createSeededRng(1) })
  const dir = createKeyDirectory()
  const s = createTables({ self: 'S', rng: createSeededRng(2), keyring: dir.add('S') })
  u1.set(1000, 'cluster', 'things', 'k', { a: 1 })
  s.memberChanged(1000, member('U1', 'alive', 0))
  for (const msg of u1.broadcastsFor('S', 1 << 20, 2)) s.handle(1000, 'U1', wire(msg, validateTablesMsg))
  t.is(s.get('cluster', 'things', 'k'), undefined)
  t.true((s.stats().dropped.unsigned ?? 0) >= 1)
  // the signature slot round-trips through msgpack as a Uint8Array
  const w = createTables({ self: 'S2', rng: createSeededRng(3), keyring: dir.add('S2') })
  w.set(1000, 'cluster', 'things', 'k', { a: 1 })
  const back = unpack(pack(w.records(1000, 'cluster').find((x) => x[0] === 'things'))) as WireEntry
  t.true(back[7] instanceof Uint8Array)
})

test('a stored signature or certificate keeps no received frame alive: they are copied out of the frame they came in (a view of it kept the whole frame)', (t) => {
  const [a, b, c] = trio()
  const frames = new Set<ArrayBufferLike>()
  /** Through the wire as the transport hands frames over: each its own buffer, which decoded byte strings are views of. */
  const framed = <T>(x: T, validate: (x: unknown) => T | string): T => {
    const frame = new Uint8Array(pack(x))
    frames.add(frame.buffer)
    const v = validate(unpack(frame))
    if (typeof v === 'string') throw new Error(v)
    return v
  }
  for (let i = 0; i < 40; i++) a.t.set(1100, NET, 'endpoints', `A/t${i}`, { ip: `10.0.0.${i}` })
  for (const m of a.t.broadcastsFor('B', 1400, 3)) b.t.handle(1100, 'A', framed(m, validateTablesMsg))
  const relayed = b.t.broadcastsFor('C', 1 << 20, 3).flatMap((m) => m.entries).filter((w) => w[0] === 'endpoints')
  t.true(relayed.length > 0)
  for (const w of relayed) {
    const sig = w[7] as Uint8Array
    t.is(sig.byteLength, 64)
    t.false(frames.has(sig.buffer), 'a relayed signature is not a view of the frame it came in')
  }
  // by sync: B keeps A's certificate, which it passes on to C
  for (let i = 40; i < 200; i++) a.t.set(1200, NET, 'endpoints', `A/t${i}`, { ip: `10.0.1.${i}` })
  const req = framed({ scope: NET, digest: [] }, validateSyncRequest)
  b.t.handleSyncResponse(1300, 'A', framed(a.t.handleSyncRequest(1300, 'B', req), validateSyncResponse))
  const res = b.t.handleSyncRequest(1400, 'C', { scope: NET, digest: [] })
  const cert = res.certs?.find((x) => x[0] === 'A')
  t.not(cert, undefined, 'B passes on A\'s certificate')
  t.false(frames.has(cert?.[3].buffer as ArrayBufferLike), 'its leaf hashes are not a view of the frame')
  t.false(frames.has(cert?.[4].buffer as ArrayBufferLike), 'nor its signature')
  void c
})

test('a node handed back its own scopes record checks its signature only if it lists a scope the node is not in (an earlier life\'s, to probe)', (t) => {
  const [a] = trio()
  a.t.joinScope(1100, 'network:n2')
  const own = a.t.records(1200, 'cluster').filter((w) => w[0] === 'scopes' && w[1] === 'A')
  t.is(own.length, 1)
  a.kr.verifies = 0
  // a peer relays or answers with A's current record, which lists only scopes A holds: nothing to probe, no check
  a.t.handle(1300, 'B', wire({ scope: 'cluster', entries: own }, validateTablesMsg))
  t.is(a.kr.verifies, 0)
  // an older record (an earlier life's) listing a scope A is not in: worth probing, so checked first
  const earlier = sign(a.kr, 'cluster', ['scopes', 'A', 'A', 1, 1, 0, [NET, 'network:n3']] as unknown as WireEntry)
  a.t.handle(1400, 'B', wire({ scope: 'cluster', entries: [earlier] }, validateTablesMsg))
  t.is(a.kr.verifies, 1)
})
