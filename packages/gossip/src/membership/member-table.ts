import type { MemberSnapshot, MemberUpdate } from '../codec/messages.js'
import { randInt } from '../rng.js'
import type { Member, MemberState, Millis, NodeId, Rng } from '../types.js'
import { signedOfSnapshot } from './signing.js'

/** One member as stored by the membership core. */
export interface Rec {
  readonly id: NodeId
  /** Dense index in the MemberIndex. */
  readonly idx: number
  addrs: string[]
  state: MemberState
  inc: number
  since: Millis
  restarting: boolean
  restartUntil: Millis
  /**
   * The member's latest signed word about itself, as received (relayed and
   * put in snapshots unchanged): its `left` in state left, else its latest
   * `alive`. Undefined in unsigned clusters.
   */
  signed: MemberUpdate | undefined
  /** Shared between nodes of one process (seeded); copied before the first change. */
  shared: boolean
}

/**
 * Node ID -> dense index. One per node by default; the simulator shares one
 * between all its nodes (and the seeded member records with it), so 10,000
 * nodes that each know 10,000 members fit in memory.
 */
export class MemberIndex {
  private readonly ids: NodeId[] = []
  private readonly map = new Map<NodeId, number>()
  private readonly seeded = new WeakMap<MemberSnapshot, Rec>()

  /** Index of `id`, assigned on first use. */
  indexOf (id: NodeId): number {
    let i = this.map.get(id)
    if (i === undefined) { i = this.ids.length; this.ids.push(id); this.map.set(id, i) }
    return i
  }

  /** Index of `id` if known. */
  find (id: NodeId): number | undefined { return this.map.get(id) }

  /**
   * A read-only (copy-on-write) record for a seeded snapshot, shared by every
   * node seeded with it. Seeds are trusted local input: a signature they carry
   * is kept for relaying, not checked.
   */
  seedRec (s: MemberSnapshot, now: Millis): Rec {
    let r = this.seeded.get(s)
    if (r === undefined) {
      r = { id: s.id, idx: this.indexOf(s.id), addrs: s.addrs, state: s.state, inc: s.inc, since: now, restarting: false, restartUntil: 0, signed: signedOfSnapshot(s), shared: true }
      this.seeded.set(s, r)
    }
    return r
  }
}

/** The members one node knows (itself excluded), with random selection and the probe order. */
export class MemberTable {
  private readonly slots: Array<Rec | undefined> = []
  private order = new Uint32Array(16)
  private orderLen = 0
  private orderPos = 0
  count = 0
  /** Members per state, kept up to date by `put`, `remove` and `setState`. */
  readonly byState: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0 }

  constructor (private readonly index: MemberIndex, private readonly rng: Rng) {}

  get (id: NodeId): Rec | undefined {
    const i = this.index.find(id)
    return i === undefined ? undefined : this.slots[i]
  }

  has (id: NodeId): boolean { return this.get(id) !== undefined }

  /** Add a new member (it joins the current probe round at a random later position). */
  add (id: NodeId, init: Omit<Rec, 'id' | 'idx' | 'shared'>): Rec {
    const rec: Rec = { id, idx: this.index.indexOf(id), shared: false, ...init }
    this.put(rec)
    return rec
  }

  /** Add a shared seeded record. */
  addShared (rec: Rec): void { this.put(rec) }

  private put (rec: Rec): void {
    const old = this.slots[rec.idx]
    if (old === undefined) this.count++
    else this.byState[old.state]--
    this.byState[rec.state]++
    while (this.slots.length < rec.idx) this.slots.push(undefined)
    this.slots[rec.idx] = rec
    if (this.orderLen === this.order.length) {
      const bigger = new Uint32Array(this.order.length * 2)
      bigger.set(this.order)
      this.order = bigger
    }
    this.order[this.orderLen++] = rec.idx
    const span = this.orderLen - this.orderPos
    if (span > 1) {
      const j = this.orderPos + randInt(this.rng, span)
      const last = this.orderLen - 1
      const tmp = this.order[j] as number
      this.order[j] = this.order[last] as number
      this.order[last] = tmp
    }
  }

  /** A record safe to change: shared records are copied first. */
  mutable (r: Rec): Rec {
    if (!r.shared) return r
    const copy: Rec = { ...r, shared: false }
    this.slots[r.idx] = copy
    return copy
  }

  remove (r: Rec): void {
    if (this.slots[r.idx] === r) { this.slots[r.idx] = undefined; this.count--; this.byState[r.state]-- }
  }

  /** Change a (mutable) record's state, keeping the counts. */
  setState (r: Rec, state: MemberState): void {
    this.byState[r.state]--
    this.byState[state]++
    r.state = state
  }

  /** Call `fn` for every record. */
  forEach (fn: (r: Rec) => void): void {
    const slots = this.slots
    for (let i = 0; i < slots.length; i++) {
      const r = slots[i]
      if (r !== undefined) fn(r)
    }
  }

  /** Records matching `ok`. */
  filter (ok: (r: Rec) => boolean): Rec[] {
    const out: Rec[] = []
    this.forEach(r => { if (ok(r)) out.push(r) })
    return out
  }

  /** Up to `k` distinct random members matching `ok`, not `exclude`. */
  random (k: number, ok: (r: Rec) => boolean, exclude?: NodeId): NodeId[] {
    const out: NodeId[] = []
    if (k <= 0 || this.count === 0) return out
    const n = this.slots.length
    if (this.count <= 4 * k) {
      const cands = this.filter(r => r.id !== exclude && ok(r))
      while (out.length < k && cands.length > 0) {
        const j = randInt(this.rng, cands.length)
        out.push((cands[j] as Rec).id)
        cands[j] = cands[cands.length - 1] as Rec
        cands.pop()
      }
      return out
    }
    for (let i = 0; i < 3 * n && out.length < k; i++) {
      const r = this.slots[randInt(this.rng, n)]
      if (r === undefined || r.id === exclude || out.includes(r.id) || !ok(r)) continue
      out.push(r.id)
    }
    return out
  }

  /** Next member to probe: round-robin over a shuffled list, reshuffled each round (memberlist). */
  nextProbe (eligible: (r: Rec) => boolean): Rec | undefined {
    for (let tries = 0; tries <= this.orderLen + 1; tries++) {
      if (this.orderPos >= this.orderLen) {
        this.orderLen = 0
        this.forEach(r => { if (eligible(r)) this.order[this.orderLen++] = r.idx })
        for (let i = this.orderLen - 1; i > 0; i--) {
          const j = randInt(this.rng, i + 1)
          const tmp = this.order[i] as number
          this.order[i] = this.order[j] as number
          this.order[j] = tmp
        }
        this.orderPos = 0
        if (this.orderLen === 0) return undefined
      }
      const r = this.slots[this.order[this.orderPos++] as number]
      if (r !== undefined && eligible(r)) return r
    }
    return undefined
  }
}

/** Public view of a record. */
export function toMember (r: Rec): Member {
  return { id: r.id, addrs: r.addrs, state: r.state, incarnation: r.inc, since: r.since, restarting: r.restarting }
}
