import type { Rec } from './record.js'

/**
 * Transmit-limited broadcast queue of one scope (memberlist's
 * TransmitLimitedQueue): records are kept in tiers by how often they were
 * sent, fewest first. A record's tier is found by asking the tiers (at most
 * the retransmit limit, ~16): a record may be held, and queued, by many
 * nodes' stores in one process (the simulator shares records), so it cannot
 * carry its tier, and a map of tiers would cost an entry per queued record.
 * A newer version of a key is a new record: the tables drop the older one
 * and push the newer at tier 0, so the older version is never sent after the
 * newer one.
 *
 * Within a tier, records go in the order they were queued: an origin's
 * writes reach a receiver in the order it made them (a network before the
 * service on it, which a receiver's API needs). memberlist sends equal
 * transmit counts newest first; that delivered a service before its network
 * here, so a task added at once on another node was refused.
 *
 * Relayed records (another origin's) are bounded, as Serf bounds its queues
 * (`MaxQueueDepth`): past `maxRelayed` the most-sent one goes (the oldest of
 * its tier), so a burst of writes from many origins (a cluster whose nodes
 * all join their networks at once) costs each node at most `maxRelayed x
 * limit` transmits instead of `writes x limit`; what a relay drops reaches the
 * others by anti-entropy. Our own records are never dropped before `limit`
 * transmits: the origin is the one node that has its write for sure.
 */
export class BroadcastQueue {
  private readonly tiers: Array<Set<Rec>> = []
  size = 0
  /** Queued records of other origins. */
  private relayed = 0
  /** Records dropped unsent-out by the bound. */
  pruned = 0

  /**
   * @param self our node ID (records of other origins are relayed ones)
   * @param maxRelayed at most this many relayed records are queued
   */
  constructor (private readonly self: string, private readonly maxRelayed = Infinity) {}

  /** Queue (or re-queue at tier 0) a record. */
  push (rec: Rec): void {
    const q = this.tierOf(rec)
    if (q >= 0) this.remove(q, rec)
    let t0 = this.tiers[0]
    if (t0 === undefined) {
      t0 = new Set()
      this.tiers[0] = t0
    }
    t0.add(rec)
    this.size++
    if (rec.origin !== this.self && ++this.relayed > this.maxRelayed) this.prune()
  }

  /** Drop a record from the queue (reaped). */
  drop (rec: Rec): void {
    const q = this.tierOf(rec)
    if (q >= 0) this.remove(q, rec)
  }

  /**
   * Take records, fewest transmits first, whose sizes fit `budget` bytes;
   * each taken record counts one transmit and leaves the queue after `limit`.
   * Records that do not fit are skipped (at most `maxSkips` of them); at most
   * `maxCount` records are taken. Records in `except` (taken for the same
   * packet already) are passed over.
   */
  take (budget: number, limit: number, sizeOf: (r: Rec) => number, maxCount: number, maxSkips = 32, except?: ReadonlySet<Rec>): { recs: Rec[], bytes: number } {
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
          this.remove(t, rec)
          continue
        }
        if (recs.length >= maxCount) break outer
        if (except?.has(rec) === true) continue
        const s = sizeOf(rec)
        if (bytes + s > budget) {
          if (++skips > maxSkips || budget - bytes < 16) break outer
          continue
        }
        bytes += s
        recs.push(rec)
        if (t + 1 >= limit) this.remove(t, rec)
        else {
          tier.delete(rec)
          moved.push([rec, t + 1])
        }
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

  /** Take `rec` out of tier `t` for good. */
  private remove (t: number, rec: Rec): void {
    if (this.tiers[t]?.delete(rec) !== true) return
    this.size--
    if (rec.origin !== this.self) this.relayed--
  }

  /** Drop the most-sent relayed record (the oldest of its tier). */
  private prune (): void {
    for (let t = this.tiers.length - 1; t >= 0; t--) {
      const tier = this.tiers[t]
      if (tier === undefined) continue
      for (const rec of tier) {
        if (rec.origin === this.self) continue
        this.remove(t, rec)
        this.pruned++
        return
      }
    }
  }

  /** The tier holding `rec`, -1 if it is not queued. */
  private tierOf (rec: Rec): number {
    for (let t = 0; t < this.tiers.length; t++) if (this.tiers[t]?.has(rec) === true) return t
    return -1
  }
}
