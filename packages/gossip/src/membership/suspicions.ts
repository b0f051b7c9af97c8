import { suspicionRemaining } from '../config.js'
import { MinHeap } from '../min-heap.js'
import type { Millis, NodeId } from '../types.js'

/** One running suspicion (memberlist suspicion.go). */
export interface Suspicion {
  inc: number
  start: Millis
  min: number
  max: number
  /** Independent confirmations that bring the timeout down to `min`. */
  k: number
  /** The first accuser plus every confirmer. */
  confirmers: Set<NodeId>
  deadline: Millis
  /** Its verdict was put off once already because this node had stalled. */
  postponed: boolean
}

interface Due { id: NodeId, s: Suspicion, at: Millis }

/** Running suspicions with their deadlines in a heap (stale heap entries are skipped). */
export class Suspicions {
  private readonly byId = new Map<NodeId, Suspicion>()
  private readonly heap = new MinHeap<Due>()

  get (id: NodeId): Suspicion | undefined { return this.byId.get(id) }

  delete (id: NodeId): void { this.byId.delete(id) }

  /** Start suspecting `id`: the timeout starts at `max` (or `min` when k < 1). */
  start (now: Millis, id: NodeId, inc: number, from: NodeId, k: number, min: number, max: number): void {
    const s: Suspicion = { inc, start: now, min, max, k, confirmers: new Set([from]), deadline: now + (k < 1 ? min : max), postponed: false }
    this.byId.set(id, s)
    this.heap.push(s.deadline, { id, s, at: s.deadline })
  }

  /** Count an independent confirmation; true if it was new (then re-gossip it). */
  confirm (id: NodeId, s: Suspicion, from: NodeId): boolean {
    if (s.confirmers.size - 1 >= s.k || s.confirmers.has(from)) return false
    s.confirmers.add(from)
    s.deadline = s.start + suspicionRemaining(s.min, s.max, s.k, s.confirmers.size - 1)
    this.heap.push(s.deadline, { id, s, at: s.deadline })
    return true
  }

  /** Remove and return the suspicions whose deadline passed. */
  due (now: Millis): Array<{ id: NodeId, s: Suspicion }> {
    const out: Array<{ id: NodeId, s: Suspicion }> = []
    while (this.heap.peekTime() <= now) {
      const { id, s, at } = this.heap.pop() as Due
      if (this.byId.get(id) !== s || s.deadline !== at) continue
      this.byId.delete(id)
      out.push({ id, s })
    }
    return out
  }

  /**
   * Put off, once each, the verdicts due by `now` until `until`: after a stall
   * this node has not yet read what arrived meanwhile (a refutation among it).
   */
  postponeDue (now: Millis, until: Millis): void {
    for (const [id, s] of this.byId) {
      if (s.deadline > now || s.postponed) continue
      s.postponed = true
      s.deadline = until
      this.heap.push(s.deadline, { id, s, at: s.deadline })
    }
  }

  /** The earliest live deadline, or Infinity. */
  nextDeadline (): Millis {
    while (this.heap.size > 0) {
      const head = this.heap.peek() as Due
      if (this.byId.get(head.id) === head.s && head.s.deadline === head.at) return head.at
      this.heap.pop()
    }
    return Infinity
  }
}
