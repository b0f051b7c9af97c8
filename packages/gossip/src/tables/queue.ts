import type { Rec } from './record.js'

/**
 * Transmit-limited broadcast queue of one scope (memberlist's
 * TransmitLimitedQueue): records are kept in tiers by how often they were
 * sent, fewest first. The queue keeps each queued record's tier itself (a
 * record may be held, and queued, by many nodes' stores in one process: the
 * simulator shares records). A newer version of a key is a new record: the
 * tables drop the older one and push the newer at tier 0, so the older
 * version is never sent after the newer one.
 */
export class BroadcastQueue {
  private readonly tiers: Array<Set<Rec>> = []
  /** Tier of each queued record. */
  private readonly tierOf = new Map<Rec, number>()
  size = 0

  /** Queue (or re-queue at tier 0) a record. */
  push (rec: Rec): void {
    const q = this.tierOf.get(rec)
    if (q !== undefined) {
      this.tiers[q]?.delete(rec)
      this.size--
    }
    let t0 = this.tiers[0]
    if (t0 === undefined) {
      t0 = new Set()
      this.tiers[0] = t0
    }
    t0.add(rec)
    this.tierOf.set(rec, 0)
    this.size++
  }

  /** Drop a record from the queue (reaped). */
  drop (rec: Rec): void {
    const q = this.tierOf.get(rec)
    if (q === undefined) return
    this.tiers[q]?.delete(rec)
    this.tierOf.delete(rec)
    this.size--
  }

  /**
   * Take records, fewest transmits first, whose sizes fit `budget` bytes;
   * each taken record counts one transmit and leaves the queue after `limit`.
   * Records that do not fit are skipped (at most `maxSkips` of them); at most
   * `maxCount` records are taken.
   */
  take (budget: number, limit: number, sizeOf: (r: Rec) => number, maxCount: number, maxSkips = 32): { recs: Rec[], bytes: number } {
    const recs: Rec[] = []
    let bytes = 0
    let skips = 0
    const moved: Rec[] = []
    outer:
    for (let t = 0; t < this.tiers.length; t++) {
      const tier = this.tiers[t]
      if (tier === undefined || tier.size === 0) continue
      for (const rec of tier) {
        if (t >= limit) {
          // the limit shrank (smaller cluster): done with this one
          tier.delete(rec)
          this.tierOf.delete(rec)
          this.size--
          continue
        }
        if (recs.length >= maxCount) break outer
        const s = sizeOf(rec)
        if (bytes + s > budget) {
          if (++skips > maxSkips || budget - bytes < 16) break outer
          continue
        }
        bytes += s
        recs.push(rec)
        tier.delete(rec)
        if (t + 1 >= limit) {
          this.tierOf.delete(rec)
          this.size--
        } else {
          this.tierOf.set(rec, t + 1)
          moved.push(rec)
        }
      }
    }
    for (const rec of moved) {
      const q = this.tierOf.get(rec) as number
      let next = this.tiers[q]
      if (next === undefined) {
        next = new Set()
        this.tiers[q] = next
      }
      next.add(rec)
    }
    return { recs, bytes }
  }
}
