import type { MemberUpdate } from '../codec/messages.js'

interface Item { msg: MemberUpdate, transmits: number, size: number, order: number }

/**
 * memberlist's TransmitLimitedQueue for member updates: one item per member
 * (a newer update replaces the queued one), least-transmitted first, dropped
 * after `limit` transmits.
 */
export class MemberBroadcastQueue {
  private readonly items = new Map<string, Item>()
  private order = 0

  /** Queue `msg`, replacing any queued update about the same member. */
  push (msg: MemberUpdate): void {
    this.items.set(msg.id, { msg, transmits: 0, size: estimateUpdateBytes(msg), order: this.order++ })
  }

  /** Number of queued updates. */
  get size (): number { return this.items.size }

  /** Take updates fitting in `budget` bytes; each transmit counts toward `limit`. */
  take (budget: number, limit: number, first?: MemberUpdate): MemberUpdate[] {
    const out: MemberUpdate[] = []
    let used = 0
    if (first !== undefined) { out.push(first); used += estimateUpdateBytes(first) }
    if (this.items.size === 0) return out
    const sorted = [...this.items.values()].sort((a, b) => a.transmits - b.transmits || b.order - a.order)
    for (const it of sorted) {
      if (used + it.size > budget) continue
      if (first !== undefined && it.msg.id === first.id) continue
      used += it.size
      out.push(it.msg)
      it.transmits++
      if (it.transmits >= limit) this.items.delete(it.msg.id)
    }
    return out
  }

  /** Drop everything. */
  clear (): void { this.items.clear() }
}

/** Upper-bound estimate of a member update's encoded size in bytes. */
export function estimateUpdateBytes (m: MemberUpdate): number {
  let n = 24 + m.id.length + (m.from?.length ?? 0)
  if (m.addrs !== undefined) for (const a of m.addrs) n += a.length + 2
  return n
}
