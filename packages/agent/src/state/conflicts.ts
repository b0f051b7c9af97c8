import { parseSubnet, type Subnet } from '@scalelb/allocator'
import type { NetworkValue } from './tables.js'

/**
 * Networks whose subnets overlap. The API refuses a subnet that overlaps a
 * network it knows, but two nodes that cannot reach each other (a partition)
 * can both accept one; once their entries meet, every node picks the same
 * winner from the table alone, so they agree without talking:
 *
 * - the network created first keeps its subnets: the smaller `createdMs`
 *   (the creator's wall clock, carried in the value and never rewritten, so
 *   the winner does not flip when a creator restarts and republishes its
 *   entries with a new Lamport time), then the smaller network id;
 * - networks are taken in that order and each one is kept unless a subnet of
 *   it overlaps a subnet of one kept before it; the others are conflicted
 *   (no kernel state, no new task) until the user removes them.
 *
 * A value without `createdMs` (written by an older agent) counts as created at 0.
 */

/** A conflicted network: the network that keeps the address space, and the subnets that overlap. */
export interface NetworkConflict {
  /** Id of the network that keeps the address space. */
  with: string
  /** Its name. */
  withName: string
  /** Its subnet that overlaps. */
  subnet: string
  /** The conflicted network's own subnet that overlaps it. */
  ownSubnet: string
}

/** Addresses of a CIDR as an inclusive range on the allocator's number line (IPv6 above IPv4). */
type CidrRange = Pick<Subnet, 'family' | 'first' | 'last'>

/** Range of a CIDR text (host bits ignored), or undefined when it is not one. Pure. */
export function cidrRange (cidr: string): CidrRange | undefined {
  try {
    const { family, first, last } = parseSubnet(cidr, 'subnet')
    return { family, first, last }
  } catch {
    return undefined
  }
}

function overlaps (a: CidrRange, b: CidrRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last
}

/** The first network (by name, then id) with a subnet overlapping one of `subnets`. Pure. */
export function findOverlap (subnets: readonly string[], networks: ReadonlyMap<string, NetworkValue>): { id: string, name: string, subnet: string, ownSubnet: string } | undefined {
  const own = subnets.map((s) => ({ s, r: cidrRange(s) }))
  const sorted = [...networks].sort(([ia, a], [ib, b]) => a.name < b.name ? -1 : a.name > b.name ? 1 : ia < ib ? -1 : 1)
  for (const [id, n] of sorted) {
    for (const subnet of n.subnets) {
      const r = cidrRange(subnet)
      if (r === undefined) continue
      const hit = own.find((o) => o.r !== undefined && overlaps(o.r, r))
      if (hit !== undefined) return { id, name: n.name, subnet, ownSubnet: hit.s }
    }
  }
  return undefined
}

/** Kept subnets of one family, disjoint and sorted by first address. */
interface Kept { range: CidrRange, id: string, name: string, subnet: string }

/** The kept subnet overlapping `r`, if any: CIDRs nest or are disjoint, and kept ones are disjoint, so one binary search finds it. */
function keptOverlapping (kept: readonly Kept[], r: CidrRange): Kept | undefined {
  let lo = 0
  let hi = kept.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((kept[mid] as Kept).range.first <= r.last) lo = mid + 1
    else hi = mid
  }
  const k = kept[lo - 1]
  return k !== undefined && k.range.last >= r.first ? k : undefined
}

/**
 * Conflicted networks of a `networks` table (network id -> conflict); the
 * rule is in this module's comment. Pure, the same for any order of the map;
 * O(n log n) in networks.
 */
export function networkConflicts (networks: ReadonlyMap<string, NetworkValue>): Map<string, NetworkConflict> {
  const out = new Map<string, NetworkConflict>()
  const order = [...networks].sort(([ia, a], [ib, b]) => {
    const ca = a.createdMs ?? 0
    const cb = b.createdMs ?? 0
    return ca !== cb ? ca - cb : ia < ib ? -1 : ia > ib ? 1 : 0
  })
  const kept: Record<4 | 6, Kept[]> = { 4: [], 6: [] }
  for (const [id, n] of order) {
    const ranges = n.subnets.map((subnet) => ({ subnet, range: cidrRange(subnet) }))
    let conflict: NetworkConflict | undefined
    for (const { subnet, range } of ranges) {
      const k = range === undefined ? undefined : keptOverlapping(kept[range.family], range)
      if (k !== undefined) {
        conflict = { with: k.id, withName: k.name, subnet: k.subnet, ownSubnet: subnet }
        break
      }
    }
    if (conflict !== undefined) {
      out.set(id, conflict)
      continue
    }
    for (const { subnet, range } of ranges) {
      if (range === undefined) continue
      const list = kept[range.family]
      // a network's own subnets may nest (a value from gossip): keep the list disjoint
      if (keptOverlapping(list, range) !== undefined) continue
      let at = list.findIndex((x) => x.range.first > range.first)
      if (at < 0) at = list.length
      list.splice(at, 0, { range, id, name: n.name, subnet })
    }
  }
  return out
}
