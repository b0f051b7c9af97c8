/**
 * Binary min-heap of (time, item): the tombstone reaping schedule. Items are
 * checked for staleness by the caller when popped.
 */
export class TimeHeap<T> {
  private readonly times: number[] = []
  private readonly items: T[] = []

  get size (): number { return this.times.length }

  /** Earliest time, or Infinity when empty. */
  peekTime (): number { return this.times.length > 0 ? this.times[0] as number : Infinity }

  push (time: number, item: T): void {
    const t = this.times
    const it = this.items
    let i = t.length
    t.push(time)
    it.push(item)
    while (i > 0) {
      const p = (i - 1) >> 1
      if ((t[p] as number) <= time) break
      t[i] = t[p] as number
      it[i] = it[p] as T
      i = p
    }
    t[i] = time
    it[i] = item
  }

  /** Remove and return the earliest item (undefined when empty). */
  pop (): T | undefined {
    const t = this.times
    const it = this.items
    if (t.length === 0) return undefined
    const top = it[0] as T
    const lastT = t.pop() as number
    const lastI = it.pop() as T
    const n = t.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && (t[r] as number) < (t[l] as number) ? r : l
        if ((t[c] as number) >= lastT) break
        t[i] = t[c] as number
        it[i] = it[c] as T
        i = c
      }
      t[i] = lastT
      it[i] = lastI
    }
    return top
  }
}
