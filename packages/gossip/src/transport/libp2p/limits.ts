import type { NodeId } from '../../types.js'
import type { InboundLimitError } from './errors.js'

/** Why an inbound stream or frame was refused (label values of the transport's `dropped`). */
export type LimitReason = InboundLimitError['reason']

/** Kinds of inbound streams counted per peer. */
export type InboundKind = 'gossip' | 'sync'

/** Limits of {@link InboundLimits}. */
export interface InboundLimitsInit {
  gossipPerPeer: number
  syncPerPeer: number
  syncTotal: number
  bufferedPerPeer: number
  bufferedTotal: number
}

interface PeerUse { gossip: number, sync: number, buffered: number }

/**
 * Per-peer and total budgets of what inbound streams may hold: open gossip
 * streams, sync requests being served, and bytes of partly received frames.
 * Pure bookkeeping (no I/O): the transport asks before it takes a stream or
 * buffers more, and releases what it took when the stream ends.
 */
export class InboundLimits {
  private readonly peers = new Map<NodeId, PeerUse>()
  private syncs = 0
  private bufferedNow = 0
  /** Highest total of buffered bytes seen. */
  peakBuffered = 0

  constructor (private readonly lim: InboundLimitsInit) {}

  /** Bytes of partly received frames held now, over all peers. */
  get buffered (): number { return this.bufferedNow }

  /** Take a stream slot of `kind` for `peer`; the reason if refused. */
  open (peer: NodeId, kind: InboundKind): LimitReason | undefined {
    const u = this.use(peer)
    if (kind === 'gossip') {
      if (u.gossip >= this.lim.gossipPerPeer) return 'stream-limit'
      u.gossip++
      return undefined
    }
    if (u.sync >= this.lim.syncPerPeer || this.syncs >= this.lim.syncTotal) return 'sync-limit'
    u.sync++
    this.syncs++
    return undefined
  }

  /** Give back a stream slot taken by `open`. */
  close (peer: NodeId, kind: InboundKind): void {
    const u = this.peers.get(peer)
    if (u === undefined) return
    if (kind === 'gossip') u.gossip = Math.max(0, u.gossip - 1)
    else if (u.sync > 0) { u.sync--; this.syncs-- }
    this.forget(peer, u)
  }

  /**
   * A stream of `peer` now holds `delta` more (or, negative, fewer) bytes.
   * Growth over the peer's or the total budget is refused (nothing is
   * recorded); shrinking always succeeds.
   */
  buffer (peer: NodeId, delta: number): boolean {
    if (delta === 0) return true
    const u = this.use(peer)
    if (delta > 0 && (u.buffered + delta > this.lim.bufferedPerPeer || this.bufferedNow + delta > this.lim.bufferedTotal)) {
      this.forget(peer, u)
      return false
    }
    u.buffered = Math.max(0, u.buffered + delta)
    this.bufferedNow = Math.max(0, this.bufferedNow + delta)
    if (this.bufferedNow > this.peakBuffered) this.peakBuffered = this.bufferedNow
    this.forget(peer, u)
    return true
  }

  private use (peer: NodeId): PeerUse {
    let u = this.peers.get(peer)
    if (u === undefined) {
      u = { gossip: 0, sync: 0, buffered: 0 }
      this.peers.set(peer, u)
    }
    return u
  }

  private forget (peer: NodeId, u: PeerUse): void {
    if (u.gossip === 0 && u.sync === 0 && u.buffered === 0) this.peers.delete(peer)
  }
}
