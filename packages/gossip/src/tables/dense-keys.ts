import type { Rec } from './record.js'

const NO_NUMBERS: readonly number[] = []

/**
 * Records of one key that stores refer to by a one-byte index (DenseKeys). A
 * key's records live as long as the process: in the simulator every node holds
 * one of a few versions of each node's claim, and a node's own tombstone of a
 * claim (not shared) takes an entry until the list is full; the stores keep
 * records past it in a map.
 */
const MAX_VERSIONS = 32

/** What a store needs of one table's key -> record map (a Map, or DenseKeys). */
export interface KeyMap {
  get(key: string): Rec | undefined
  set(key: string, rec: Rec): unknown
  delete(key: string): boolean
  readonly size: number
  values(): IterableIterator<Rec>
}

/**
 * Keys interned to small dense numbers, shared by many stores of one process
 * (the simulator's nodes: see RecordShare). Bounded: past `max` keys a key
 * has no number and its stores keep it in a map.
 */
export class KeySlots {
  private readonly map = new Map<string, number>()
  /** Per digest leaf, the numbers of its keys (a key's leaf never changes), in the order they were numbered. */
  private readonly byLeaf: number[][] = []
  /** Per key number, the records stores hold of it (at most MAX_VERSIONS; shared: a store keeps an index into it). */
  private readonly versions: Rec[][] = []

  constructor (private readonly max: number) {}

  /** Numbers of the keys of digest leaf `leaf` (shared: not to be changed). */
  inLeaf (leaf: number): readonly number[] {
    return this.byLeaf[leaf] ?? NO_NUMBERS
  }

  /** The 1-based index of `rec` among the records of key number `s` (added if new), or 0 if that list is full. */
  versionOf (s: number, rec: Rec): number {
    const list = (this.versions[s] ??= [])
    for (let j = list.length - 1; j >= 0; j--) if (list[j] === rec) return j + 1
    if (list.length >= MAX_VERSIONS) return 0
    list.push(rec)
    return list.length
  }

  /** The record of 1-based index `i` of key number `s`. */
  version (s: number, i: number): Rec {
    return (this.versions[s] as Rec[])[i - 1] as Rec
  }

  /** The number of `key` if it has one. */
  find (key: string): number | undefined {
    return this.map.get(key)
  }

  /** The number of `key` (of digest leaf `leaf`), assigned on first use; undefined past the bound. */
  slot (key: string, leaf: number): number | undefined {
    const s = this.map.get(key)
    if (s !== undefined || this.map.size >= this.max) return s
    const n = this.map.size
    this.map.set(key, n)
    ;(this.byLeaf[leaf] ??= []).push(n)
    return n
  }
}

/**
 * One table's records by the key's shared number (KeySlots), for a table
 * whose keys every store holds (the cluster scope's `scopes` table: one
 * record per node, on every node). A store keeps one byte per key number: the
 * index of its record among the records of that key (KeySlots.versionOf),
 * which the stores of one process share (the simulator's nodes share one
 * record per version: RecordShare). So 10,000 simulated nodes holding 10,000
 * claims each keep ~0.1 GB for them (a Map entry, ~46 bytes at 10k keys,
 * made 4.6 GB; a record reference per key 0.8 GB). Keys without a number go
 * in a map. Iterates in key-number order, then the map's. The store lists a
 * numbered key's record per digest leaf from the shared numbers of that leaf
 * (`inLeaf`), not in a leaf array of its own.
 */
export class DenseKeys implements KeyMap {
  /** Per key number: 1-based index of the held record among the key's versions (KeySlots), 0 if none or in `over`. */
  private idx = new Uint8Array(0)
  /** Held records of numbered keys whose version has no index (the key's list was full), by number. */
  private over: Map<number, Rec> | undefined
  private other: Map<string, Rec> | undefined
  private n = 0

  constructor (private readonly keys: KeySlots) {}

  get size (): number {
    return this.n + (this.other?.size ?? 0)
  }

  get (key: string): Rec | undefined {
    const s = this.keys.find(key)
    if (s === undefined) return this.other?.get(key)
    return this.at(s)
  }

  /** The held record of key number `s`. */
  private at (s: number): Rec | undefined {
    const i = s < this.idx.length ? this.idx[s] as number : 0
    if (i !== 0) return this.keys.version(s, i)
    return this.over?.get(s)
  }

  /** True if `key` (of digest leaf `leaf`) has a shared number (assigned now if it can be): its record lives in the array. */
  numbered (key: string, leaf: number): boolean {
    return this.keys.slot(key, leaf) !== undefined
  }

  /** The held records of the numbered keys of digest leaf `leaf`, in number order (appended to `out`). */
  leafRecs (leaf: number, out: Rec[]): Rec[] {
    for (const s of this.keys.inLeaf(leaf)) {
      const r = this.at(s)
      if (r !== undefined) out.push(r)
    }
    return out
  }

  set (key: string, rec: Rec): this {
    const s = this.keys.slot(key, rec.leaf)
    if (s === undefined) {
      (this.other ??= new Map()).set(key, rec)
      return this
    }
    if (s >= this.idx.length) {
      const grown = new Uint8Array(Math.max(s + 1, Math.ceil(this.idx.length * 1.5)))
      grown.set(this.idx)
      this.idx = grown
    }
    if (this.at(s) === undefined) this.n++
    const i = this.keys.versionOf(s, rec)
    this.idx[s] = i
    if (i !== 0) this.over?.delete(s)
    else (this.over ??= new Map()).set(s, rec)
    return this
  }

  delete (key: string): boolean {
    const s = this.keys.find(key)
    if (s === undefined) return this.other?.delete(key) ?? false
    if (this.at(s) === undefined) return false
    this.idx[s] = 0
    this.over?.delete(s)
    this.n--
    return true
  }

  * values (): IterableIterator<Rec> {
    for (let s = 0; s < this.idx.length; s++) {
      const r = this.at(s)
      if (r !== undefined) yield r
    }
    if (this.other !== undefined) yield * this.other.values()
  }
}
