import { encodeFrame } from '../../src/codec/codec.js'
import type { Packet, RequestMsg } from '../../src/codec/messages.js'
import { resolveConfig, type GossipConfig } from '../../src/config.js'
import { createNode, type GossipNode, type NodeOutput } from '../../src/node.js'
import { createSeededRng } from '../../src/rng.js'
import type { NodeId } from '../../src/types.js'

/** Sans-IO nodes that know each other, with instant delivery and requests answered at once. */
export class Mesh {
  now = 1_000_000
  readonly nodes = new Map<NodeId, GossipNode>()
  readonly wake = new Map<NodeId, number>()
  /** Every datagram sent: sender, receiver, packet. */
  readonly sent: Array<{ from: NodeId, to: NodeId, msg: Packet, at: number }> = []
  /** Datagrams this returns true for are lost. */
  drop: ((from: NodeId, msg: Packet) => boolean) | undefined

  /** Ticks run per node. */
  readonly ticks = new Map<NodeId, number>()

  constructor (ids: NodeId[], seed: string, skipIdleGossipRounds = false, cfg: GossipConfig = resolveConfig('lan')) {
    for (const id of ids) this.nodes.set(id, createNode({ id, addrs: [], cfg, rng: createSeededRng(`${seed}:${id}`), skipIdleGossipRounds }))
    for (const [id, n] of this.nodes) n.seed(this.now, ids.filter((x) => x !== id).map((x) => ({ id: x, addrs: [], state: 'alive' as const, inc: 0, restarting: false })))
    for (const [id, n] of this.nodes) this.apply(id, n.start(this.now))
  }

  get (id: NodeId): GossipNode { return this.nodes.get(id) as GossipNode }

  apply (from: NodeId, out: NodeOutput): void {
    this.wake.set(from, out.wakeAt)
    for (const { to, msg } of out.send) {
      this.sent.push({ from, to, msg, at: this.now })
      if (this.drop?.(from, msg) === true) continue
      const n = this.nodes.get(to)
      // through the codec, as on the wire
      if (n !== undefined) this.apply(to, n.receive(this.now, from, encodeFrame(msg)))
    }
    for (const { to, req } of out.requests) this.request(from, to, req)
  }

  request (from: NodeId, to: NodeId, req: RequestMsg): void {
    const n = this.nodes.get(to)
    if (n === undefined) return
    const { response, out } = n.handleRequest(this.now, from, req)
    this.apply(to, out)
    this.apply(from, this.get(from).handleResponse(this.now, to, response))
  }

  /** Advance to `until`, ticking each node at its wake-up time. */
  run (until: number): void {
    while (true) {
      let next = Infinity; let who: NodeId | undefined
      for (const [id, at] of this.wake) if (at < next) { next = at; who = id }
      if (who === undefined || next > until) break
      this.now = Math.max(this.now, next)
      this.ticks.set(who, (this.ticks.get(who) ?? 0) + 1)
      this.apply(who, this.get(who).tick(this.now))
    }
    this.now = until
  }
}
