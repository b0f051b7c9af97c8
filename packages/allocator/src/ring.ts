/**
 * The ownership ring of one network: sorted, non-overlapping segments, each
 * `[start, end]` owned by one node at a version. Merge is a point-wise
 * maximum (higher version wins; equal version: lower owner ID wins), so it
 * is commutative, associative and idempotent: replicas that saw the same
 * tokens, in any order, hold the same ring.
 */
import { formatAddress, parseAddress, subnetOf, type Subnet } from './addr.js'
import { InvalidTokenError } from './errors.js'
import type { NodeId, RingToken, WriteRefusal } from './types.js'

/** One ring segment on the number line. */
export interface Segment {
  /** First address. */
  start: bigint
  /** Last address (inclusive). */
  end: bigint
  /** Owner. */
  owner: NodeId
  /** Version. */
  version: number
}

/** Longest owner ID accepted in a token. */
const MAX_OWNER_LENGTH = 256

/** True if `a` beats `b` on an address both cover. */
export function beats (a: Segment, b: Segment): boolean {
  return a.version > b.version || (a.version === b.version && a.owner < b.owner)
}

/** Wire form of a segment. */
export function toToken (s: Segment): RingToken {
  return { start: formatAddress(s.start), end: formatAddress(s.end), owner: s.owner, version: s.version }
}

/**
 * Validate tokens from outside (all of them, before anything changes).
 * @throws InvalidTokenError naming the field (`tokens[i].end`, ...)
 */
export function parseTokens (tokens: unknown, subnets: readonly Subnet[], field = 'tokens'): Segment[] {
  if (!Array.isArray(tokens)) throw new InvalidTokenError(field, tokens, 'not an array')
  const out: Segment[] = []
  for (let i = 0; i < tokens.length; i++) {
    const t: unknown = tokens[i]
    const f = `${field}[${i}]`
    if (typeof t !== 'object' || t === null) throw new InvalidTokenError(f, t, 'not an object')
    const { start, end, owner, version } = t as Record<string, unknown>
    let s: bigint
    let e: bigint
    try {
      s = parseAddress(start, `${f}.start`)
      e = parseAddress(end, `${f}.end`)
    } catch (err) {
      const ie = err as InvalidTokenError
      throw new InvalidTokenError(ie.field, ie.value, ie.message)
    }
    const sub = subnetOf(subnets, s)
    if (sub === undefined) throw new InvalidTokenError(`${f}.start`, start, 'not inside any subnet of the network')
    if (e < s || e > sub.last) throw new InvalidTokenError(`${f}.end`, end, `not between start and the end of subnet ${sub.cidr}`)
    if (typeof owner !== 'string' || owner.length === 0 || owner.length > MAX_OWNER_LENGTH) {
      throw new InvalidTokenError(`${f}.owner`, owner, `not a node ID (1..${MAX_OWNER_LENGTH} characters)`)
    }
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      throw new InvalidTokenError(`${f}.version`, version, 'not a positive safe integer')
    }
    out.push({ start: s, end: e, owner, version })
  }
  return out
}

/**
 * Point-wise maximum of segment sets (each may overlap the others), as a
 * canonical list: sorted, non-overlapping, adjacent segments of one owner and
 * version coalesced unless they lie in different subnets.
 */
export function mergeSegments (sets: ReadonlyArray<readonly Segment[]>, subnets: readonly Subnet[]): Segment[] {
  const all: Segment[] = []
  for (const set of sets) for (const s of set) all.push(s)
  if (all.length === 0) return []
  all.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  const points: bigint[] = []
  for (const s of all) { points.push(s.start); points.push(s.end + 1n) }
  points.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const out: Segment[] = []
  let active: Segment[] = []
  let next = 0
  let prevPoint = -1n
  for (let i = 0; i < points.length - 1; i++) {
    const p = points[i]
    if (p === prevPoint) continue
    prevPoint = p
    let j = i + 1
    while (j < points.length && points[j] === p) j++
    if (j >= points.length) break
    const q = points[j] - 1n
    while (next < all.length && all[next].start <= p) active.push(all[next++])
    active = active.filter((s) => s.end >= p)
    if (active.length === 0) continue
    let w = active[0]
    for (let k = 1; k < active.length; k++) if (beats(active[k], w)) w = active[k]
    const last = out[out.length - 1]
    if (last !== undefined && last.end + 1n === p && last.owner === w.owner && last.version === w.version &&
      !crossesSubnet(subnets, last.end, p)) {
      last.end = q
    } else {
      out.push({ start: p, end: q, owner: w.owner, version: w.version })
    }
  }
  return out
}

/** True if addresses `a` and `b = a + 1` lie in different subnets (`a` ends one). */
function crossesSubnet (subnets: readonly Subnet[], a: bigint, _b: bigint): boolean {
  for (const s of subnets) if (s.last === a) return true
  return false
}

/** Index of the segment covering `n`, or -1. */
export function findSegment (segs: readonly Segment[], n: bigint): number {
  let lo = 0
  let hi = segs.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const s = segs[mid]
    if (n < s.start) hi = mid - 1
    else if (n > s.end) lo = mid + 1
    else return mid
  }
  return -1
}

/**
 * True if merging `t` into `segs` changes nothing: one segment covers all of
 * `t` and is at least as strong. Cheap (binary search): most gossip merges
 * repeat tokens already held.
 */
export function isDominated (segs: readonly Segment[], t: Segment): boolean {
  const i = findSegment(segs, t.start)
  if (i < 0) return false
  const s = segs[i]
  return s.end >= t.end && (s.version > t.version || (s.version === t.version && s.owner <= t.owner))
}

/** Segments of `after` that are not exactly present in `before` (what a writer must publish). */
export function changedSegments (before: readonly Segment[], after: readonly Segment[]): Segment[] {
  const key = (s: Segment): string => `${s.start}|${s.end}|${s.owner}|${s.version}`
  const old = new Set(before.map(key))
  return after.filter((s) => !old.has(key(s)))
}

/** True if both lists are the same segments. */
export function sameSegments (a: readonly Segment[], b: readonly Segment[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x.start !== y.start || x.end !== y.end || x.owner !== y.owner || x.version !== y.version) return false
  }
  return true
}

/**
 * Judge token `t`, written (signed) by `writer`, against `self`'s ring `segs`.
 * Only the owner of a range gives it away (a donor writes the requester's
 * token), so a token from another node may not win over a segment `self`
 * owns, with one exception: a takeover, the writer claiming the range for
 * itself at most one version up (an heir taking a dead node's space, or the
 * lower ID of two heirs that took it at once), of a part where `self` holds
 * no address of its own (`holds(lo, hi)`): `self` was gone long enough to be
 * reclaimed and has nothing there to lose. Tokens about other nodes' ranges are not
 * judged: without the ring's history a node cannot tell a donation it
 * missed from a false claim.
 * @returns undefined when `t` may be merged
 */
export function refusal (segs: readonly Segment[], t: Segment, writer: NodeId, self: NodeId, holds: (lo: bigint, hi: bigint) => boolean): WriteRefusal | undefined {
  if (writer === self) return undefined
  // first segment ending at or after t.start
  let lo = 0
  let hi = segs.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (segs[mid].end < t.start) lo = mid + 1
    else hi = mid
  }
  for (let k = lo; k < segs.length && segs[k].start <= t.end; k++) {
    const s = segs[k]
    if (s.owner !== self || !beats(t, s)) continue
    const takeover = t.owner === writer && t.version <= s.version + 1
    if (!takeover || holds(s.start > t.start ? s.start : t.start, s.end < t.end ? s.end : t.end)) return 'own-range'
  }
  return undefined
}

/**
 * Deterministic heir of segment `i` (owned by a dead node): the owner of the
 * nearest preceding segment (wrapping) whose owner is not in `dead`; if none,
 * the lowest ID of `live` not in `dead`.
 */
export function heirOf (segs: readonly Segment[], i: number, dead: ReadonlySet<NodeId>, live: readonly NodeId[]): NodeId | undefined {
  for (let k = 1; k < segs.length; k++) {
    const s = segs[(i - k + segs.length) % segs.length]
    if (!dead.has(s.owner)) return s.owner
  }
  let best: NodeId | undefined
  for (const id of live) if (!dead.has(id) && (best === undefined || id < best)) best = id
  return best
}

/** FNV-1a 32-bit over `text`, from `seed`. */
function fnv1a (text: string, seed: number): number {
  let h = seed >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/**
 * Digest of the ranges `owner` holds in `segs` (16 hex characters): two
 * replicas whose rings agree on an owner's ranges give the same digest.
 * Not cryptographic: it only tells a stale published usage from a current one.
 */
export function ownerDigest (segs: readonly Segment[], owner: NodeId): string {
  let text = ''
  for (const s of segs) if (s.owner === owner) text += `${s.start.toString(36)}-${s.end.toString(36)}@${s.version};`
  return fnv1a(text, 0x811c9dc5).toString(16).padStart(8, '0') + fnv1a(text, 0x01000193).toString(16).padStart(8, '0')
}
