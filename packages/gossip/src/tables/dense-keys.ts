import type { Rec } from './record.js'

const NO_NUMBERS: readonly number[] = []

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

  constructor (private readonly max: number) {}

  /** Numbers of the keys of digest leaf `leaf` (shared: not to be changed). */
  inLeaf (leaf: number): readonly number[] {
    return this.byLeaf[leaf] ?? NO_NUMBERS
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
 * One table's records in an array indexed by the key's shared number
 * (KeySlots), for a table whose keys every store holds (the cluster scope's
 * `scopes` table: one record per node, on every node): 8 bytes a key instead
 * of a Map entry (~46 bytes at 10k keys), so 10,000 simulated nodes holding
 * 10,000 claims each keep 0.8 GB instead of 4.6 GB for them. Keys without a
 * number go in a map. Iterates in key-number order, then the map's. The
 * store lists a numbered key's record per digest leaf from the shared
 * numbers of that leaf (`inLeaf`), not in a leaf array of its own: another
 * 8 bytes a key saved.
 */
export class DenseKeys implements KeyMap {
  private readonly slots: Array<Rec | undefined> = []
  private other: Map<string, Rec> | undefined
  private n = 0

  constructor (private readonly keys: KeySlots) {}

  get size (): number {
    return this.n + (this.other?.size ?? 0)
  }

  get (key: string): Rec | undefined {
    const s = this.keys.find(key)
    if (s === undefined) return this.other?.get(key)
    return s < this.slots.length ? this.slots[s] : undefined
  }

  /** True if `key` (of digest leaf `leaf`) has a shared number (assigned now if it can be): its record lives in the array. */
  numbered (key: string, leaf: number): boolean {
    return this.keys.slot(key, leaf) !== undefined
  }

  /** The held records of the numbered keys of digest leaf `leaf`, in number order (appended to `out`). */
  leafRecs (leaf: number, out: Rec[]): Rec[] {
    const a = this.slots
    for (const s of this.keys.inLeaf(leaf)) {
      const r = s < a.length ? a[s] : undefined
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
    const a = this.slots
    // grow by pushing, never by writing past the end: a holey write far past the length would turn
    // the array into a dictionary (a hash table again)
    if (s >= a.length) {
      const want = Math.max(s + 1, Math.ceil(a.length * 1.5))
      while (a.length < want) a.push(undefined)
    }
    if (a[s] === undefined) this.n++
    a[s] = rec
    return this
  }

  delete (key: string): boolean {
    const s = this.keys.find(key)
    if (s === undefined) return this.other?.delete(key) ?? false
    if (s >= this.slots.length || this.slots[s] === undefined) return false
    this.slots[s] = undefined
    this.n--
    return true
  }

  * values (): IterableIterator<Rec> {
    for (const r of this.slots) if (r !== undefined) yield r
    if (this.other !== undefined) yield * this.other.values()
  }
}
