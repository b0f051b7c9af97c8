import { DIGEST_LEAVES } from './constants.js'
import { type Lanes, leafOf, versionHash } from './hash.js'
import { TimeHeap } from './heap.js'
import { compositeKey, type Rec } from './record.js'

const scratch: Lanes = { a: 0, b: 0 }

/** Fields of a version written into a record. */
export interface Version {
  value: unknown
  origin: string
  lamport: number
  seq: number
  deleted: boolean
  deadAt: number
}

/**
 * Records of one scope, bucketed by digest leaf, with the leaf digests kept
 * incrementally (XOR in on insert, XOR out on replace/remove), so a digest
 * costs O(DIGEST_LEAVES), never O(entries).
 */
export class ScopeStore {
  private readonly leaves: Array<Map<string, Rec> | undefined> = new Array<Map<string, Rec> | undefined>(DIGEST_LEAVES)
  /** Digest lanes: [h1, h2] per leaf. */
  readonly lanes = new Int32Array(2 * DIGEST_LEAVES)
  /** Tombstones by expiry time (deadAt + ttl); stale items are skipped on pop. */
  readonly tombstones = new TimeHeap<Rec>()
  count = 0

  get (table: string, key: string): Rec | undefined {
    return this.leaves[leafOf(table, key, DIGEST_LEAVES)]?.get(compositeKey(table, key))
  }

  /** Records of one leaf (empty iterable if none). */
  leaf (leaf: number): ReadonlyMap<string, Rec> | undefined {
    return this.leaves[leaf]
  }

  /** Every record. */
  * all (): Generator<Rec> {
    for (const m of this.leaves) {
      if (m !== undefined) yield * m.values()
    }
  }

  /** Insert a new record for (table, key) with version v. */
  insert (table: string, key: string, v: Version): Rec {
    const leaf = leafOf(table, key, DIGEST_LEAVES)
    const rec: Rec = {
      table, key, ck: compositeKey(table, key), leaf,
      value: v.value, origin: v.origin, lamport: v.lamport, seq: v.seq, deleted: v.deleted, deadAt: v.deadAt,
      h1: 0, h2: 0, size: 0, q: -1
    }
    this.rehash(rec)
    this.xor(rec)
    let m = this.leaves[leaf]
    if (m === undefined) {
      m = new Map()
      this.leaves[leaf] = m
    }
    m.set(rec.ck, rec)
    this.count++
    return rec
  }

  /** Replace the version of an existing record in place. */
  update (rec: Rec, v: Version): void {
    this.xor(rec)
    rec.value = v.value
    rec.origin = v.origin
    rec.lamport = v.lamport
    rec.seq = v.seq
    rec.deleted = v.deleted
    rec.deadAt = v.deadAt
    rec.size = 0
    this.rehash(rec)
    this.xor(rec)
  }

  /** Remove a record (no-op if it is not the stored one). */
  remove (rec: Rec): boolean {
    const m = this.leaves[rec.leaf]
    if (m === undefined || m.get(rec.ck) !== rec) return false
    this.xor(rec)
    m.delete(rec.ck)
    if (m.size === 0) this.leaves[rec.leaf] = undefined
    this.count--
    return true
  }

  /** Holds this exact record object. */
  holds (rec: Rec): boolean {
    return this.leaves[rec.leaf]?.get(rec.ck) === rec
  }

  /** Sparse digest: [leaf, h1, h2]* for non-zero leaves, increasing. */
  digest (): number[] {
    const out: number[] = []
    const l = this.lanes
    for (let i = 0; i < DIGEST_LEAVES; i++) {
      const a = l[2 * i] as number
      const b = l[2 * i + 1] as number
      if (a !== 0 || b !== 0) out.push(i, a, b)
    }
    return out
  }

  private rehash (rec: Rec): void {
    versionHash(rec.table, rec.key, rec.origin, rec.lamport, rec.seq, rec.deleted, scratch)
    rec.h1 = scratch.a
    rec.h2 = scratch.b
  }

  private xor (rec: Rec): void {
    this.lanes[2 * rec.leaf] ^= rec.h1
    this.lanes[2 * rec.leaf + 1] ^= rec.h2
  }
}
