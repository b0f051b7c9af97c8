/**
 * State of one network on one node: its subnets, the ring as known here,
 * the pool over the ranges this node owns, the allocations, and the local
 * tasks that keep the LB IP.
 */
import { familyOf, isReserved, subnetOf, type Family, type Subnet } from './addr.js'
import { findSegment, type Segment } from './ring.js'
import { Pool } from './pool.js'
import type { AddressKind, NodeId } from './types.js'

/** What an allocated address is for. */
export interface AllocationInfo {
  /** Use. */
  readonly kind: AddressKind
  /** Free-form owner label. */
  readonly owner: string | undefined
}

/** One network's state on one node. */
export class NetworkState {
  /** Network ID. */
  readonly id: string
  /** Subnets, sorted by address. */
  readonly subnets: Subnet[]
  /** The ring: sorted, non-overlapping segments. */
  segs: Segment[] = []
  /** Segments owned by this node (cache of `segs`). */
  owned: Segment[] = []
  /** Used (allocated or cooling) addresses of the owned ranges. */
  readonly pool = new Pool()
  /** Allocations held by this node. */
  readonly allocs = new Map<bigint, AllocationInfo>()
  /** Local tasks on this network (they keep the LB IP). */
  readonly localTasks = new Set<string>()
  /** This node's LB IP on the network: IPv4 when the network has IPv4 subnets, else IPv6. */
  lbIp: bigint | undefined
  /** This node's second LB IP on a dual-stack network (IPv6). */
  lbIp6: bigint | undefined
  /** When the LB IP is due for release (no local task left), or undefined. */
  lbReleaseAt: number | undefined

  constructor (id: string, subnets: Subnet[]) {
    this.id = id
    this.subnets = subnets
  }

  /** Replace the ring and refresh the owned cache. */
  setRing (segs: Segment[], self: NodeId): void {
    this.segs = segs
    this.owned = segs.filter((s) => s.owner === self)
  }

  /** True if this node owns `n`. */
  owns (n: bigint): boolean {
    return findSegment(this.owned, n) >= 0
  }

  /** Owner of `n` per the ring, or undefined if no token covers it. */
  ownerOf (n: bigint): NodeId | undefined {
    const i = findSegment(this.segs, n)
    return i < 0 ? undefined : this.segs[i].owner
  }

  /** True if `n` is reserved (network/broadcast). */
  reserved (n: bigint): boolean {
    return isReserved(this.subnets, n)
  }

  /** Owned segments of one family (all if undefined). */
  ownedOf (family: Family | undefined): Segment[] {
    return family === undefined ? this.owned : this.owned.filter((s) => familyOf(s.start) === family)
  }

  /** Addresses owned by this node (bigint), and how many of them are reserved. */
  ownedSize (): { total: bigint, reserved: number } {
    let total = 0n
    let reserved = 0
    for (const s of this.owned) {
      total += s.end - s.start + 1n
      for (const sub of this.subnets) {
        if (sub.first >= s.start && sub.first <= s.end) reserved++
        if (sub.family === 4 && sub.last >= s.start && sub.last <= s.end) reserved++
      }
    }
    return { total, reserved }
  }

  /** Other owners in the ring, most owned space first (ties: lower ID). */
  donors (self: NodeId, family: Family | undefined): NodeId[] {
    const size = new Map<NodeId, bigint>()
    for (const s of this.segs) {
      if (s.owner === self || (family !== undefined && familyOf(s.start) !== family)) continue
      size.set(s.owner, (size.get(s.owner) ?? 0n) + (s.end - s.start + 1n))
    }
    return [...size.entries()]
      .sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : a[0] < b[0] ? -1 : 1))
      .map(([id]) => id)
  }

  /** True if `n` lies in one of the subnets. */
  contains (n: bigint): boolean {
    return subnetOf(this.subnets, n) !== undefined
  }
}
