import test from 'ava'
import { createKeyDirectory } from '../../src/sign/keyring.js'
import { DIGEST_LEAVES, FINE_DIGEST_BUCKETS, FINE_DIGEST_MIN_RECORDS, FINE_RETRY_MS } from '../../src/tables/constants.js'
import {
  createTables, digestHash, type SyncRequest, type Tables, validateSyncRequest, validateSyncResponse, validateTablesMsg
} from '../../src/tables/index.js'
import { ScopeStore } from '../../src/tables/store.js'
import { createSeededRng } from '../../src/rng.js'
import type { NodeId } from '../../src/types.js'
import { member, Net, wire } from '../support/tables-harness.js'

/*
 * The fine digest: a node whose store of a scope is big asks with a digest of
 * FINE_DIGEST_BUCKETS buckets instead of DIGEST_LEAVES leaves, so a peer
 * answers with the entries of the differing buckets, not of whole leaves.
 */

const C = 'cluster'
const SYNC_MS = 2000

/** The request `from` sends `to` once `to` answered its periodic sync's hash with "differs". */
function differsRequest (from: Tables, to: NodeId, now: number): SyncRequest {
  const hashes = from.syncHashesFor(now, to)
  if (!hashes.some((h) => h.scope === C)) throw new Error('no periodic sync due')
  const plan = from.handleSyncDiffers(now, to, C)
  if (plan === undefined) throw new Error('no plan')
  return plan.req
}

function records (t: Tables, now: number): string {
  return JSON.stringify(t.records(now, C).map((w) => w.slice(0, 7)))
}

test('a sync between big replicas that differ in a few entries carries about those entries, not their whole leaves', (t) => {
  const n = 4000
  const net = new Net(['a', 'b'], 11, { syncIntervalMs: SYNC_MS })
  const a = net.get('a')
  const b = net.get('b')
  net.tick(0)
  for (let i = 0; i < n; i++) a.set(0, C, 'ep', `task-${i}`, { ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` })
  // b copies a by anti-entropy (its own store is small: it asks with the leaves' digest)
  for (let i = 0; i < 5 && records(a, 0) !== records(b, 0); i++) net.sync('b', 'a', { scope: C, digest: [] })
  t.is(b.entries(C).length, n)
  // then each writes 20 entries the other does not hear of
  for (let i = 0; i < 20; i++) {
    a.set(1, C, 'ep', `a-new-${i}`, i)
    b.set(1, C, 'ep', `b-new-${i}`, i)
  }
  net.now = 10 * SYNC_MS
  const req = differsRequest(b, 'a', net.now)
  t.true(req.fine, 'a store of FINE_DIGEST_MIN_RECORDS records or more asks with the fine digest')
  t.true(req.digest.length > 3 * DIGEST_LEAVES)
  // what a would answer the leaves' digest of the same store
  const coarse = a.handleSyncRequest(net.now, 'b', { scope: C, digest: b.tick(net.now, ['a', 'b']).syncs[0]?.req.digest ?? [] })
  t.is(coarse.fine, undefined)
  const res = net.sync('b', 'a', req)
  t.true(res?.fine)
  const shipped = res?.entries.length ?? Infinity
  t.true(shipped >= 20)
  t.true(shipped * 4 < coarse.entries.length, `fine answer ${shipped} entries, leaves' answer ${coarse.entries.length}`)
  // one exchange (answer and push-back) leaves both identical
  t.is(records(a, net.now), records(b, net.now))
  t.is(a.entries(C).length, n + 40)
})

test('the fine digest is kept right through inserts, replaces and removes, and folds into the leaves\' digest', (t) => {
  const r = createSeededRng(3)
  const s = new ScopeStore()
  const recs = new Map<string, ReturnType<ScopeStore['insert']>>()
  let lamport = 1
  for (let i = 0; i < 3 * FINE_DIGEST_MIN_RECORDS; i++) {
    const key = `k${Math.floor(r.next() * 2 * FINE_DIGEST_MIN_RECORDS)}`
    const cur = recs.get(key)
    const v = { value: i, origin: 'o', lamport: lamport++, seq: i, deleted: false, deadAt: 0 }
    if (cur === undefined) recs.set(key, s.insert('t', key, v))
    else if (r.next() < 0.3) {
      s.remove(cur)
      recs.delete(key)
    } else recs.set(key, s.replace(cur, v))
    // from the threshold on the store keeps its fine lanes (the first call builds them)
    if (s.count === FINE_DIGEST_MIN_RECORDS) s.fineLanes()
  }
  const kept = s.fineLanes()
  t.is(s.fineLanes(), kept, 'kept, not rebuilt')
  const fresh = new ScopeStore()
  for (const rec of recs.values()) fresh.insert(rec.table, rec.key, { ...rec, deadAt: 0 }, rec)
  t.deepEqual([...kept], [...fresh.fineLanes()])
  const folded = new Int32Array(2 * DIGEST_LEAVES)
  for (let b = 0; b < FINE_DIGEST_BUCKETS; b++) {
    const l = b & (DIGEST_LEAVES - 1)
    folded[2 * l] = (folded[2 * l] as number) ^ (kept[2 * b] as number)
    folded[2 * l + 1] = (folded[2 * l + 1] as number) ^ (kept[2 * b + 1] as number)
  }
  t.deepEqual([...folded], [...s.lanes])
  t.deepEqual(digestHash(s.digest()), digestHash(fresh.digest()))
})

test('fine requests and answers pass validation within the bucket range; a leaves\' digest may not use bucket numbers', (t) => {
  const fine = { scope: C, digest: [0, 1, 2, FINE_DIGEST_BUCKETS - 1, 3, 4], fine: true }
  t.deepEqual(validateSyncRequest(fine), fine)
  t.is(validateSyncRequest({ ...fine, digest: [FINE_DIGEST_BUCKETS, 1, 2] }), 'digest')
  t.is(validateSyncRequest({ scope: C, digest: [DIGEST_LEAVES, 1, 2] }), 'digest')
  t.is(validateSyncRequest({ ...fine, fine: 1 }), 'fine')
  const res = { scope: C, member: true, complete: [5, FINE_DIGEST_BUCKETS - 1], entries: [], fine: true }
  t.deepEqual(validateSyncResponse(res), res)
  t.is(validateSyncResponse({ ...res, fine: undefined }), 'complete')
})

test('signed tables: records a node holds without their signatures (through a certificate) go with their whole leaf in a fine answer, so the asker can take them', (t) => {
  const dir = createKeyDirectory()
  const ids = ['A', 'B', 'C']
  const nodes = new Map(ids.map((id, i) => [id, createTables({ self: id, rng: createSeededRng(i + 1), keyring: dir.add(id), syncIntervalMs: SYNC_MS })]))
  const get = (id: NodeId): Tables => nodes.get(id) as Tables
  for (const x of ids) for (const y of ids) if (x !== y) get(x).memberChanged(0, member(y, 'alive', 0))
  for (const x of ids) get(x).tick(0, ids) // their join syncs (not run: the stores are empty)
  const sync = (from: NodeId, to: NodeId, now: number, req: SyncRequest): void => {
    const res = wire(get(to).handleSyncRequest(now, from, wire(req, validateSyncRequest)), validateSyncResponse)
    for (const m of get(from).handleSyncResponse(now, to, res)) get(to).handle(now, from, wire(m, validateTablesMsg))
  }
  const n = FINE_DIGEST_MIN_RECORDS + 100
  for (let i = 0; i < n; i++) get('A').set(1, C, 'svc', `s${i}`, { port: i })
  // C learns A's entries (through A's certificate: without their own signatures)
  for (let i = 0; i < 3; i++) sync('C', 'A', 2, { scope: C, digest: [] })
  t.is(get('C').entries(C).length, n)
  // A writes 30 more; B, empty, learns all of A's entries the same way
  for (let i = 0; i < 30; i++) get('A').set(3, C, 'svc', `late${i}`, { port: i })
  for (let i = 0; i < 3; i++) sync('B', 'A', 4, { scope: C, digest: [] })
  t.is(get('B').entries(C).length, n + 30)
  // C (a big store: fine digest) learns the 30 from B alone, which holds them without signatures
  const now = 100 * SYNC_MS
  for (let i = 0; i < 3 && get('C').entries(C).length < n + 30; i++) {
    const req = differsRequest(get('C'), 'B', now + i * SYNC_MS)
    t.true(req.fine)
    sync('C', 'B', now + i * SYNC_MS, req)
  }
  t.is(get('C').entries(C).length, n + 30)
  t.is(get('C').stats().dropped['unsigned'] ?? 0, 0)
})

test('a peer that refused a fine-digest request (an older version) is asked with the leaves\' digest, for FINE_RETRY_MS', (t) => {
  const net = new Net(['a', 'b'], 12, { syncIntervalMs: SYNC_MS })
  const b = net.get('b')
  net.tick(0)
  for (let i = 0; i < FINE_DIGEST_MIN_RECORDS + 10; i++) b.set(0, C, 'ep', `task-${i}`, i)
  net.now = 10 * SYNC_MS
  const first = differsRequest(b, 'a', net.now)
  t.true(first.fine, 'a big store asks with the fine digest')
  b.syncFailed(net.now, 'a', first)
  net.now += 10 * SYNC_MS
  const next = differsRequest(b, 'a', net.now)
  t.is(next.fine, undefined, 'after the refusal: the leaves\' digest')
  t.is(next.digest.length <= 3 * DIGEST_LEAVES, true)
  t.is(validateSyncRequest({ scope: C, digest: next.digest }) !== undefined, true)
  b.syncFailed(net.now, 'a', next)
  net.now += FINE_RETRY_MS
  t.true(differsRequest(b, 'a', net.now).fine, 'the fine digest again once FINE_RETRY_MS passed')
})
