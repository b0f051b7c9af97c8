import type { Rec } from './record.js'

/**
 * Transmit-limited broadcast queue of one scope (memberlist's
 * TransmitLimitedQueue): records are kept in tiers by how often they were
 * sent, fewest first. A record's tier is found by asking the tiers (at most
 * the retransmit limit, ~16): a record may be held, and queued, by many
 * nodes' stores in one process (the simulator shares records), so it cannot
 * carry its tier, and a map of tiers would cost an entry per queued record
 * (every node queues every claim of a settling cluster). A newer version of
 * a key is a new record: the tables drop the older one and push the newer
 * at tier 0, so the older version is never sent after the newer one.
 */
export class BroadcastQueue {
  private readonly tiers: Array<Set<Rec>> = []
  size = 0

  /** Queue (or re-queue at tier 0) a record. */
  push (rec: Rec): void {
    const q = this.tierOf(rec)
    if (q >= 0) {
      this.tiers[q]?.delete(rec)
      this.size--
    }
    let t0 = this.tiers[0]
    if (t0 === undefined) {
      t0 = new Set()
      this.tiers[0] = t0
    }
    t0.add(rec)
    this.size++
  }

  /** Drop a record from the queue (reaped). */
  drop (rec: Rec): void {
    const q = this.tierOf(rec)
    if (q < 0) return
    this.tiers[q]?.delete(rec)
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
    const moved: Array<[Rec, number]> = []
    outer:
    for (let t = 0; t < this.tiers.length; t++) {
      const tier = this.tiers[t]
      if (tier === undefined || tier.size === 0) continue
      for (const rec of tier) {
        if (t >= limit) {
          // the limit shrank (smaller cluster): done with this one
          tier.delete(rec)
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
        if (t + 1 >= limit) this.size--
        else moved.push([rec, t + 1])
      }
    }
    for (const [rec, q] of moved) {
      let next = this.tiers[q]
      if (next === undefined) {
        next = new Set()
        this.tiers[q] = next
      }
      next.add(rec)
    }
    return { recs, bytes }
  }

  /** The tier holding `rec`, -1 if it is not queued. */
  private tierOf (rec: Rec): number {
    for (let t = 0; t < this.tiers.length; t++) if (this.tiers[t]?.has(rec) === true) return t
    return -1
  }
}
