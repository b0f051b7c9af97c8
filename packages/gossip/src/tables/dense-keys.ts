import type { Rec } from './record.js'

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

  constructor (private readonly max: number) {}

  /** The number of `key` if it has one. */
  find (key: string): number | undefined {
    return this.map.get(key)
  }

  /** The number of `key`, assigned on first use; undefined past the bound. */
  slot (key: string): number | undefined {
    const s = this.map.get(key)
    if (s !== undefined || this.map.size >= this.max) return s
    const n = this.map.size
    this.map.set(key, n)
    return n
  }
}

/**
 * One table's records in an array indexed by the key's shared number
 * (KeySlots), for a table whose keys every store holds (the cluster scope's
 * `scopes` table: one record per node, on every node): 8 bytes a key instead
 * of a Map entry (~46 bytes at 10k keys), so 10,000 simulated nodes holding
 * 10,000 claims each keep 0.8 GB instead of 4.6 GB for them. Keys without a
 * number go in a map. Iterates in key-number order, then the map's.
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

  set (key: string, rec: Rec): this {
    const s = this.keys.slot(key)
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
