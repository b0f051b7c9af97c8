import { DIGEST_LEAVES, FINE_DIGEST_BUCKETS, FINE_DIGEST_MIN_RECORDS } from './constants.js'
import { type Lanes, leafOf, versionHash } from './hash.js'
import { MinHeap } from '../min-heap.js'
import { DenseKeys, type KeyMap, type KeySlots } from './dense-keys.js'
import { type Rec, valueTag } from './record.js'

const scratch: Lanes = { a: 0, b: 0 }

/** Leaves holding records from which a store lists them in an array of DIGEST_LEAVES slots instead of a map. */
const LEAF_MAP_MAX = 48

/**
 * A stored record: 11 fields where the Rec interface reads 13. `leaf` and
 * `li` share one small integer (`li * DIGEST_LEAVES + leaf`), and `deleted`
 * is read from `deadAt` (undefined exactly for a live record): 16 bytes less
 * per record, 1.7 MiB at 110k records (bench:memory).
 */
class StoredRec implements Rec {
  /** `li * DIGEST_LEAVES + leaf`. */
  private loc: number
  readonly deadAt: number | undefined
  readonly vt: number
  size = 0

  constructor (readonly table: string, readonly key: string, leaf: number, li: number,
    readonly value: unknown, readonly origin: string, readonly lamport: number, readonly seq: number,
    deleted: boolean, deadAt: number, vt: number | undefined, readonly sig: Uint8Array | undefined) {
    this.loc = li * DIGEST_LEAVES + leaf
    this.deadAt = deleted ? deadAt : undefined
    this.vt = deleted ? 0 : (vt ?? valueTag(value))
  }

  get leaf (): number { return this.loc % DIGEST_LEAVES }
  get li (): number { return Math.floor(this.loc / DIGEST_LEAVES) }
  set li (i: number) { this.loc = i * DIGEST_LEAVES + this.loc % DIGEST_LEAVES }
  get deleted (): boolean { return this.deadAt !== undefined }
}

function newRec (table: string, key: string, leaf: number, li: number, v: Version): Rec {
  return new StoredRec(table, key, leaf, li, v.value, v.origin, v.lamport, v.seq, v.deleted, v.deadAt, v.vt, v.sig)
}

/** Where `rec` sits in its leaf array: at its hint, else found (a record shared with other stores). */
function indexIn (arr: Rec[], rec: Rec): number {
  return arr[rec.li] === rec ? rec.li : arr.indexOf(rec)
}

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
 * O(DIGEST_LEAVES), never O(entries). About 150 bytes per record it makes;
 * a record shared with other stores costs this one a map entry and a leaf slot.
 */
export class ScopeStore {
  private readonly tables = new Map<string, KeyMap>()
  /**
   * Records per leaf: in a map while few leaves hold records (a network scope
   * of tens of records: ~0.3 KB, where the array of DIGEST_LEAVES slots is 2
   * KB, on each of a node's scopes), in the array from LEAF_MAP_MAX leaves on.
   */
  private leavesMap: Map<number, Rec[]> | undefined = new Map()
  private leaves: Array<Rec[] | undefined> | undefined
  /** Digest lanes: [h1, h2] per leaf. */
  readonly lanes = new Int32Array(2 * DIGEST_LEAVES)
  /** Tombstones by expiry time (deadAt + ttl); stale items are skipped on pop. */
  readonly tombstones = new MinHeap<Rec>()
  count = 0
  /** Fine digest lanes ([h1, h2] per FINE_DIGEST_BUCKETS bucket), kept once the store reached FINE_DIGEST_MIN_RECORDS. */
  private fine: Int32Array | undefined
  /** Records per origin, if counted (network scopes: tens of origins, where the cluster scope has one per member). */
  private readonly perOrigin: Map<string, number> | undefined
  /** Counts summed with other stores' (a node's network scopes), if given. */
  private readonly sum: OriginCounts | undefined

  /**
   * @param countOrigins count records per origin (see {@link mayHold}), also into `countOrigins` if one is given
   * @param dense a table whose records are held in an array by the keys' shared numbers (see DenseKeys)
   */
  constructor (countOrigins: boolean | OriginCounts = false, private readonly dense?: { table: string, keys: KeySlots }) {
    this.perOrigin = countOrigins !== false ? new Map() : undefined
    this.sum = countOrigins instanceof OriginCounts ? countOrigins : undefined
  }

  /** Take this store's records out of the summed counts (the store is dropped). */
  unsum (): void {
    if (this.sum === undefined || this.perOrigin === undefined) return
    for (const [origin, c] of this.perOrigin) this.sum.add(origin, -c)
  }

  /** False only if this store counts origins and holds no record of `origin`. */
  mayHold (origin: string): boolean {
    return this.perOrigin === undefined || this.perOrigin.has(origin)
  }

  get (table: string, key: string): Rec | undefined {
    return this.tables.get(table)?.get(key)
  }

  /** The leaf array of `leaf` (records not listed by the dense table's numbers). */
  private leafArr (leaf: number): Rec[] | undefined {
    return this.leaves !== undefined ? this.leaves[leaf] : this.leavesMap?.get(leaf)
  }

  private setLeafArr (leaf: number, arr: Rec[] | undefined): void {
    const m = this.leavesMap
    if (m === undefined) {
      (this.leaves as Array<Rec[] | undefined>)[leaf] = arr
      return
    }
    if (arr === undefined) m.delete(leaf)
    else m.set(leaf, arr)
    if (m.size < LEAF_MAP_MAX) return
    const leaves = new Array<Rec[] | undefined>(DIGEST_LEAVES)
    for (const [l, a] of m) leaves[l] = a
    this.leaves = leaves
    this.leavesMap = undefined
  }

  /** Records of one leaf (undefined if none): those of the dense table's numbered keys first, then the leaf array's. */
  leaf (leaf: number): readonly Rec[] | undefined {
    const arr = this.leafArr(leaf)
    const d = this.denseKeys
    if (d === undefined) return arr
    const recs = d.leafRecs(leaf, [])
    if (recs.length === 0) return arr
    if (arr !== undefined) for (const r of arr) recs.push(r)
    return recs
  }

  /** The dense table's key map, if it holds records. */
  private get denseKeys (): DenseKeys | undefined {
    const t = this.dense?.table
    return t === undefined ? undefined : this.tables.get(t) as DenseKeys | undefined
  }

  /** True if `rec` is listed by the dense table's shared numbers (no slot in a leaf array). */
  private inDense (rec: Rec): boolean {
    return rec.table === this.dense?.table && this.dense.keys.find(rec.key) !== undefined
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

  /**
   * Insert a record for (table, key): a new one of version `v`, or `shared`
   * (a record of that version held by another store; see RecordShare).
   */
  insert (table: string, key: string, v: Version, shared?: Rec): Rec {
    const leaf = shared?.leaf ?? leafOf(table, key, DIGEST_LEAVES)
    let m = this.tables.get(table)
    if (m === undefined) {
      m = table === this.dense?.table ? new DenseKeys(this.dense.keys) : new Map<string, Rec>()
      this.tables.set(table, m)
    }
    let rec: Rec
    if (m instanceof DenseKeys && m.numbered(key, leaf)) {
      // listed per leaf by the shared numbers (leaf()), not in a leaf array
      rec = shared ?? newRec(table, key, leaf, 0, v)
    } else {
      let arr = this.leafArr(leaf)
      if (arr === undefined) {
        arr = []
        this.setLeafArr(leaf, arr)
      }
      rec = shared ?? newRec(table, key, leaf, arr.length, v)
      arr.push(rec)
    }
    m.set(key, rec)
    this.xor(rec)
    this.count++
    this.countOrigin(rec.origin, 1)
    return rec
  }

  /**
   * Replace the stored record `cur` by a record of version `v` (or by
   * `shared`), in its place: the same key, leaf slot and listing order.
   * Returns the new record; `cur` is no longer held.
   */
  replace (cur: Rec, v: Version, shared?: Rec): Rec {
    const dense = this.inDense(cur)
    const arr = dense ? undefined : this.leafArr(cur.leaf) as Rec[]
    const i = arr === undefined ? 0 : indexIn(arr, cur)
    const rec = shared ?? newRec(cur.table, cur.key, cur.leaf, i, v)
    this.xor(cur)
    if (arr !== undefined) arr[i] = rec
    ;(this.tables.get(cur.table) as KeyMap).set(cur.key, rec)
    this.xor(rec)
    if (rec.origin !== cur.origin) {
      this.countOrigin(cur.origin, -1)
      this.countOrigin(rec.origin, 1)
    }
    return rec
  }

  /** Remove a record (no-op if it is not the stored one). */
  remove (rec: Rec): boolean {
    const m = this.tables.get(rec.table)
    if (m === undefined || m.get(rec.key) !== rec) return false
    this.xor(rec)
    m.delete(rec.key)
    if (m.size === 0) this.tables.delete(rec.table)
    if (!this.inDense(rec)) {
      const arr = this.leafArr(rec.leaf) as Rec[]
      const i = indexIn(arr, rec)
      const last = arr.pop() as Rec
      if (last !== rec) {
        arr[i] = last
        last.li = i
      }
      if (arr.length === 0) this.setLeafArr(rec.leaf, undefined)
    }
    this.count--
    this.countOrigin(rec.origin, -1)
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

  /**
   * Fine digest lanes ([h1, h2] per bucket of FINE_DIGEST_BUCKETS). Kept up
   * to date from the first call on a store of FINE_DIGEST_MIN_RECORDS records
   * or more (32 KiB); a smaller store computes them for the call only.
   */
  fineLanes (): Int32Array {
    if (this.fine !== undefined) return this.fine
    const lanes = new Int32Array(2 * FINE_DIGEST_BUCKETS)
    for (let leaf = 0; leaf < DIGEST_LEAVES; leaf++) {
      for (const rec of this.leaf(leaf) ?? []) xorInto(lanes, rec, fineBucketOf(rec))
    }
    if (this.count >= FINE_DIGEST_MIN_RECORDS) this.fine = lanes
    return lanes
  }

  /** Sparse fine digest: [bucket, h1, h2]* for non-zero buckets, increasing. */
  fineDigest (): number[] {
    const out: number[] = []
    const l = this.fineLanes()
    for (let i = 0; i < FINE_DIGEST_BUCKETS; i++) {
      const a = l[2 * i] as number
      const b = l[2 * i + 1] as number
      if (a !== 0 || b !== 0) out.push(i, a, b)
    }
    return out
  }

  private countOrigin (origin: string, d: number): void {
    const m = this.perOrigin
    if (m === undefined) return
    const c = (m.get(origin) ?? 0) + d
    if (c === 0) m.delete(origin)
    else m.set(origin, c)
    this.sum?.add(origin, d)
  }

  /** XOR the record's current version hash into (or out of) its leaf. */
  private xor (rec: Rec): void {
    versionHash(rec.table, rec.key, rec.origin, rec.lamport, rec.seq, rec.deleted, rec.vt, scratch)
    this.lanes[2 * rec.leaf] ^= scratch.a
    this.lanes[2 * rec.leaf + 1] ^= scratch.b
    const fine = this.fine
    if (fine === undefined) return
    const i = fineBucketOf(rec)
    fine[2 * i] ^= scratch.a
    fine[2 * i + 1] ^= scratch.b
  }
}

/**
 * Records per origin summed over several stores (a node's network scopes): one
 * lookup tells whether any of them holds a record of an origin, where asking
 * each store costs one per scope (a settling cluster asks for every claim).
 */
export class OriginCounts {
  private readonly m = new Map<string, number>()

  /** True if some store counted here holds a record of `origin`. */
  has (origin: string): boolean {
    return this.m.has(origin)
  }

  add (origin: string, d: number): void {
    const c = (this.m.get(origin) ?? 0) + d
    if (c === 0) this.m.delete(origin)
    else this.m.set(origin, c)
  }
}

/** Fine digest bucket of a record (its leaf is this bucket mod DIGEST_LEAVES). */
export function fineBucketOf (rec: Rec): number {
  return leafOf(rec.table, rec.key, FINE_DIGEST_BUCKETS)
}

/** XOR the record's version hash into slot `i` of `lanes`. */
function xorInto (lanes: Int32Array, rec: Rec, i: number): void {
  versionHash(rec.table, rec.key, rec.origin, rec.lamport, rec.seq, rec.deleted, rec.vt, scratch)
  lanes[2 * i] ^= scratch.a
  lanes[2 * i + 1] ^= scratch.b
}
