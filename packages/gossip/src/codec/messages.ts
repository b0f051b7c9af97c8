import type { MemberState, NodeId, ScopeName } from '../types.js'
import type { SyncHash, SyncRequest, SyncResponse, TablesMsg } from '../tables/index.js'

/** Kinds of member update gossiped (piggybacked) between nodes. */
export type MemberUpdateKind = 'alive' | 'suspect' | 'dead' | 'left'

/** One piggybacked membership fact (memberlist alive/suspect/dead messages). */
export interface MemberUpdate {
  k: MemberUpdateKind
  id: NodeId
  inc: number
  /** Who suspects / declared dead (suspect, dead). */
  from?: NodeId
  /** Addresses (alive). */
  addrs?: string[]
  /** Announced restart (alive). */
  restarting?: boolean
  /**
   * `alive` and `left` only: the subject's Ed25519 signature over
   * membership/signing.ts `memberSigBytes` (kind, id, inc, addrs,
   * restarting), relayed unchanged. Absent only in unsigned clusters.
   */
  sig?: Uint8Array
  /**
   * `alive` only: the member's admission (a manager's signature over its ID,
   * sign/admission.ts), which a cluster requiring admission checks; relayed
   * unchanged.
   */
  adm?: Uint8Array
}

/** One member in a push-pull full state exchange. */
export interface MemberSnapshot {
  id: NodeId
  addrs: string[]
  state: MemberState
  inc: number
  restarting: boolean
  /**
   * The member's own signature of its latest word about itself: for state
   * `left`, of its `left` at `inc`; otherwise of its `alive` with `addrs`,
   * at `sigInc ?? inc`, restarting `sigRestarting ?? restarting`. Absent only
   * in unsigned clusters (and for seeded members known without one).
   */
  sig?: Uint8Array
  /** Incarnation of the signed `alive`, when not `inc` (a suspect or dead member suspected at a higher one). */
  sigInc?: number
  /** Restarting flag of the signed `alive`, when not `restarting`. */
  sigRestarting?: boolean
  /** The member's admission, with its signed `alive` (see MemberUpdate.adm). */
  adm?: Uint8Array
}

/** Packet kinds of the datagram protocol. */
export type PacketType = 'ping' | 'ack' | 'nack' | 'ping-req' | 'gossip' | 'push'

/**
 * A datagram. `ping` and `ping-req` carry `seq` and `target`; `ack`/`nack`
 * carry `seq`; any packet may piggyback member updates (`mb`) and table
 * messages (`tb`). `push` carries the table messages an anti-entropy sync
 * found the peer lacking. `sh` (on a `gossip` packet): digest hashes of
 * periodic syncs; a receiver whose digest of a scope differs answers with
 * that scope in `sd`, and the sender of the hash then runs the full sync.
 */
export interface Packet {
  t: PacketType
  seq?: number
  target?: NodeId
  mb?: MemberUpdate[]
  tb?: TablesMsg[]
  sh?: SyncHash[]
  sd?: ScopeName[]
}

/** Request of a request/response exchange. */
export type RequestMsg =
  | { t: 'push-pull', join: boolean, members: MemberSnapshot[] }
  | { t: 'sync', req: SyncRequest }

/** Response of a request/response exchange. */
export type ResponseMsg =
  | { t: 'push-pull', members: MemberSnapshot[] }
  | { t: 'sync', res: SyncResponse }
