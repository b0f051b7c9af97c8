import type { MemberSnapshot, MemberUpdate } from '../codec/messages.js'
import { randInt } from '../rng.js'
import type { Member, MemberState, Millis, NodeId, Rng } from '../types.js'
import { ProbeOrder } from './probe-order.js'
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

/** Members seeded from one snapshot list, shared by every table seeded with it. */
interface SeedBase {
  readonly slots: ReadonlyArray<Rec | undefined>
  readonly byState: Readonly<Record<MemberState, number>>
  readonly count: number
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
  private readonly bases = new WeakMap<readonly MemberSnapshot[], SeedBase>()

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

  /**
   * The records of a whole seed list as one slot array, built once per list
   * and shared by every table seeded with that list (each hides itself with
   * an override). The first snapshot of an ID wins.
   */
  seedBase (members: readonly MemberSnapshot[], now: Millis): SeedBase {
    let b = this.bases.get(members)
    if (b === undefined) {
      const slots: Array<Rec | undefined> = []
      const byState: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0 }
      let count = 0
      for (const s of members) {
        const rec = this.seedRec(s, now)
        if (slots[rec.idx] !== undefined) continue
        while (slots.length < rec.idx) slots.push(undefined)
        slots[rec.idx] = rec
        byState[rec.state]++
        count++
      }
      b = { slots, byState, count }
      this.bases.set(members, b)
    }
    return b
  }
}

/** Marks a record removed from a shared base. */
const GONE: Rec = { id: '', idx: -1, addrs: [], state: 'left', inc: 0, since: 0, restarting: false, restartUntil: 0, signed: undefined, shared: true }

/**
 * The members one node knows (itself excluded), with random selection and the
 * probe order. Records live in a slot array by dense index; a table seeded
 * from a shared list keeps that list's array (shared by every node of the
 * simulator) and its own changes in an override map, until the overrides
 * grow to an eighth of the array, when it takes a private copy.
 */
export class MemberTable {
  private base: ReadonlyArray<Rec | undefined> = []
  /** True while `base` is shared with other tables (then changes go to `over`). */
  private baseShared = false
  /** Changes to a shared `base` by slot index; GONE marks a removed record. */
  private readonly over = new Map<number, Rec>()
  /** One past the highest slot index in use (base or override). */
  private len = 0
  private readonly order = new ProbeOrder()
  count = 0
  /** Members per state, kept up to date by `put`, `remove` and `setState`. */
  readonly byState: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0 }

  constructor (private readonly index: MemberIndex, private readonly rng: Rng) {}

  private slot (i: number): Rec | undefined {
    if (this.over.size > 0) {
      const o = this.over.get(i)
      if (o !== undefined) return o === GONE ? undefined : o
    }
    return this.base[i]
  }

  private write (i: number, rec: Rec | undefined): void {
    if (i >= this.len) this.len = i + 1
    if (!this.baseShared) {
      const slots = this.base as Array<Rec | undefined>
      while (slots.length < i) slots.push(undefined)
      slots[i] = rec
      return
    }
    this.over.set(i, rec ?? GONE)
    if (this.over.size * 8 > this.base.length) {
      const copy = this.base.slice()
      for (const [j, r] of this.over) {
        while (copy.length < j) copy.push(undefined)
        copy[j] = r === GONE ? undefined : r
      }
      this.base = copy
      this.baseShared = false
      this.over.clear()
    }
  }

  get (id: NodeId): Rec | undefined {
    const i = this.index.find(id)
    return i === undefined ? undefined : this.slot(i)
  }

  has (id: NodeId): boolean { return this.get(id) !== undefined }

  /** Add a new member (it is probed from the next probe round on). */
  add (id: NodeId, init: Omit<Rec, 'id' | 'idx' | 'shared'>): Rec {
    const rec: Rec = { id, idx: this.index.indexOf(id), shared: false, ...init }
    this.put(rec)
    return rec
  }

  /** Add a shared seeded record. */
  addShared (rec: Rec): void { this.put(rec) }

  /**
   * Take a shared seed list as this (empty) table's contents, without `self`;
   * false if the table is not empty (the caller then adds records one by one).
   */
  adoptSeed (base: SeedBase, self: NodeId): boolean {
    if (this.count > 0 || this.len > 0) return false
    this.base = base.slots
    this.baseShared = true
    this.len = base.slots.length
    this.count = base.count
    for (const st of Object.keys(this.byState) as MemberState[]) this.byState[st] = base.byState[st]
    const me = this.index.find(self)
    const mine = me === undefined ? undefined : base.slots[me]
    if (mine !== undefined) {
      this.over.set(mine.idx, GONE)
      this.count--
      this.byState[mine.state]--
    }
    return true
  }

  private put (rec: Rec): void {
    const old = this.slot(rec.idx)
    if (old === undefined) this.count++
    else this.byState[old.state]--
    this.byState[rec.state]++
    this.write(rec.idx, rec)
  }

  /** A record safe to change: shared records are copied first. */
  mutable (r: Rec): Rec {
    if (!r.shared) return r
    const copy: Rec = { ...r, shared: false }
    this.write(r.idx, copy)
    return copy
  }

  remove (r: Rec): void {
    if (this.slot(r.idx) === r) { this.write(r.idx, undefined); this.count--; this.byState[r.state]-- }
  }

  /** Change a (mutable) record's state, keeping the counts. */
  setState (r: Rec, state: MemberState): void {
    this.byState[r.state]--
    this.byState[state]++
    r.state = state
  }

  /** Call `fn` for every record. */
  forEach (fn: (r: Rec) => void): void {
    const n = this.len
    if (this.over.size === 0) {
      const slots = this.base
      for (let i = 0; i < n; i++) {
        const r = slots[i]
        if (r !== undefined) fn(r)
      }
      return
    }
    for (let i = 0; i < n; i++) {
      const r = this.slot(i)
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
    const n = this.len
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
      const r = this.slot(randInt(this.rng, n))
      if (r === undefined || r.id === exclude || out.includes(r.id) || !ok(r)) continue
      out.push(r.id)
    }
    return out
  }

  /**
   * Next member to probe: round-robin over a random order of the slots,
   * a new order each round (memberlist shuffles its list each round).
   */
  nextProbe (eligible: (r: Rec) => boolean): Rec | undefined {
    const o = this.order
    // the rest of this round, then at most one fresh round
    let fresh = false
    for (;;) {
      if (o.pos >= o.length) {
        if (fresh) return undefined
        fresh = true
        o.reset(this.len, this.rng)
        if (o.length === 0) return undefined
      }
      const r = this.slot(o.at(o.pos++))
      if (r !== undefined && eligible(r)) return r
    }
  }
}

/** Public view of a record. */
export function toMember (r: Rec): Member {
  return { id: r.id, addrs: r.addrs, state: r.state, incarnation: r.inc, since: r.since, restarting: r.restarting }
}
