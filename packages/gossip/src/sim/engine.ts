import { frameSize } from '../codec/codec.js'
import type { MemberSnapshot, Packet, RequestMsg, ResponseMsg } from '../codec/messages.js'
import { resolveConfig, type GossipConfig } from '../config.js'
import { MemberIndex } from '../membership/member-table.js'
import { memberSigBytes } from '../membership/signing.js'
import { createNode, type GossipNode, type NodeOutput } from '../node.js'
import { createSeededRng } from '../rng.js'
import { createKeyDirectory, type Keyring } from '../sign/keyring.js'
import { RecordShare } from '../tables/share.js'
import type { NodeId, ProfileName, Rng } from '../types.js'
import { MinHeap } from '../min-heap.js'

/** Options of a simulation run. */
export interface SimInit {
  nodes: number
  seed: number
  /** Datagram/request loss probability. @default 0 */
  loss?: number
  /** One-way latency range in ms. @default [5, 25] */
  latencyMs?: [number, number]
  profile?: ProfileName
  overrides?: Partial<GossipConfig>
  /** Count every message's encoded bytes (exact, measured without encoding) or not at all. @default true */
  countBytes?: boolean
  /** How a message's bytes are measured. @default frameSize (tests compare it with encodeFrame) */
  sizeOf?: (msg: Packet | RequestMsg | ResponseMsg) => number
  /**
   * Run without keys: nothing signed or checked (for comparison). Otherwise
   * every node gets a key from one key directory and signs and checks as in
   * production. @default false
   */
  unsigned?: boolean
  /**
   * Nodes hold one shared record per version (RecordShare) instead of a copy
   * each; off only to show in tests that sharing changes no figure. @default true
   */
  shareRecords?: boolean
}

/** An input for one node; `late` once a starved node's lag was added. */
type NodeEv =
  | { k: 'wake', i: number, at: number, late?: true }
  | { k: 'msg', from: number, to: number, msg: Packet, late?: true }
  | { k: 'req', from: number, to: number, req: RequestMsg, late?: true }
  | { k: 'res', from: number, to: number, req: RequestMsg, res: ResponseMsg | undefined, late?: true }

type Ev = NodeEv | { k: 'call', fn: () => void }


/** One simulated node slot. */
export interface SimNode {
  index: number
  id: NodeId
  node: GossipNode
  up: boolean
  /** Latency multiplier of traffic to and from this node (slowed nodes). */
  slow: number
  /** Partition group; traffic only flows within a group. */
  group: number
  wakeAt: number
  generation: number
  /** Paused (as a whole) until this time; inputs meanwhile are held. */
  pausedUntil: number
  /** Inputs that arrived while paused, handled in order at the end of the pause. */
  held: NodeEv[]
  /** CPU-starved: each input is handled this much later (ms range); undefined = on time. */
  lagMs: [number, number] | undefined
  /** A starved node handles inputs in order: none before this time. */
  lagFloor: number
}

/**
 * Discrete-event simulator: every node is the real sans-IO GossipNode; the
 * engine delivers its messages with seeded latency and loss, in virtual time,
 * without encoding (bytes are measured by frameSize, the encoder's exact
 * length, when `countBytes` is on).
 */
export class Sim {
  readonly cfg: GossipConfig
  readonly rng: Rng
  readonly nodes: SimNode[] = []
  readonly byId = new Map<NodeId, SimNode>()
  now = 0
  loss: number
  bytesSent = 0
  messagesSent = 0
  /**
   * Bytes sent by message kind: datagrams by packet type (`ping`, `ack`,
   * `gossip`, `push`, ...), exchanges as `sync-req`, `sync-res`,
   * `push-pull-req`, `push-pull-res` (only while bytes are counted).
   */
  readonly bytesByKind = new Map<string, number>()
  /** Drop a sent datagram when this returns true (fault injection by scenarios). */
  dropFilter: ((from: SimNode, msg: Packet) => boolean) | undefined
  private readonly heap = new MinHeap<Ev>()
  private readonly lat: [number, number]
  private readonly countBytes: boolean
  private readonly sizeOf: (msg: Packet | RequestMsg | ResponseMsg) => number
  private readonly seed: number
  private readonly index = new MemberIndex()
  /** One stored record per version for all nodes (records never change once stored). */
  private readonly records: RecordShare | undefined
  /** Each node's keyring (kept across its restarts), unless unsigned. */
  private readonly keys = new Map<NodeId, Keyring>()

  constructor (init: SimInit) {
    this.seed = init.seed
    this.rng = createSeededRng(`sim:${init.seed}`)
    this.cfg = resolveConfig(init.profile ?? 'lan', init.overrides ?? {})
    this.loss = init.loss ?? 0
    this.lat = init.latencyMs ?? [5, 25]
    this.countBytes = init.countBytes ?? true
    this.records = init.shareRecords === false ? undefined : new RecordShare()
    // the shared values' sizes are measured once, not in every message that carries one
    const known = this.records?.sizes
    this.sizeOf = init.sizeOf ?? (known === undefined ? frameSize : (msg) => frameSize(msg, known))
    const ids: NodeId[] = []
    for (let i = 0; i < init.nodes; i++) ids.push(`node-${String(i).padStart(5, '0')}`)
    if (init.unsigned !== true) {
      // each signature is checked once for the whole simulation: thousands of nodes in one process
      const dir = createKeyDirectory({ shareChecks: true })
      for (const id of ids) this.keys.set(id, dir.add(id))
    }
    // the seed list carries each node's signed alive at incarnation 0, as a persisted member list would
    const snaps: MemberSnapshot[] = ids.map(id => {
      const s: MemberSnapshot = { id, addrs: [`sim://${id}`], state: 'alive', inc: 0, restarting: false }
      const keys = this.keys.get(id)
      if (keys !== undefined) s.sig = keys.sign(memberSigBytes({ k: 'alive', id, inc: 0, addrs: s.addrs }))
      return s
    })
    for (let i = 0; i < init.nodes; i++) {
      const id = ids[i] as NodeId
      const sn: SimNode = { index: i, id, node: this.makeNode(id, 0, 0), up: true, slow: 1, group: 0, wakeAt: Infinity, generation: 0, pausedUntil: 0, held: [], lagMs: undefined, lagFloor: 0 }
      this.nodes.push(sn)
      this.byId.set(id, sn)
    }
    for (const sn of this.nodes) {
      sn.node.seed(0, snaps)
      this.apply(sn, sn.node.start(0))
    }
  }

  private makeNode (id: NodeId, incarnation: number, generation: number): GossipNode {
    const keyring = this.keys.get(id)
    return createNode({
      id,
      addrs: [`sim://${id}`],
      cfg: this.cfg,
      rng: createSeededRng(`${this.seed}:${id}:${generation}`),
      incarnation,
      memberIndex: this.index,
      ...(this.records !== undefined ? { shareRecords: this.records } : {}),
      ...(keyring !== undefined ? { keyring } : {})
    })
  }

  /** Schedule `fn` at virtual time `t`. */
  at (t: number, fn: () => void): void { this.heap.push(t, { k: 'call', fn }) }

  /** Run events until `t` (inclusive) or until `stop()` returns true after an event. */
  runUntil (t: number, stop?: () => boolean): void {
    while (this.heap.peekTime() <= t) {
      const time = this.heap.peekTime()
      const ev = this.heap.pop() as Ev
      this.now = time
      this.dispatch(ev)
      if (stop !== undefined && stop()) return
    }
    if (t > this.now && Number.isFinite(t)) this.now = t
  }

  /** Crash a node: it stops sending and receiving at once. */
  crash (i: number): void {
    const sn = this.nodes[i] as SimNode
    sn.up = false
    sn.node.stop()
  }

  /**
   * Pause node `i` as a whole for `ms` from now (a GC pause, a stopped VM, a
   * swapped-out process): it handles nothing, sends nothing and its timers
   * do not fire; at the end its overdue timers run first, then everything
   * that arrived meanwhile is handled in arrival order, as one burst.
   */
  pause (i: number, ms: number): void {
    const sn = this.nodes[i] as SimNode
    if (!sn.up || sn.pausedUntil > this.now) return
    const until = this.now + ms
    sn.pausedUntil = until
    this.at(until, () => { this.resume(sn) })
  }

  private resume (sn: SimNode): void {
    sn.pausedUntil = 0
    if (!sn.up) { sn.held = []; return }
    if (sn.wakeAt <= this.now) {
      sn.wakeAt = Infinity
      this.apply(sn, sn.node.tick(this.now))
    }
    const held = sn.held
    sn.held = []
    for (const ev of held) this.handleNow(sn, ev)
  }

  /**
   * Make node `i` CPU-starved: every input (message, request, response,
   * timer) is handled late by a random delay in `lagMs`, in order, so it
   * answers probes late; undefined makes it well again.
   */
  starve (i: number, lagMs: [number, number] | undefined): void {
    const sn = this.nodes[i] as SimNode
    sn.lagMs = lagMs
  }

  /** Stop a node announcing a restart (peers keep it live for the restart grace). */
  stopForRestart (i: number): void {
    const sn = this.nodes[i] as SimNode
    this.apply(sn, sn.node.announceRestart(this.now))
    sn.up = false
    sn.node.stop()
  }

  /** Bring a node back as a fresh process with the same ID, joining via `contacts` live nodes. */
  restart (i: number, contacts = 3): GossipNode {
    const sn = this.nodes[i] as SimNode
    sn.generation++
    sn.node = this.makeNode(sn.id, 0, sn.generation)
    sn.up = true
    sn.wakeAt = Infinity
    sn.pausedUntil = 0
    sn.held = []
    this.apply(sn, sn.node.start(this.now))
    const live = this.nodes.filter(x => x.up && x.index !== i)
    for (let c = 0; c < contacts && live.length > 0; c++) {
      const peer = live[Math.floor(this.rng.next() * live.length)] as SimNode
      this.sendReq(sn, peer.index, sn.node.pushPullRequest(true))
    }
    return sn.node
  }

  private latency (a: SimNode, b: SimNode): number {
    const base = this.lat[0] + this.rng.next() * (this.lat[1] - this.lat[0])
    return base * Math.max(a.slow, b.slow)
  }

  private lost (a: SimNode, b: SimNode): boolean {
    if (a.group !== b.group) return true
    return this.loss > 0 && this.rng.next() < this.loss
  }

  private dispatch (ev: Ev): void {
    if (ev.k === 'call') { ev.fn(); return }
    const sn = this.nodes[ev.k === 'wake' ? ev.i : ev.to] as SimNode
    // a paused node holds its inputs; a starved one takes them late, in order
    if (sn.pausedUntil > this.now) {
      if (ev.k !== 'wake') sn.held.push(ev)
      return
    }
    if (sn.lagMs !== undefined && ev.late !== true && sn.up) {
      const [lo, hi] = sn.lagMs
      const at = Math.max(this.now + lo + this.rng.next() * (hi - lo), sn.lagFloor)
      sn.lagFloor = at
      this.heap.push(at, { ...ev, late: true })
      return
    }
    this.handleNow(sn, ev)
  }

  /** Hand one input to its node now. */
  private handleNow (sn: SimNode, ev: NodeEv): void {
    switch (ev.k) {
      case 'wake': {
        if (!sn.up || sn.wakeAt !== ev.at) return
        sn.wakeAt = Infinity
        this.apply(sn, sn.node.tick(this.now))
        return
      }
      case 'msg': {
        if (!sn.up) return
        this.apply(sn, sn.node.handle(this.now, (this.nodes[ev.from] as SimNode).id, ev.msg))
        return
      }
      case 'req': {
        const from = this.nodes[ev.from] as SimNode
        let res: ResponseMsg | undefined
        if (sn.up) {
          const r = sn.node.handleRequest(this.now, from.id, ev.req)
          res = r.response
          this.count(res, res.t === 'sync' ? 'sync-res' : 'push-pull-res')
          this.apply(sn, r.out)
        }
        const lost = res === undefined || this.lost(sn, from)
        this.heap.push(this.now + this.latency(sn, from), { k: 'res', from: ev.to, to: ev.from, req: ev.req, res: lost ? undefined : res })
        return
      }
      case 'res': {
        if (!sn.up) return
        const peer = (this.nodes[ev.from] as SimNode).id
        if (ev.res === undefined) sn.node.requestFailed(this.now, peer, ev.req)
        else this.apply(sn, sn.node.handleResponse(this.now, peer, ev.res))
      }
    }
  }

  private count (msg: Packet | RequestMsg | ResponseMsg, kind: string): void {
    this.messagesSent++
    if (!this.countBytes) return
    const b = this.sizeOf(msg)
    this.bytesSent += b
    this.bytesByKind.set(kind, (this.bytesByKind.get(kind) ?? 0) + b)
  }

  private sendReq (sn: SimNode, to: number, req: RequestMsg): void {
    const target = this.nodes[to] as SimNode
    this.count(req, req.t === 'sync' ? 'sync-req' : 'push-pull-req')
    if (this.lost(sn, target)) {
      this.heap.push(this.now + 2 * this.latency(sn, target), { k: 'res', from: to, to: sn.index, req, res: undefined })
      return
    }
    this.heap.push(this.now + this.latency(sn, target), { k: 'req', from: sn.index, to, req })
  }

  /** Carry out a node's output and re-arm its wake-up (a paused node's timers wait for its resume). */
  apply (sn: SimNode, out: NodeOutput): void {
    if (!sn.up) return
    for (const { to, msg } of out.send) {
      const target = this.byId.get(to)
      this.count(msg, msg.t)
      if (target === undefined || this.lost(sn, target) || this.dropFilter?.(sn, msg) === true) continue
      this.heap.push(this.now + this.latency(sn, target), { k: 'msg', from: sn.index, to: target.index, msg })
    }
    for (const { to, req } of out.requests) {
      const target = this.byId.get(to)
      if (target !== undefined) this.sendReq(sn, target.index, req)
    }
    const w = Math.max(out.wakeAt, this.now)
    if (w < sn.wakeAt) {
      sn.wakeAt = w
      this.heap.push(w, { k: 'wake', i: sn.index, at: w })
    }
  }
}
