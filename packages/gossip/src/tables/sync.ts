import type { NodeId, Rng } from '../types.js'
import { DIGEST_LEAVES, FINE_DIGEST_BUCKETS, FINE_DIGEST_MIN_RECORDS, MAX_ENTRIES_PER_MSG, MAX_SYNC_ENTRIES } from './constants.js'
import { compareRecWire, deadAtOf, type Rec, recSize, toWire } from './record.js'
import { fineBucketOf, type ScopeStore } from './store.js'
import type { SyncRequest, SyncResponse, TablesMsg, WireEntry } from './types.js'

/*
 * Bucketed-digest anti-entropy. Why not per-origin "highest seq": gossip
 * delivers out of order and a later write by another origin can supersede a
 * write you never saw, so a per-origin high-water mark can hide gaps forever.
 * A leaf digest is the XOR of hash(table, key, origin, lamport, seq, deleted)
 * of its records: two replicas with the same records have the same digest, and
 * any difference shows up as a differing leaf, whatever the history.
 */

/** Estimated msgpack bytes of a table message around its entries. */
export function msgOverhead (scope: string): number {
  return 40 + scope.length
}

/**
 * A sparse digest folded into two uint32 lanes (two independent
 * multiply-xorshift mixes over every number). Equal digests give equal
 * hashes; different ones collide with a chance of about 2^-64 (not
 * adversarially: a member could make its digest collide, as it could send
 * a false digest; anti-entropy with other members repairs it).
 */
export function digestHash (digest: readonly number[]): [number, number] {
  let a = 0x9e3779b9 ^ digest.length
  let b = 0x85ebca6b ^ Math.imul(digest.length, 0xc2b2ae35)
  for (let i = 0; i < digest.length; i++) {
    const x = (digest[i] as number) | 0
    a = Math.imul(a ^ x, 0x01000193)
    a ^= a >>> 15
    b = Math.imul(b + x, 0x5bd1e995)
    b ^= b >>> 13
    b = Math.imul(b ^ i, 0x27d4eb2d)
  }
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b)
  a ^= a >>> 13
  b = Math.imul(b ^ (b >>> 16), 0xc2b2ae35)
  b ^= b >>> 16
  return [a >>> 0, b >>> 0]
}

/**
 * A sync request for a scope: the sparse digest of its leaves, or of the
 * fine buckets once the store is big (FINE_DIGEST_MIN_RECORDS), so that the
 * answer carries the entries of differing buckets, not of whole leaves.
 */
export function syncRequest (scope: SyncRequest['scope'], store: ScopeStore): SyncRequest {
  if (store.count >= FINE_DIGEST_MIN_RECORDS) return { scope, digest: store.fineDigest(), fine: true }
  return { scope, digest: store.digest() }
}

/** Units (leaves, or fine buckets) whose digest differs between `mine` (lanes of `units` units) and a peer's sparse digest. */
function differing (mine: Int32Array, units: number, digest: number[]): number[] {
  const theirs = new Int32Array(2 * units)
  for (let i = 0; i < digest.length; i += 3) {
    const u = digest[i] as number
    theirs[2 * u] = digest[i + 1] as number
    theirs[2 * u + 1] = digest[i + 2] as number
  }
  const out: number[] = []
  for (let i = 0; i < units; i++) {
    if (mine[2 * i] !== theirs[2 * i] || mine[2 * i + 1] !== theirs[2 * i + 1]) out.push(i)
  }
  return out
}

/** Leaves whose digest differs between our store and a peer's sparse digest. */
export function differingLeaves (store: ScopeStore, digest: number[]): number[] {
  return differing(store.lanes, DIGEST_LEAVES, digest)
}

/** A leaf's records by fine bucket, made once per leaf for one answer or push-back. */
type BucketCache = Map<number, Map<number, Rec[]>>

/**
 * Records of one unit: a leaf, or (fine, with `cache`) a bucket, which is
 * part of leaf `bucket mod DIGEST_LEAVES` (the leaf's records are split by
 * bucket once, into `cache`).
 */
function unitRecs (store: ScopeStore, unit: number, cache?: BucketCache): readonly Rec[] | undefined {
  if (cache === undefined) return store.leaf(unit)
  const leaf = unit & (DIGEST_LEAVES - 1)
  let byBucket = cache.get(leaf)
  if (byBucket === undefined) {
    byBucket = new Map()
    for (const r of store.leaf(leaf) ?? []) {
      const b = fineBucketOf(r)
      const list = byBucket.get(b)
      if (list === undefined) byBucket.set(b, [r])
      else list.push(r)
    }
    cache.set(leaf, byBucket)
  }
  return byBucket.get(unit)
}

/**
 * Differing fine buckets, each that holds a record without its own signature
 * (learned through a certificate, which covers an origin's entries of a
 * whole leaf) widened to every bucket of its leaf, so the certificate can
 * vouch for them; sorted.
 */
function widenUnsigned (store: ScopeStore, buckets: number[], cache: BucketCache): number[] {
  const out = new Set<number>()
  for (const b of buckets) {
    if (out.has(b)) continue
    const recs = unitRecs(store, b, cache)
    if (recs === undefined || recs.every((r) => r.sig !== undefined)) {
      out.add(b)
      continue
    }
    for (let x = b & (DIGEST_LEAVES - 1); x < FINE_DIGEST_BUCKETS; x += DIGEST_LEAVES) out.add(x)
  }
  return [...out].sort((x, y) => x - y)
}

/** The answer of a node that holds no part of `scope` (it did not join it), or will not answer this peer: nothing. */
export function emptySyncResponse (scope: SyncResponse['scope']): SyncResponse {
  return { scope, member: false, complete: [], entries: [] }
}

/**
 * Answer a digest: our records of differing leaves, whole leaves first (in a
 * rotating order so a big difference is worked off over several rounds),
 * within MAX_SYNC_ENTRIES and `maxBytes` (as `sizeOf` estimates a record). If not even one leaf
 * fits, part of it (from a random position) is sent and no leaf is complete.
 * A fine digest (`fine`) is answered the same way by fine bucket: `complete`
 * then lists buckets, and the response says `fine`; in signed tables
 * (`signed`) a bucket with records held without their signatures goes with
 * its whole leaf (see widenUnsigned).
 */
export function buildSyncResponse (scope: SyncResponse['scope'], store: ScopeStore, digest: number[], now: number, rng: Rng, maxBytes: number, sizeOf: (r: Rec) => number = recSize, fine = false, signed = false): SyncResponse {
  let diff = fine ? differing(store.fineLanes(), FINE_DIGEST_BUCKETS, digest) : differingLeaves(store, digest)
  const cache: BucketCache | undefined = fine ? new Map() : undefined
  if (cache !== undefined && signed) diff = widenUnsigned(store, diff, cache)
  const complete: number[] = []
  const entries: WireEntry[] = []
  let bytes = msgOverhead(scope)
  const start = diff.length > 0 ? Math.floor(rng.next() * diff.length) : 0
  for (let j = 0; j < diff.length; j++) {
    const leaf = diff[(start + j) % diff.length] as number
    const recs = unitRecs(store, leaf, cache)
    let leafBytes = 0
    if (recs !== undefined) {
      for (const r of recs) leafBytes += sizeOf(r)
    }
    const n = recs?.length ?? 0
    if (entries.length + n <= MAX_SYNC_ENTRIES && bytes + leafBytes + 3 <= maxBytes) {
      if (recs !== undefined) {
        for (const r of recs) entries.push(toWire(r, now))
      }
      bytes += leafBytes + 3 // + its index in `complete`
      complete.push(leaf)
      continue
    }
    if (complete.length === 0 && entries.length === 0 && recs !== undefined) {
      // one oversized leaf: send a window of it starting at a random record
      const off = Math.floor(rng.next() * recs.length)
      for (let k = 0; k < recs.length; k++) {
        const r = recs[(off + k) % recs.length] as Rec
        const s = sizeOf(r)
        if (entries.length >= MAX_SYNC_ENTRIES || bytes + s > maxBytes) break
        entries.push(toWire(r, now))
        bytes += s
      }
      break
    }
  }
  complete.sort((a, b) => a - b)
  return fine ? { scope, member: true, complete, entries, fine } : { scope, member: true, complete, entries }
}

/**
 * After merging a response: our records in the responder's complete leaves
 * (or fine buckets) that it lacks or holds older, chunked into messages of at most `maxBytes`.
 * In signed tables (`signed`), records we hold without their own signature
 * (learned through a certificate) are left out: the peer could not check them.
 */
export function pushBack (scope: TablesMsg['scope'], store: ScopeStore, res: SyncResponse, now: number, ttlMs: number, maxBytes: number, signed: boolean): TablesMsg[] {
  if (res.complete.length === 0) return []
  // by table, then key: no composite key string made per entry and per record
  const theirs = new Map<string, Map<string, WireEntry>>()
  for (const w of res.entries) {
    let m = theirs.get(w[0])
    if (m === undefined) theirs.set(w[0], m = new Map())
    m.set(w[1], w)
  }
  const out: TablesMsg[] = []
  let cur: WireEntry[] = []
  const overhead = msgOverhead(scope)
  let bytes = overhead
  const cache: BucketCache | undefined = res.fine === true ? new Map() : undefined
  for (const leaf of res.complete) {
    const recs = unitRecs(store, leaf, cache)
    if (recs === undefined) continue
    for (const r of recs) {
      const w = theirs.get(r.table)?.get(r.key)
      if (w !== undefined && compareRecWire(r, w) <= 0) continue
      if (signed && r.sig === undefined) continue
      // an expired tombstone is useless to a peer that never had the key
      if (w === undefined && r.deleted && now - deadAtOf(r) >= ttlMs) continue
      const s = recSize(r)
      if (cur.length > 0 && (bytes + s > maxBytes || cur.length >= MAX_ENTRIES_PER_MSG)) {
        out.push({ scope, entries: cur })
        cur = []
        bytes = overhead
      }
      cur.push(toWire(r, now))
      bytes += s
    }
  }
  if (cur.length > 0) out.push({ scope, entries: cur })
  return out
}

/** Up to `want` distinct random peers from `pool`, never `self`. */
export function pickPeers (pool: readonly NodeId[], self: NodeId, want: number, rng: Rng): NodeId[] {
  const out: NodeId[] = []
  const n = pool.length
  if (n === 0) return out
  // a few random draws; small pools fall back to a scan so a lone peer is always found
  for (let tries = 0; tries < want * 4 && out.length < want; tries++) {
    const id = pool[Math.floor(rng.next() * n)] as NodeId
    if (id !== self && !out.includes(id)) out.push(id)
  }
  if (out.length < want && n <= 64) {
    for (const id of pool) {
      if (out.length >= want) break
      if (id !== self && !out.includes(id)) out.push(id)
    }
  }
  return out
}
