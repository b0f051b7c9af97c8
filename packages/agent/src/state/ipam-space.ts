/**
 * Where a network's free addresses are, from what this node knows: the ring
 * (who owns which range) and the usage each owner publishes (free and
 * cooling counts, with a digest of the ranges they were counted over). Pure:
 * decides "network full" and which donors to ask, never by timing out.
 */
import type { RingSpace, SpaceUsage } from '@scalelb/allocator'
import { USAGE_PUBLISH_CAP } from '../constants.js'
import type { Checked } from './tables.js'

/** `ipam-usage` table value: the origin's free space in one network. */
export interface UsageValue {
  /** Free addresses it owns, saturated at USAGE_PUBLISH_CAP. */
  free: number
  /**
   * Addresses cooling down after release, saturated at USAGE_PUBLISH_CAP;
   * published only while `free` is 0 (0 otherwise): the count matters only
   * when the network is full (the error says how many addresses come back),
   * and an owner with free space that published it would write a
   * cluster-wide entry for every task removed and again when its address
   * cools down.
   */
  cooling: number
  /** Digest of its ranges when counted ({@link SpaceUsage.digest}). */
  ring: string
  /**
   * Donation requests this origin answered lately ({@link servedTag}), newest
   * last: a requester trusts this usage as the answer to its own request
   * only when its tag is here (a usage written before the donor saw the
   * request may say "nothing free" about an address that is about to be freed).
   */
  served?: string[]
}

/** Most answered requests a usage entry names. */
export const SERVED_MAX = 8

const SERVED_RE = /^[^\s@]{1,180}@\d{1,16}$/

/** The tag naming one donation request in {@link UsageValue.served}: requester and the request's time. */
export function servedTag (requester: string, atMs: number): string {
  return `${requester}@${atMs}`
}

/** Gossip key of a usage entry. */
export function usageKey (networkId: string, node: string): string {
  return `${networkId}/${node}`
}

const DIGEST_RE = /^[0-9a-f]{1,64}$/

function isCount (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Validate an `ipam-usage` value from a peer. */
export function checkUsage (v: unknown): Checked<UsageValue> {
  if (v === null || typeof v !== 'object') return { ok: false, reason: 'usage: not an object' }
  const u = v as Record<string, unknown>
  if (!isCount(u.free)) return { ok: false, reason: 'usage.free: not a count' }
  if (!isCount(u.cooling)) return { ok: false, reason: 'usage.cooling: not a count' }
  if (typeof u.ring !== 'string' || !DIGEST_RE.test(u.ring)) return { ok: false, reason: 'usage.ring: not a digest' }
  const value: UsageValue = { free: u.free, cooling: u.cooling, ring: u.ring }
  if (u.served !== undefined) {
    if (!Array.isArray(u.served) || u.served.length > SERVED_MAX) return { ok: false, reason: `usage.served: not a list of at most ${SERVED_MAX} tags` }
    for (const [i, x] of u.served.entries()) {
      if (typeof x !== 'string' || !SERVED_RE.test(x)) return { ok: false, reason: `usage.served[${i}]: not a requester@time tag` }
    }
    value.served = [...u.served] as string[]
  }
  return { ok: true, value }
}

/**
 * What this node publishes for its own usage (counts saturated; cooling only while nothing is free, the
 * one case its count is read: a full network's error), naming the requests it answered lately.
 */
export function publishedUsage (u: SpaceUsage, served: readonly string[] = []): UsageValue {
  const v: UsageValue = { free: Math.min(u.free, USAGE_PUBLISH_CAP), cooling: u.free > 0 ? 0 : Math.min(u.cooling, USAGE_PUBLISH_CAP), ring: u.digest }
  if (served.length > 0) v.served = served.slice(-SERVED_MAX)
  return v
}

/** A node to ask for space. */
export interface Donor {
  id: string
  /** Published free addresses (saturated). */
  free: number
}

/** What this node knows of a network's free space. */
export interface SpaceView {
  /**
   * True only when the ring covers every subnet, every owner's published
   * usage matches the ring here, and none has a free address.
   */
  full: boolean
  /** Other owners publishing free addresses: most free first, then most space, then ID. */
  donors: Donor[]
  /** Other owners whose usage is unknown or stale here (no entry, or counted over other ranges). */
  unknown: string[]
  /** Usable addresses of the network. */
  total: number
  /** Addresses in use (allocated or cooling), meaningful when `full`. */
  used: number
  /** Addresses cooling down (saturated per owner). */
  cooling: number
}

/**
 * The network's free space as seen here.
 * @param ring this node's ring ({@link NodeAllocator.ringSpace})
 * @param own this node's own usage (authoritative for itself)
 * @param published usage entries of the other nodes, by node ID
 */
export function spaceView (self: string, ring: RingSpace, own: SpaceUsage, published: ReadonlyMap<string, UsageValue>): SpaceView {
  const donors: Array<Donor & { addresses: number }> = []
  const unknown: string[] = []
  let free = 0
  let cooling = 0
  for (const o of ring.owners) {
    if (o.id === self) {
      free += own.free
      cooling += own.cooling
      continue
    }
    const u = published.get(o.id)
    if (u === undefined || u.ring !== o.digest) {
      unknown.push(o.id)
      continue
    }
    free += u.free
    cooling += u.cooling
    if (u.free > 0) donors.push({ id: o.id, free: u.free, addresses: o.addresses })
  }
  donors.sort((a, b) => b.free - a.free || b.addresses - a.addresses || (a.id < b.id ? -1 : 1))
  const full = ring.complete && unknown.length === 0 && free === 0
  return { full, donors: donors.map(({ id, free }) => ({ id, free })), unknown, total: ring.usable, used: Math.max(0, ring.usable - free), cooling }
}
