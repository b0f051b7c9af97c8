import { certBytes, certLeafHash, compareTableKey, entryHeader, LEAF_HASH_BYTES, LeafHasher, type OriginCert, sameBytes, valuePart } from '../sign/entry.js'
import type { Keyring } from '../sign/keyring.js'
import { keptCopy } from './kept-bytes.js'
import type { NodeId, ScopeName } from '../types.js'
import { CERT_BUDGET_BYTES, CERT_MIN_ENTRIES, DIGEST_LEAVES, FINE_DIGEST_BUCKETS, MAX_STORED_CERTS } from './constants.js'
import { leafOf } from './hash.js'
import type { Rec } from './record.js'
import type { ScopeStore } from './store.js'
import type { SyncResponse, WireEntry } from './types.js'

/*
 * Certificates of one scope on one node (see sign/entry.ts for the idea).
 *
 * A certified leaf hash covers each entry's signed bytes, not its signature,
 * so a node that learned entries through a certificate (and so holds them
 * without their own signatures) can prove them to the next node with the
 * same certificate. A responder therefore sends the entries a certificate
 * covers without their signatures (64 bytes each, ~40% of a small entry),
 * except entries of manager keys, which always need the manager's own
 * signature. An entry without a signature that no certificate covers is
 * refused like any unsigned entry, so a node whose holdings of an origin
 * drifted from its certificate cannot prove what it lacks signatures for;
 * others hold them (the origin itself always does), and its next sync that
 * brings a newer certificate repairs that.
 */

/** The identity, version and value of an entry, as a record or a wire entry holds them. */
interface Item { table: string, key: string, origin: NodeId, lamport: number, seq: number, deleted: boolean, value: unknown }

function itemOfWire (w: WireEntry): Item {
  const deleted = w[5] === 1
  return { table: w[0], key: w[1], origin: w[2], lamport: w[3], seq: w[4], deleted, value: deleted ? undefined : w[6] }
}

/** Hash of one origin's items of one leaf (sorted here), and each item's value part, in input order. */
function hashLeaf (scope: ScopeName, items: Item[]): { hash: Uint8Array, parts: Map<Item, Uint8Array> } {
  const sorted = [...items].sort((a, b) => compareTableKey(a.table, a.key, b.table, b.key))
  const h = new LeafHasher()
  const parts = new Map<Item, Uint8Array>()
  for (const x of sorted) {
    const vb = valuePart(x.deleted, x.value)
    parts.set(x, vb)
    h.add(entryHeader(scope, x.table, x.key, x.origin, x.lamport, x.seq, x.deleted), vb)
  }
  return { hash: h.digest(), parts }
}

/**
 * Group a response's entries of its complete leaves (or fine buckets, if
 * `fine`: then a leaf's group may be part of what the responder holds
 * there, and only a certified hash that matches shows it is not) by origin,
 * then by leaf.
 */
function groupByOriginLeaf (entries: readonly WireEntry[], complete: Set<number>, want: (origin: NodeId) => boolean, fine: boolean): Map<NodeId, Map<number, WireEntry[]>> {
  const groups = new Map<NodeId, Map<number, WireEntry[]>>()
  for (const x of entries) {
    const [table, key, origin] = x
    if (!want(origin)) continue
    const unit = leafOf(table, key, fine ? FINE_DIGEST_BUCKETS : DIGEST_LEAVES)
    if (!complete.has(unit)) continue
    const leaf = unit & (DIGEST_LEAVES - 1)
    let byLeaf = groups.get(origin)
    if (byLeaf === undefined) {
      byLeaf = new Map()
      groups.set(origin, byLeaf)
    }
    const list = byLeaf.get(leaf)
    if (list === undefined) byLeaf.set(leaf, [x])
    else list.push(x)
  }
  return groups
}

/** Certificates of one scope: ours (kept up to date lazily) and the newest verified one of each other origin. */
export class ScopeCerts {
  private readonly others = new Map<NodeId, OriginCert>()
  private readonly ownLeafHash = new Map<number, Uint8Array>()
  /** Leaves where our own entries changed since our certificate was made. */
  private readonly ownDirty = new Set<number>()
  private own: OriginCert | undefined

  constructor (
    private readonly scope: ScopeName,
    private readonly self: NodeId,
    private readonly keyring: Keyring,
    /** True for keys whose entries need the manager key's signature. */
    private readonly managerKey: (table: string, key: string) => boolean,
    /**
     * Copy a kept certificate's byte fields (its leaf hashes and signature:
     * views of the sync response's frame, up to 8 MiB, which they would keep
     * alive); the simulator, which decodes no frames, keeps them as they are.
     */
    private readonly copyKept = true
  ) {}

  /** One of our entries changed (written, replaced or reaped) in `leaf`. */
  ownChanged (leaf: number): void {
    this.ownDirty.add(leaf)
  }

  /** Forget a reaped origin's certificate. */
  forget (origin: NodeId): void {
    this.others.delete(origin)
  }

  /** Our certificate, recomputing the leaves our entries changed in; undefined if we have no entries. */
  ownCert (store: ScopeStore, lamport: number): OriginCert | undefined {
    if (this.own !== undefined && this.ownDirty.size === 0) return this.own
    for (const leaf of this.ownDirty) {
      const mine = (store.leaf(leaf) ?? []).filter((r) => r.origin === this.self)
      if (mine.length === 0) this.ownLeafHash.delete(leaf)
      else this.ownLeafHash.set(leaf, hashLeaf(this.scope, mine).hash)
    }
    this.ownDirty.clear()
    const leaves = [...this.ownLeafHash.keys()].sort((a, b) => a - b)
    if (leaves.length === 0) {
      this.own = undefined
      return undefined
    }
    const hashes = new Uint8Array(leaves.length * LEAF_HASH_BYTES)
    leaves.forEach((l, i) => { hashes.set(this.ownLeafHash.get(l) as Uint8Array, i * LEAF_HASH_BYTES) })
    this.own = [this.self, lamport, leaves, hashes, this.keyring.sign(certBytes(this.scope, this.self, lamport, leaves, hashes))]
    return this.own
  }

  /**
   * Attach certificates to a sync response we built from `store`, and strip
   * the signatures of the entries they cover. A certificate goes with an
   * origin that has CERT_MIN_ENTRIES entries in complete leaves, or any
   * entry without a signature there; it covers the leaves where our holdings
   * hash to the certified value (ours always do).
   */
  attach (store: ScopeStore, res: SyncResponse, lamport: number): void {
    const complete = new Set(res.complete)
    const fine = res.fine === true
    const groups = groupByOriginLeaf(res.entries, complete, () => true, fine)
    const certs: OriginCert[] = []
    let bytes = 0
    for (const [origin, byLeaf] of groups) {
      let n = 0
      let unsigned = false
      for (const list of byLeaf.values()) {
        n += list.length
        if (!unsigned) unsigned = list.some((w) => w[7] === undefined)
      }
      if (n < CERT_MIN_ENTRIES && !unsigned) continue
      const cert = origin === this.self ? this.ownCert(store, lamport) : this.others.get(origin)
      if (cert === undefined) continue
      const size = cert[3].byteLength + 3 * cert[2].length + origin.length + 96
      if (bytes + size > CERT_BUDGET_BYTES) break
      bytes += size
      certs.push(cert)
      for (const [leaf, list] of byLeaf) {
        const want = certLeafHash(cert, leaf)
        if (want === undefined) continue
        // our own entries of a leaf hash to our certificate's, unless only some buckets of the leaf go
        if (origin !== this.self || fine) {
          const recs = list.map((w) => store.get(w[0], w[1]) as Rec)
          if (!sameBytes(hashLeaf(this.scope, recs).hash, want)) continue
        }
        for (const w of list) if (w.length === 8 && !this.managerKey(w[0], w[1])) w.pop()
      }
    }
    if (certs.length > 0) res.certs = certs
  }

  /**
   * Entries of a sync response vouched for by their origin's certificate,
   * each with its value part (as hashed): for each certificate that
   * verifies (kept if newer than ours), the origin's entries of each
   * complete leaf whose hash is the certified one. `onBadCert` is told of a
   * certificate whose signature fails.
   */
  certify (res: SyncResponse, onBadCert: (cert: OriginCert) => void): Map<WireEntry, Uint8Array> | undefined {
    if (res.certs === undefined || res.certs.length === 0) return undefined
    const certs = new Map<NodeId, OriginCert>()
    for (const cert of res.certs) {
      const [origin, lamport, leaves, hashes, sig] = cert
      if (origin === this.self || certs.has(origin)) continue
      const known = this.others.get(origin)
      if (known !== undefined && sameBytes(known[4], sig)) {
        certs.set(origin, known)
        continue
      }
      if (!this.keyring.verify(origin, certBytes(this.scope, origin, lamport, leaves, hashes), sig)) {
        onBadCert(cert)
        continue
      }
      certs.set(origin, cert)
      if (known === undefined || known[1] < lamport) {
        if (known === undefined && this.others.size >= MAX_STORED_CERTS) this.others.delete(this.others.keys().next().value as NodeId)
        this.others.set(origin, this.copyKept ? [origin, lamport, leaves, hashes.slice(), keptCopy(sig)] : cert)
      }
    }
    if (certs.size === 0) return undefined
    const groups = groupByOriginLeaf(res.entries, new Set(res.complete), (o) => certs.has(o), res.fine === true)
    const out = new Map<WireEntry, Uint8Array>()
    for (const [origin, byLeaf] of groups) {
      const cert = certs.get(origin) as OriginCert
      for (const [leaf, list] of byLeaf) {
        const want = certLeafHash(cert, leaf)
        if (want === undefined) continue
        const items = list.map(itemOfWire)
        const { hash, parts } = hashLeaf(this.scope, items)
        if (sameBytes(hash, want)) list.forEach((w, i) => { out.set(w, parts.get(items[i] as Item) as Uint8Array) })
      }
    }
    return out
  }
}
