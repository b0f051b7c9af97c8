import { DIGEST_LEAVES } from './constants.js'
import { type Lanes, leafOf, versionHash } from './hash.js'
import { MinHeap } from '../min-heap.js'
import { type Rec, valueTag } from './record.js'

const scratch: Lanes = { a: 0, b: 0 }

/** Fields of a version written into a record. */
export interface Version {
  value: unknown
  origin: string
  lamport: number
  seq: number
  deleted: boolean
  deadAt: number
  /** The owner's signature (undefined in unsigned tables). */
  sig?: Uint8Array | undefined
  /** The value's tag if the caller has it (saves encoding the value again). */
  vt?: number
}

/**
 * Records of one scope: looked up by table then key, and listed per digest
 * leaf (dense arrays, swap-remove). The leaf digests are kept incrementally
 * (XOR in on insert, XOR out on replace/remove), so a digest costs
 * O(DIGEST_LEAVES), never O(entries). About 160 bytes per record.
 */
export class ScopeStore {
  private readonly tables = new Map<string, Map<string, Rec>>()
  private readonly leaves: Array<Rec[] | undefined> = new Array<Rec[] | undefined>(DIGEST_LEAVES)
  /** Digest lanes: [h1, h2] per leaf. */
  readonly lanes = new Int32Array(2 * DIGEST_LEAVES)
  /** Tombstones by expiry time (deadAt + ttl); stale items are skipped on pop. */
  readonly tombstones = new MinHeap<Rec>()
  count = 0

  get (table: string, key: string): Rec | undefined {
    return this.tables.get(table)?.get(key)
  }

  /** Records of one leaf (undefined if none). */
  leaf (leaf: number): readonly Rec[] | undefined {
    return this.leaves[leaf]
  }

  /** Records of one table, or of all tables. */
  * all (table?: string): Generator<Rec> {
    if (table !== undefined) {
      const m = this.tables.get(table)
      if (m !== undefined) yield * m.values()
      return
    }
    for (const m of this.tables.values()) yield * m.values()
  }

  /** Insert a new record for (table, key) with version v. */
  insert (table: string, key: string, v: Version): Rec {
    const leaf = leafOf(table, key, DIGEST_LEAVES)
    let arr = this.leaves[leaf]
    if (arr === undefined) {
      arr = []
      this.leaves[leaf] = arr
    }
    const rec: Rec = {
      table, key, leaf, li: arr.length,
      value: v.value, origin: v.origin, lamport: v.lamport, seq: v.seq, deleted: v.deleted, deadAt: v.deadAt,
      vt: v.deleted ? 0 : (v.vt ?? valueTag(v.value)), size: 0, q: -1, sig: v.sig
    }
    arr.push(rec)
    let m = this.tables.get(table)
    if (m === undefined) {
      m = new Map()
      this.tables.set(table, m)
    }
    m.set(key, rec)
    this.xor(rec)
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
    rec.vt = v.deleted ? 0 : (v.vt ?? valueTag(v.value))
    rec.sig = v.sig
    rec.size = 0
    this.xor(rec)
  }

  /** Remove a record (no-op if it is not the stored one). */
  remove (rec: Rec): boolean {
    const m = this.tables.get(rec.table)
    if (m === undefined || m.get(rec.key) !== rec) return false
    this.xor(rec)
    m.delete(rec.key)
    if (m.size === 0) this.tables.delete(rec.table)
    const arr = this.leaves[rec.leaf] as Rec[]
    const last = arr.pop() as Rec
    if (last !== rec) {
      arr[rec.li] = last
      last.li = rec.li
    }
    if (arr.length === 0) this.leaves[rec.leaf] = undefined
    this.count--
    return true
  }

  /** Holds this exact record object. */
  holds (rec: Rec): boolean {
    return this.tables.get(rec.table)?.get(rec.key) === rec
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

  /** XOR the record's current version hash into (or out of) its leaf. */
  private xor (rec: Rec): void {
    versionHash(rec.table, rec.key, rec.origin, rec.lamport, rec.seq, rec.deleted, rec.vt, scratch)
    this.lanes[2 * rec.leaf] ^= scratch.a
    this.lanes[2 * rec.leaf + 1] ^= scratch.b
  }
}
