import { pack, unpack } from 'msgpackr'
import {
  createTables, digestHash, validateSyncHash, type SyncResponse, type Tables, type TablesInit, type TablesMsg, validateSyncRequest,
  validateSyncResponse, validateTablesMsg
} from '../../src/tables/index.js'
import { createSeededRng } from '../../src/rng.js'
import type { EntryEvent, Member, MemberState, NodeId } from '../../src/types.js'

/** Send through the real encoding and the exported validators, as the node does. */
export function wire<T> (x: T, validate: (x: unknown) => T | string): T {
  const v = validate(unpack(pack(x)))
  if (typeof v === 'string') throw new Error(`harness: own message failed validation: ${v}`)
  return v
}

/** A member record for memberChanged. */
export function member (id: NodeId, state: MemberState, since: number, restarting = false): Member {
  return { id, addrs: [], state, incarnation: 1, since, restarting }
}

/** Several Tables instances exchanging messages directly, on a manual clock. */
export class Net {
  readonly nodes = new Map<NodeId, Tables>()
  readonly events = new Map<NodeId, EntryEvent[]>()
  now = 0
  /** Pairs [from, to] whose messages are dropped. */
  readonly cut = new Set<string>()

  constructor (ids: NodeId[], seed: number, opts: Partial<TablesInit> = {}) {
    let i = 0
    for (const id of ids) {
      const t = createTables({ self: id, rng: createSeededRng(seed * 1000 + i++), ...opts })
      const evs: EntryEvent[] = []
      t.onEntry((ev) => evs.push(ev))
      this.nodes.set(id, t)
      this.events.set(id, evs)
    }
  }

  get (id: NodeId): Tables {
    const t = this.nodes.get(id)
    if (t === undefined) throw new Error(`no node ${id}`)
    return t
  }

  ids (): NodeId[] { return [...this.nodes.keys()] }

  /** Forget the events recorded so far for a node. */
  clearEvents (id: NodeId): void {
    const evs = this.events.get(id)
    if (evs !== undefined) evs.length = 0
  }

  private blocked (from: NodeId, to: NodeId): boolean { return this.cut.has(`${from}>${to}`) }

  /** Deliver table messages from one node to another (through encode + validate). */
  deliver (from: NodeId, to: NodeId, msgs: TablesMsg[]): void {
    if (this.blocked(from, to)) return
    for (const m of msgs) this.get(to).handle(this.now, from, wire(m, validateTablesMsg))
  }

  /** One gossip round: every node piggybacks to every other node (or to `fanout` random ones). */
  gossip (budget = 1400, order?: (ids: NodeId[]) => NodeId[]): void {
    const ids = this.ids()
    for (const from of ids) {
      const peers = (order ?? ((x) => x))(ids.filter((x) => x !== from))
      for (const to of peers) this.deliver(from, to, this.get(from).broadcastsFor(to, budget, ids.length))
    }
  }

  /** Run one sync exchange initiated by `from`. Returns the response. */
  sync (from: NodeId, to: NodeId, req: Parameters<Tables['handleSyncRequest']>[2]): SyncResponse | undefined {
    if (this.blocked(from, to) || this.blocked(to, from)) return undefined
    const res = wire(this.get(to).handleSyncRequest(this.now, from, wire(req, validateSyncRequest)), validateSyncResponse)
    const back = this.get(from).handleSyncResponse(this.now, to, res)
    this.deliver(from, to, back)
    return res
  }

  /** Advance time and tick everyone; run the syncs they ask for. Returns how many syncs ran. */
  tick (advanceMs: number, alive: NodeId[] = this.ids()): number {
    this.now += advanceMs
    let n = 0
    for (const [id, t] of this.nodes) {
      const { syncs } = t.tick(this.now, alive)
      for (const s of syncs) {
        if (this.sync(id, s.to, s.req) !== undefined) n++
      }
    }
    return n
  }

  /**
   * As `tick`, but periodic syncs go as digest hashes (through encode and
   * validate, as the node sends them); a receiver whose digest differs
   * answers "differs" and the sender runs the full sync. Returns the full
   * syncs run and the hashes sent.
   */
  tickHashed (advanceMs: number, alive: NodeId[] = this.ids()): { full: number, hashes: number } {
    this.now += advanceMs
    let full = 0
    let hashes = 0
    for (const [id, t] of this.nodes) {
      for (const s of t.tick(this.now, alive).syncs) {
        if (s.periodic !== true) {
          if (this.sync(id, s.to, s.req) !== undefined) full++
          continue
        }
        hashes++
        if (this.blocked(id, s.to)) continue
        const differs = this.get(s.to).handleSyncHash(this.now, id, wire({ scope: s.req.scope, h: digestHash(s.req.digest) }, validateSyncHash))
        if (!differs || this.blocked(s.to, id)) continue
        const plan = t.handleSyncDiffers(this.now, s.to, s.req.scope)
        if (plan !== undefined && this.sync(id, plan.to, plan.req) !== undefined) full++
      }
    }
    return { full, hashes }
  }
}
