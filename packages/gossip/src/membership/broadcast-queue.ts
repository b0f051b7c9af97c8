import type { MemberUpdate } from '../codec/messages.js'

interface Item { msg: MemberUpdate, transmits: number, size: number }

/** Smallest encoded member update; below this much budget nothing more fits. */
const MIN_UPDATE_BYTES = 24

/** Items that did not fit looked at before a packet counts as full. */
const MAX_MISSES = 8

/**
 * memberlist's TransmitLimitedQueue for member updates: one item per member
 * (a newer update replaces the queued one), least-transmitted first, dropped
 * after `limit` transmits. Items are bucketed by transmit count, so taking a
 * packet's worth costs O(items taken), not a sort of the whole queue.
 */
export class MemberBroadcastQueue {
  private readonly byId = new Map<string, Item>()
  private readonly levels: Array<Set<Item>> = []

  /** @param self updates about this ID (our own alive/refutation) always go first */
  constructor (private readonly self?: string) {}

  /** Queue `msg` (relayed as is, signature included), replacing any queued update about the same member. */
  push (msg: MemberUpdate): void {
    const old = this.byId.get(msg.id)
    if (old !== undefined) this.levels[old.transmits]?.delete(old)
    const it: Item = { msg, transmits: 0, size: estimateUpdateBytes(msg) }
    this.byId.set(msg.id, it)
    this.level(0).add(it)
  }

  /** Number of queued updates. */
  get size (): number { return this.byId.size }

  /** Take updates fitting in `budget` bytes; each transmit counts toward `limit`. */
  take (budget: number, limit: number, first?: MemberUpdate): MemberUpdate[] {
    const out: MemberUpdate[] = []
    let used = 0
    if (first !== undefined) { out.push(first); used += estimateUpdateBytes(first) }
    if (this.byId.size === 0) return out
    const taken: Item[] = []
    const own = this.self === undefined ? undefined : this.byId.get(this.self)
    if (own !== undefined && own.msg.id !== first?.id && used + own.size <= budget) {
      used += own.size
      out.push(own.msg)
      taken.push(own)
    }
    let misses = 0
    for (let lvl = 0; lvl < this.levels.length && budget - used >= MIN_UPDATE_BYTES && misses < MAX_MISSES; lvl++) {
      const set = this.levels[lvl]
      if (set === undefined) continue
      for (const it of set) {
        if (budget - used < MIN_UPDATE_BYTES || misses >= MAX_MISSES) break
        if (it.msg.id === first?.id || it === own) continue
        // a full packet: look at a few more for a smaller one, never scan the whole backlog
        if (used + it.size > budget) { misses++; continue }
        used += it.size
        out.push(it.msg)
        taken.push(it)
      }
    }
    for (const it of taken) {
      this.levels[it.transmits]?.delete(it)
      it.transmits++
      if (it.transmits >= limit) this.byId.delete(it.msg.id)
      else this.level(it.transmits).add(it)
    }
    return out
  }

  /** Drop everything. */
  clear (): void {
    this.byId.clear()
    this.levels.length = 0
  }

  private level (n: number): Set<Item> {
    let s = this.levels[n]
    if (s === undefined) { s = new Set(); this.levels[n] = s }
    return s
  }
}

/** Upper-bound estimate of a member update's encoded size in bytes. */
export function estimateUpdateBytes (m: MemberUpdate): number {
  let n = 24 + m.id.length + (m.from?.length ?? 0)
  if (m.addrs !== undefined) for (const a of m.addrs) n += a.length + 2
  // key, bin header, 64 bytes
  if (m.sig !== undefined) n += m.sig.byteLength + 6
  return n
}
