/** The per-node allocator: all networks of one node. */
import { familyOf, formatAddress, parseAddress, parseSubnets, type Family } from './addr.js'
import {
  BLOCK_PREFIX_V4, BLOCK_PREFIX_V6, LB_RELEASE_GRACE_MS, RECLAIM_AFTER_MS, REUSE_COOLDOWN_MS
} from './constants.js'
import {
  AddressUnavailableError, InvalidAddressError, InvalidInputError, InvalidOptionError, NeedSpaceError,
  NetworkExistsError, NotAllocatedError, PoolExhaustedError, UnknownNetworkError
} from './errors.js'
import { NetworkState, type AllocationInfo } from './network.js'
import {
  changedSegments, heirOf, isDominated, mergeSegments, ownerDigest, parseTokens, refusal, sameSegments, toToken, type Segment
} from './ring.js'
import { encodeSnapshot, type NetworkSnapshot } from './snapshot.js'
import type {
  AddressCounts, AddressKind, Allocation, DeadOwner, LocalTaskResult, MergeResult, NetworkSummary, NodeAllocator,
  NodeAllocatorInit, NodeId, ReleasedLbIp, RingOwner, RingSpace, RingToken, SpaceUsage
} from './types.js'

/** Options after defaults. */
export type ResolvedOptions = Required<NodeAllocatorInit>

const MAX_ID_LENGTH = 256
const KINDS: ReadonlySet<string> = new Set(['vip', 'task', 'lb'])
/** Shared records for allocations without an owner label (most task IPs): saves memory per address. */
const BARE: Readonly<Record<AddressKind, AllocationInfo>> = Object.freeze({
  vip: Object.freeze({ kind: 'vip', owner: undefined }),
  task: Object.freeze({ kind: 'task', owner: undefined }),
  lb: Object.freeze({ kind: 'lb', owner: undefined })
})
/** The allocation record of `kind` and `owner` (shared when there is no owner). */
export const info = (kind: AddressKind, owner: string | undefined): AllocationInfo => (owner === undefined ? BARE[kind] : { kind, owner })

/** Check an ID-like string (1..256 characters). @throws InvalidInputError naming `field` */
export function checkId (v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_LENGTH) {
    throw new InvalidInputError(field, v, `not a string of 1..${MAX_ID_LENGTH} characters`)
  }
  return v
}

function checkMs (v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidOptionError(field, v, 'not a finite number >= 0')
  return v
}

function checkPrefix (v: unknown, field: string, bits: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > bits) throw new InvalidOptionError(field, v, `not an integer 0..${bits}`)
  return v
}

/** Validate options and apply defaults. @throws InvalidOptionError | InvalidInputError */
export function resolveOptions (init: NodeAllocatorInit): ResolvedOptions {
  return {
    self: checkId(init.self, 'self'),
    reclaimAfterMs: checkMs(init.reclaimAfterMs ?? RECLAIM_AFTER_MS, 'reclaimAfterMs'),
    lbReleaseGraceMs: checkMs(init.lbReleaseGraceMs ?? LB_RELEASE_GRACE_MS, 'lbReleaseGraceMs'),
    reuseCooldownMs: checkMs(init.reuseCooldownMs ?? REUSE_COOLDOWN_MS, 'reuseCooldownMs'),
    blockPrefixV4: checkPrefix(init.blockPrefixV4 ?? BLOCK_PREFIX_V4, 'blockPrefixV4', 32),
    blockPrefixV6: checkPrefix(init.blockPrefixV6 ?? BLOCK_PREFIX_V6, 'blockPrefixV6', 128)
  }
}

function checkNow (now: unknown): number {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new InvalidInputError('now', now, 'not a finite number')
  return now
}

function checkKind (kind: unknown): AddressKind {
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw new InvalidInputError('kind', kind, "not one of 'vip', 'task', 'lb'")
  return kind as AddressKind
}

function checkFamily (family: unknown): Family | undefined {
  if (family === undefined || family === 4 || family === 6) return family
  throw new InvalidInputError('family', family, 'not 4 or 6')
}

/** Largest power of two <= n (n >= 1). */
function floorPow2 (n: bigint): bigint {
  let p = 1n
  while (p * 2n <= n) p *= 2n
  return p
}

/** Implementation of {@link NodeAllocator}. */
/**
 * True if this node holds an address of its own in `[lo, hi]`: a task or LB
 * address. Service VIPs do not count: they outlive the node that allocated
 * them, and an heir that takes the range over holds them too.
 */
function holdsOwn (net: NetworkState, lo: bigint, hi: bigint): boolean {
  for (const [n, a] of net.allocs) if (n >= lo && n <= hi && a.kind !== 'vip') return true
  return false
}

export class NodeAllocatorImpl implements NodeAllocator {
  /** This node. */
  readonly self: NodeId
  /** Options after defaults. */
  readonly opts: ResolvedOptions
  /** Networks by ID. */
  readonly nets = new Map<string, NetworkState>()

  constructor (opts: ResolvedOptions) {
    this.opts = opts
    this.self = opts.self
  }

  private net (networkId: string): NetworkState {
    const n = this.nets.get(networkId)
    if (n === undefined) throw new UnknownNetworkError(String(networkId))
    return n
  }

  createNetwork (networkId: string, subnets: readonly string[], now: number): RingToken[] {
    checkNow(now)
    checkId(networkId, 'networkId')
    const parsed = parseSubnets(subnets)
    if (this.nets.has(networkId)) throw new NetworkExistsError(networkId, 'already known here')
    const net = new NetworkState(networkId, parsed)
    net.setRing(parsed.map((s) => ({ start: s.first, end: s.last, owner: this.self, version: 1 })), this.self)
    this.nets.set(networkId, net)
    return net.segs.map(toToken)
  }

  addNetwork (networkId: string, subnets: readonly string[]): void {
    checkId(networkId, 'networkId')
    const parsed = parseSubnets(subnets)
    const have = this.nets.get(networkId)
    if (have !== undefined) {
      const a = have.subnets.map((s) => s.cidr).join(',')
      const b = parsed.map((s) => s.cidr).join(',')
      if (a !== b) throw new NetworkExistsError(networkId, `known with subnets ${a}, not ${b}`)
      return
    }
    this.nets.set(networkId, new NetworkState(networkId, parsed))
  }

  deleteNetwork (networkId: string): string | undefined {
    const net = this.net(networkId)
    this.nets.delete(networkId)
    return net.lbIp === undefined ? undefined : formatAddress(net.lbIp)
  }

  networks (): string[] {
    return [...this.nets.keys()]
  }

  hasNetwork (networkId: string): boolean {
    return this.nets.has(networkId)
  }

  /** Install a new ring; drop what this node lost. */
  private applyRing (net: NetworkState, segs: Segment[]): MergeResult['renumber'] {
    net.setRing(segs, this.self)
    const lost: MergeResult['renumber'] = []
    for (const [n, info] of net.allocs) {
      if (!net.owns(n)) {
        lost.push({ address: formatAddress(n), kind: info.kind, owner: info.owner })
        net.allocs.delete(n)
        net.pool.drop(n)
        if (net.lbIp === n) net.lbIp = undefined
        if (net.lbIp6 === n) net.lbIp6 = undefined
      }
    }
    for (const n of [...net.pool.cooling.keys()]) if (!net.owns(n)) net.pool.drop(n)
    return lost
  }

  mergeTokens (networkId: string, tokens: readonly RingToken[], now: number, writer?: NodeId): MergeResult {
    checkNow(now)
    const net = this.net(networkId)
    if (writer !== undefined) checkId(writer, 'writer')
    const refused: NonNullable<MergeResult['refused']> = []
    const incoming = parseTokens(tokens, net.subnets).filter((t) => {
      if (isDominated(net.segs, t)) return false
      const reason = writer === undefined ? undefined : refusal(net.segs, t, writer, this.self, (lo, hi) => holdsOwn(net, lo, hi))
      if (reason !== undefined) refused.push({ token: toToken(t), reason })
      return reason === undefined
    })
    const unchanged = (): MergeResult => refused.length > 0 ? { changed: false, renumber: [], refused } : { changed: false, renumber: [] }
    if (incoming.length === 0) return unchanged()
    const merged = mergeSegments([net.segs, incoming], net.subnets)
    if (sameSegments(merged, net.segs)) return unchanged()
    const hadLb = net.lbIp
    const hadLb6 = net.lbIp6
    const renumber = this.applyRing(net, merged)
    const result: MergeResult = { changed: true, renumber }
    if (refused.length > 0) result.refused = refused
    const lost = this.replaceLostLb(net, networkId, hadLb, 'lbIp', net.subnets[0].family, now)
    if (lost !== undefined) result.lbIpChanged = lost
    const lost6 = this.replaceLostLb(net, networkId, hadLb6, 'lbIp6', 6, now)
    if (lost6 !== undefined) result.lbIp6Changed = lost6
    return result
  }

  /**
   * An LB IP (`field`, of `family`) this node held before a merge and lost to
   * it: a new one when local tasks still need it (undefined `to` when none
   * could be had: the next local task retries). Undefined when not lost.
   */
  private replaceLostLb (net: NetworkState, networkId: string, had: bigint | undefined, field: 'lbIp' | 'lbIp6', family: Family, now: number): { from: string, to: string | undefined } | undefined {
    if (had === undefined || net[field] !== undefined) return undefined
    let to: string | undefined
    if (net.localTasks.size > 0) {
      try {
        to = this.allocate(networkId, 'lb', now, 'lb', family)
        net[field] = parseAddress(to, field)
      } catch {
        to = undefined
      }
    }
    return { from: formatAddress(had), to }
  }

  tokens (networkId: string): RingToken[] {
    return this.net(networkId).segs.map(toToken)
  }

  ownedBy (networkId: string): NetworkSummary {
    const net = this.net(networkId)
    return {
      id: net.id,
      subnets: net.subnets.map((s) => s.cidr),
      owned: net.owned.map(toToken),
      lbIp: net.lbIp === undefined ? undefined : formatAddress(net.lbIp),
      ...(net.lbIp6 === undefined ? {} : { lbIp6: formatAddress(net.lbIp6) }),
      localTasks: net.localTasks.size
    }
  }

  allocate (networkId: string, kind: AddressKind, now: number, owner?: string, family?: Family): string {
    checkNow(now)
    checkKind(kind)
    if (owner !== undefined) checkId(owner, 'owner')
    const fam = checkFamily(family)
    const net = this.net(networkId)
    net.pool.expire(now)
    const n = net.pool.findFree(net.ownedOf(fam), (x) => net.reserved(x))
    if (n === undefined) {
      const donors = net.donors(this.self, fam)
      if (donors.length > 0) throw new NeedSpaceError(networkId, donors, fam)
      throw new PoolExhaustedError(networkId, net.pool.cooling.size)
    }
    net.pool.set(n)
    net.pool.cursor = n
    net.allocs.set(n, info(kind, owner))
    return formatAddress(n)
  }

  allocateSpecific (networkId: string, ip: string, kind: AddressKind, now: number, owner?: string): string {
    checkNow(now)
    checkKind(kind)
    if (owner !== undefined) checkId(owner, 'owner')
    const net = this.net(networkId)
    const n = parseAddress(ip, 'ip')
    const s = formatAddress(n)
    if (!net.contains(n)) throw new InvalidAddressError('ip', ip, `not inside the subnets of network ${networkId}`)
    if (net.reserved(n)) throw new AddressUnavailableError(s, 'reserved')
    if (!net.owns(n)) throw new AddressUnavailableError(s, 'not-owned', net.ownerOf(n))
    net.pool.expire(now)
    if (net.allocs.has(n)) throw new AddressUnavailableError(s, 'in-use')
    if (net.pool.cooling.has(n)) throw new AddressUnavailableError(s, 'cooling')
    net.pool.set(n)
    net.allocs.set(n, info(kind, owner))
    return s
  }

  release (networkId: string, ip: string, now: number, opts: { cooldown?: boolean } = {}): void {
    checkNow(now)
    const net = this.net(networkId)
    const n = parseAddress(ip, 'ip')
    if (!net.allocs.has(n)) throw new NotAllocatedError(formatAddress(n))
    net.allocs.delete(n)
    if (net.lbIp === n) {
      net.lbIp = undefined
      net.lbReleaseAt = undefined
    }
    if (net.lbIp6 === n) net.lbIp6 = undefined
    if (this.opts.reuseCooldownMs > 0 && opts.cooldown !== false) net.pool.cool(n, now + this.opts.reuseCooldownMs)
    else net.pool.clear(n)
  }

  allocations (networkId: string): Allocation[] {
    const net = this.net(networkId)
    return [...net.allocs.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([n, i]) => ({ address: formatAddress(n), kind: i.kind, owner: i.owner }))
  }

  counts (networkId: string): AddressCounts {
    const net = this.net(networkId)
    const c = { vip: 0, task: 0, lb: 0 }
    for (const i of net.allocs.values()) c[i.kind]++
    const { total, reserved } = net.ownedSize()
    const free = total - BigInt(reserved + net.allocs.size + net.pool.cooling.size)
    return { ...c, free: Number(free), cooling: net.pool.cooling.size, owned: Number(total), bitmapChunks: net.pool.chunkCount }
  }

  usage (networkId: string, now: number): SpaceUsage {
    checkNow(now)
    const net = this.net(networkId)
    net.pool.expire(now)
    const { total, reserved } = net.ownedSize()
    const free = total - BigInt(reserved + net.allocs.size + net.pool.cooling.size)
    return { free: Number(free), cooling: net.pool.cooling.size, owned: Number(total), nextFreeAt: net.pool.nextExpiry(), digest: ownerDigest(net.segs, this.self) }
  }

  ringSpace (networkId: string): RingSpace {
    const net = this.net(networkId)
    let size = 0n
    let reserved = 0
    for (const sub of net.subnets) {
      size += sub.last - sub.first + 1n
      reserved += sub.family === 4 ? 2 : 1
    }
    const held = new Map<NodeId, bigint>()
    let covered = 0n
    for (const s of net.segs) {
      const n = s.end - s.start + 1n
      covered += n
      held.set(s.owner, (held.get(s.owner) ?? 0n) + n)
    }
    const owners: RingOwner[] = [...held.keys()].sort().map((id) => ({ id, addresses: Number(held.get(id)), digest: ownerDigest(net.segs, id) }))
    return { usable: Number(size - BigInt(reserved)), complete: covered === size, owners }
  }

  donate (networkId: string, requester: NodeId, now: number, family?: Family): RingToken[] | undefined {
    checkNow(now)
    checkId(requester, 'requester')
    if (requester === this.self) throw new InvalidInputError('requester', requester, 'a node cannot donate to itself')
    const fam = checkFamily(family)
    const net = this.net(networkId)
    net.pool.expire(now)
    const first = net.subnets[0].family
    const order: Family[] = fam !== undefined ? [fam] : [first, first === 4 ? 6 : 4]
    let block: Segment | undefined
    for (const f of order) {
      block = this.findBlock(net, f)
      if (block !== undefined) break
    }
    if (block === undefined) return undefined
    const written = this.write(net, [{ ...block, owner: requester }])
    return written.length > 0 ? written : undefined
  }

  /** Merge segments this node writes into its ring and apply it; the tokens to publish (what changed). */
  private write (net: NetworkState, writes: Segment[]): RingToken[] {
    const before = net.segs
    const merged = mergeSegments([before, writes], net.subnets)
    this.applyRing(net, merged)
    return changedSegments(before, merged).map(toToken)
  }

  /** A free aligned block to give away, at the version to write (owner filled in by the caller). */
  private findBlock (net: NetworkState, fam: Family): Segment | undefined {
    const owned = net.ownedOf(fam)
    const want = (f: Family): bigint => 1n << BigInt(f === 4 ? 32 - this.opts.blockPrefixV4 : 128 - this.opts.blockPrefixV6)
    let maxWant = 0n
    for (const s of owned) { const w = want(familyOf(s.start)); if (w > maxWant) maxWant = w }
    for (let size = maxWant; size >= 1n; size /= 2n) {
      for (let i = owned.length - 1; i >= 0; i--) {
        const s = owned[i]
        const segSize = s.end - s.start + 1n
        // keep half of a range; a range of one address is given whole (small subnets fill up)
        const cap = segSize < 2n ? 1n : floorPow2(segSize / 2n)
        const w = want(familyOf(s.start))
        if (size > w || size > cap) continue
        let top = ((s.end + 1n) / size) * size - size
        while (top >= s.start) {
          const hu = net.pool.highestUsed(top, top + size - 1n)
          if (hu === undefined) {
            // a block of 1 or 2 addresses may hold nothing but reserved ones
            const usable = size > 2n || !net.reserved(top) || (size === 2n && !net.reserved(top + 1n))
            if (usable) return { start: top, end: top + size - 1n, owner: '', version: s.version + 1 }
            top -= size
            continue
          }
          top = (hu / size) * size - size
        }
      }
    }
    return undefined
  }

  reclaim (networkId: string, deadOwners: readonly DeadOwner[], now: number, liveNodes: readonly NodeId[] = []): RingToken[] {
    checkNow(now)
    const net = this.net(networkId)
    if (!Array.isArray(deadOwners)) throw new InvalidInputError('deadOwners', deadOwners, 'not an array')
    const dead = new Set<NodeId>()
    const due = new Set<NodeId>()
    deadOwners.forEach((d, i) => {
      const id = checkId(d?.id, `deadOwners[${i}].id`)
      if (typeof d.deadSinceMs !== 'number' || !Number.isFinite(d.deadSinceMs)) {
        throw new InvalidInputError(`deadOwners[${i}].deadSinceMs`, d.deadSinceMs, 'not a finite number')
      }
      if (id === this.self) return
      dead.add(id)
      if (now - d.deadSinceMs >= this.opts.reclaimAfterMs) due.add(id)
    })
    if (!Array.isArray(liveNodes)) throw new InvalidInputError('liveNodes', liveNodes, 'not an array')
    // without a membership list there is no fallback heir (else every node would claim)
    const live = liveNodes.length === 0 ? [] : [...liveNodes.map((id, i) => checkId(id, `liveNodes[${i}]`)), this.self]
    const writes: Segment[] = []
    net.segs.forEach((s, i) => {
      if (due.has(s.owner) && heirOf(net.segs, i, dead, live) === this.self) {
        writes.push({ start: s.start, end: s.end, owner: this.self, version: s.version + 1 })
      }
    })
    return writes.length === 0 ? [] : this.write(net, writes)
  }

  handOver (networkId: string, liveNodes: readonly NodeId[]): RingToken[] {
    const net = this.net(networkId)
    if (!Array.isArray(liveNodes)) throw new InvalidInputError('liveNodes', liveNodes, 'not an array')
    const live = liveNodes.map((id, i) => checkId(id, `liveNodes[${i}]`)).filter((id) => id !== this.self)
    const gone = new Set([this.self])
    const writes: Segment[] = []
    net.segs.forEach((s, i) => {
      if (s.owner !== this.self) return
      const heir = heirOf(net.segs, i, gone, live)
      if (heir !== undefined) writes.push({ start: s.start, end: s.end, owner: heir, version: s.version + 1 })
    })
    return writes.length === 0 ? [] : this.write(net, writes)
  }

  localTaskAdded (networkId: string, taskKey: string, now: number): LocalTaskResult {
    checkNow(now)
    checkId(taskKey, 'taskKey')
    const net = this.net(networkId)
    net.localTasks.add(taskKey)
    net.lbReleaseAt = undefined
    let allocated = false
    if (net.lbIp === undefined) {
      net.lbIp = parseAddress(this.allocate(networkId, 'lb', now, 'lb', net.subnets[0].family), 'lbIp')
      allocated = true
    }
    // a dual-stack network (subnets sorted by address: IPv4 first): an IPv6 LB IP beside the IPv4 one
    if (net.lbIp6 === undefined && net.subnets[0].family === 4 && net.subnets.some((s) => s.family === 6)) {
      net.lbIp6 = parseAddress(this.allocate(networkId, 'lb', now, 'lb', 6), 'lbIp6')
      allocated = true
    }
    const r: LocalTaskResult = { lbIp: formatAddress(net.lbIp), allocated }
    if (net.lbIp6 !== undefined) r.lbIp6 = formatAddress(net.lbIp6)
    return r
  }

  localTaskRemoved (networkId: string, taskKey: string, now: number): void {
    checkNow(now)
    const net = this.net(networkId)
    if (!net.localTasks.delete(taskKey)) return
    if (net.localTasks.size === 0 && net.lbIp !== undefined) net.lbReleaseAt = now + this.opts.lbReleaseGraceMs
  }

  lbIp (networkId: string): string | undefined {
    const n = this.net(networkId).lbIp
    return n === undefined ? undefined : formatAddress(n)
  }

  lbIps (networkId: string): string[] {
    const net = this.net(networkId)
    return [net.lbIp, net.lbIp6].filter((n) => n !== undefined).map(formatAddress)
  }

  tick (now: number): ReleasedLbIp[] {
    checkNow(now)
    const out: ReleasedLbIp[] = []
    for (const net of this.nets.values()) {
      net.pool.expire(now)
      if (net.lbReleaseAt === undefined || net.lbReleaseAt > now) continue
      net.lbReleaseAt = undefined
      if (net.localTasks.size > 0 || net.lbIp === undefined) continue
      for (const ip of this.lbIps(net.id)) {
        this.release(net.id, ip, now)
        out.push({ networkId: net.id, ip })
      }
    }
    return out
  }

  nextDeadline (): number | undefined {
    let best: number | undefined
    for (const net of this.nets.values()) {
      if (net.lbReleaseAt !== undefined && (best === undefined || net.lbReleaseAt < best)) best = net.lbReleaseAt
    }
    return best
  }

  serialize (): Uint8Array {
    const networks: NetworkSnapshot[] = [...this.nets.values()].map((net) => ({
      id: net.id,
      subnets: net.subnets.map((s) => s.cidr),
      tokens: net.segs.map(toToken),
      allocs: [...net.allocs.entries()].map(([n, i]) => [formatAddress(n), i.kind, i.owner ?? null]),
      cooling: [...net.pool.cooling.entries()].map(([n, until]) => [formatAddress(n), until]),
      cursor: net.pool.cursor < 0n ? null : formatAddress(net.pool.cursor),
      localTasks: [...net.localTasks],
      lbIp: net.lbIp === undefined ? null : formatAddress(net.lbIp),
      lbReleaseAt: net.lbReleaseAt ?? null,
      lbIp6: net.lbIp6 === undefined ? null : formatAddress(net.lbIp6)
    }))
    return encodeSnapshot({ self: this.self, networks })
  }
}
