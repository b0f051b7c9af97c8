/**
 * Binary min-heap of items keyed by a time, popped in (time, insertion order):
 * ties come out first-in first-out, so runs are deterministic. Used for the
 * simulator's events, suspicion deadlines and tombstone expiries; callers
 * that reschedule push again and skip stale items when they pop.
 */
export class MinHeap<T> {
  private readonly times: number[] = []
  private readonly seqs: number[] = []
  private readonly items: T[] = []
  private seq = 0

  /** Items in the heap. */
  get size (): number { return this.items.length }

  /** Time of the earliest item, or Infinity when empty. */
  peekTime (): number { return this.items.length === 0 ? Infinity : this.times[0] as number }

  /** Add `item` due at `time`. */
  push (time: number, item: T): void {
    const t = this.times; const s = this.seqs; const it = this.items
    let i = it.length
    t.push(time); s.push(this.seq++); it.push(item)
    const sq = s[i] as number
    while (i > 0) {
      const p = (i - 1) >> 1
      const pt = t[p] as number
      if (pt < time || (pt === time && (s[p] as number) < sq)) break
      t[i] = pt; s[i] = s[p] as number; it[i] = it[p] as T
      i = p
    }
    t[i] = time; s[i] = sq; it[i] = item
  }

  /** The earliest item without removing it (undefined when empty). */
  peek (): T | undefined { return this.items[0] }

  /** Remove and return the earliest item (undefined when empty). */
  pop (): T | undefined {
    const t = this.times; const s = this.seqs; const it = this.items
    const n = it.length
    if (n === 0) return undefined
    const top = it[0] as T
    const lt = t.pop() as number; const ls = s.pop() as number; const li = it.pop() as T
    if (n === 1) return top
    let i = 0
    const m = n - 1
    for (;;) {
      const l = 2 * i + 1
      if (l >= m) break
      const r = l + 1
      let c = l
      if (r < m && ((t[r] as number) < (t[l] as number) || ((t[r] as number) === (t[l] as number) && (s[r] as number) < (s[l] as number)))) c = r
      const ct = t[c] as number
      if (lt < ct || (lt === ct && ls < (s[c] as number))) break
      t[i] = ct; s[i] = s[c] as number; it[i] = it[c] as T
      i = c
    }
    t[i] = lt; s[i] = ls; it[i] = li
    return top
  }
}
