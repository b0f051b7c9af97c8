/** Public types of @scalelb/allocator. */

/** A node's ID (its libp2p PeerId string). Compared as strings: the lower ID wins ties. */
export type NodeId = string

/** What an address is used for. */
export type AddressKind = 'vip' | 'task' | 'lb'

/**
 * One range of a network's ownership ring, in wire form (plain data, fit for a
 * gossip table entry keyed `${networkId}/${start}`).
 * The range `[start, end]` (inclusive, one subnet) is owned by `owner`; only
 * the owner writes a token for its range, with a higher `version`.
 */
export interface RingToken {
  /** First address of the range, canonical form (`10.0.0.0`, `2001:db8::`). */
  start: string
  /** Last address of the range (inclusive). */
  end: string
  /** Node owning the range. */
  owner: NodeId
  /** Write version: merge keeps the higher one; ties go to the lower owner ID. */
  version: number
}

/**
 * Why a ring token written by another node is refused (see
 * {@link NodeAllocator.mergeTokens}): `own-range` it would win over a range
 * this node owns, and only an owner gives its ranges away (an heir's
 * takeover of a part holding none of this node's addresses excepted).
 */
export type WriteRefusal = 'own-range'

/** Result of {@link NodeAllocator.mergeTokens}. */
export interface MergeResult {
  /** True when this node's ring changed. */
  changed: boolean
  /**
   * Addresses this node had allocated in ranges it lost to another owner
   * (a same-version conflict): they are no longer allocated here, the users
   * of each must get a new address. Empty in a healthy cluster.
   */
  renumber: Array<{ address: string, kind: AddressKind, owner: string | undefined }>
  /** Set when this node's LB IP was among `renumber`: it was dropped and re-allocated (or undefined if that failed). */
  lbIpChanged?: { from: string, to: string | undefined }
  /** The IPv6 LB IP of a dual-stack network was lost to the merge: the new one, if it could be allocated. */
  lbIp6Changed?: { from: string, to: string | undefined }
  /** Tokens of a writer other than this node that were not merged, and why (only when `writer` was given). */
  refused?: Array<{ token: RingToken, reason: WriteRefusal }>
}

/** Addresses per use, and the space this node owns, in one network. */
export interface AddressCounts {
  /** Service VIPs allocated here. */
  vip: number
  /** Task addresses allocated here. */
  task: number
  /** LB IPs allocated here (0 or 1). */
  lb: number
  /** Owned addresses free now (not reserved, used or cooling down). Approximate above 2^53. */
  free: number
  /** Released addresses waiting for their cooldown to end. */
  cooling: number
  /** Addresses in ranges this node owns, including reserved ones. Approximate above 2^53. */
  owned: number
  /** Bitmap chunks of 1024 addresses the pool holds: memory follows this, not the size of the space. */
  bitmapChunks: number
}

/**
 * This node's free space in one network, as it publishes it to the others
 * (they decide "network full" and pick donors from it).
 */
export interface SpaceUsage {
  /** Owned addresses free now (not reserved, used or cooling down). Saturates above 2^53. */
  free: number
  /** Owned addresses released and cooling down. */
  cooling: number
  /** Addresses owned (reserved ones included). Saturates above 2^53. */
  owned: number
  /** When the next cooling address becomes free (ms, caller's clock), or undefined. */
  nextFreeAt: number | undefined
  /** Digest of this node's ranges in the ring: a reader trusts `free` only while its own ring gives the same digest. */
  digest: string
}

/** One owner of a network's ring, as this node's ring sees it. */
export interface RingOwner {
  /** The owner. */
  id: NodeId
  /** Addresses it owns. Saturates above 2^53. */
  addresses: number
  /** Digest of its ranges (compare with {@link SpaceUsage.digest} it published). */
  digest: string
}

/** The ring of one network as known here: who owns what, and whether it covers every subnet. */
export interface RingSpace {
  /** Usable addresses of all subnets (network and IPv4 broadcast addresses excluded). Saturates above 2^53. */
  usable: number
  /** True when the ring's ranges cover every address of every subnet (all tokens arrived). */
  complete: boolean
  /** Owners, sorted by ID. */
  owners: RingOwner[]
}

/** A dead node as seen by membership: dead since `deadSinceMs` (clock of the caller). */
export interface DeadOwner {
  /** The dead node. */
  id: NodeId
  /** When it was declared dead, ms. */
  deadSinceMs: number
}

/** An LB IP released by {@link NodeAllocator.tick} after the grace period. */
export interface ReleasedLbIp {
  /** The network. */
  networkId: string
  /** The LB IP that was released. */
  ip: string
}

/** Result of {@link NodeAllocator.localTaskAdded}. */
export interface LocalTaskResult {
  /** The node's LB IP on the network (IPv4 on a network with IPv4 subnets, else IPv6). */
  lbIp: string
  /** The node's IPv6 LB IP on a dual-stack network (IPv4 and IPv6 subnets). */
  lbIp6?: string
  /** True when this call allocated one of them (the first local task). */
  allocated: boolean
}

/** Options of {@link createNodeAllocator}. */
export interface NodeAllocatorInit {
  /** This node's ID. */
  self: NodeId
  /**
   * Space of a node dead this long is reclaimed by its heir.
   * @default RECLAIM_AFTER_MS (1 h)
   */
  reclaimAfterMs?: number
  /**
   * The LB IP is released this long after the last local task left.
   * @default LB_RELEASE_GRACE_MS (30 s)
   */
  lbReleaseGraceMs?: number
  /**
   * A released address is not reused for this long.
   * @default REUSE_COOLDOWN_MS (60 s)
   */
  reuseCooldownMs?: number
  /**
   * Prefix length of a donated IPv4 block.
   * @default BLOCK_PREFIX_V4 (26)
   */
  blockPrefixV4?: number
  /**
   * Prefix length of a donated IPv6 block.
   * @default BLOCK_PREFIX_V6 (122)
   */
  blockPrefixV6?: number
}

/** A network as the allocator knows it. */
export interface NetworkSummary {
  /** Network ID. */
  id: string
  /** Its subnets, canonical CIDR strings. */
  subnets: string[]
  /** Ranges owned by this node, as tokens. */
  owned: RingToken[]
  /** The node's LB IP, if it has one. */
  lbIp: string | undefined
  /** The node's IPv6 LB IP of a dual-stack network, if it has one. */
  lbIp6?: string
  /** Local tasks counted for the LB IP. */
  localTasks: number
}

/** One allocation held by this node. */
export interface Allocation {
  /** The address. */
  address: string
  /** Its use. */
  kind: AddressKind
  /** Free-form owner label (service or task ID) given at allocation. */
  owner: string | undefined
}

/**
 * Per-node allocator for all networks: ownership ring, pools, VIPs, task IPs
 * and the lazily allocated LB IP. Pure: time enters as `now` (ms), nothing is
 * read from a clock, no I/O.
 */
export interface NodeAllocator {
  /** This node's ID. */
  readonly self: NodeId
  /**
   * Create a network owned entirely by this node.
   * @returns the tokens to publish (one per subnet, version 1)
   * @throws InvalidCidrError | HostBitsSetError | OverlappingSubnetsError | SubnetTooSmallError | NetworkExistsError
   */
  createNetwork(networkId: string, subnets: readonly string[], now: number): RingToken[]
  /**
   * Know a network created by another node (ring empty until tokens are merged).
   * Idempotent for the same subnets.
   * @throws same as createNetwork
   */
  addNetwork(networkId: string, subnets: readonly string[]): void
  /** Forget a network: its allocations, LB IP and ring are dropped here. @returns the LB IP released, if any. */
  deleteNetwork(networkId: string): string | undefined
  /** IDs of known networks. */
  networks(): string[]
  /** True if the network is known. */
  hasNetwork(networkId: string): boolean
  /**
   * Merge tokens learned from peers (any order, any subset, duplicates fine).
   * All tokens are validated before anything changes. With `writer` (the
   * node that wrote and signed them), a token is refused (listed in
   * `refused`, the rest merged) when it would win over a range this node
   * owns and `writer` is another node, unless it is a takeover: `writer`
   * names itself owner at most one version up, of a part where this node
   * holds no task or LB address (service VIPs go with the range: the heir
   * holds them), as an heir does ({@link NodeAllocator.reclaim}).
   * @throws InvalidTokenError | UnknownNetworkError
   */
  mergeTokens(networkId: string, tokens: readonly RingToken[], now: number, writer?: NodeId): MergeResult
  /** The whole ring as known here, sorted by address. */
  tokens(networkId: string): RingToken[]
  /** Summary of the network as seen by this node. */
  ownedBy(networkId: string): NetworkSummary
  /**
   * Allocate an address of the given kind (next-fit in owned space), of
   * `family` 4 or 6 if given (else of any owned subnet).
   * @throws NeedSpaceError (ask a donor) | PoolExhaustedError | UnknownNetworkError
   */
  allocate(networkId: string, kind: AddressKind, now: number, owner?: string, family?: 4 | 6): string
  /**
   * Allocate one given address (must be owned by this node, free and not cooling down).
   * @throws AddressUnavailableError | InvalidAddressError | UnknownNetworkError
   */
  allocateSpecific(networkId: string, ip: string, kind: AddressKind, now: number, owner?: string): string
  /**
   * Release an allocated address; it cools down before reuse unless
   * `opts.cooldown` is false (an address that was never published, e.g. a
   * rolled-back allocation, can be reused at once).
   * @throws NotAllocatedError | InvalidAddressError | UnknownNetworkError
   */
  release(networkId: string, ip: string, now: number, opts?: { cooldown?: boolean }): void
  /** Allocations held by this node on the network, sorted by address. */
  allocations(networkId: string): Allocation[]
  /** Counts of the network. */
  counts(networkId: string): AddressCounts
  /**
   * This node's free space in the network at `now` (cooldowns ending by
   * `now` are applied first), to publish.
   * @throws UnknownNetworkError
   */
  usage(networkId: string, now: number): SpaceUsage
  /**
   * The owners of the network's ring as known here, with the digest of each
   * one's ranges, and whether the ring covers every subnet.
   * @throws UnknownNetworkError
   */
  ringSpace(networkId: string): RingSpace
  /**
   * Called on a node owning free space when `requester` asks for some: carves
   * a free block (halving down to one address if needed) out of this node's
   * ranges and writes the token naming the requester.
   * The donor keeps at least half of each of its ranges of two or more
   * addresses; a range of one free address is given whole, so any free
   * address can be donated (small subnets fill up completely). `family` limits the
   * search to IPv4 or IPv6 space; without it the family of the network's
   * first subnet is tried first.
   * @returns tokens to publish (and send to the requester), or undefined if this node has nothing free
   */
  donate(networkId: string, requester: NodeId, now: number, family?: 4 | 6): RingToken[] | undefined
  /**
   * Reclaim ranges of nodes dead at least `reclaimAfterMs` for which this node
   * is the deterministic heir: the owner of the nearest preceding range (in
   * ring order, wrapping) whose owner is not dead; if the ring has no such
   * owner, the lowest ID among `liveNodes` (and self).
   * @returns tokens this node wrote (publish them)
   */
  reclaim(networkId: string, deadOwners: readonly DeadOwner[], now: number, liveNodes?: readonly NodeId[]): RingToken[]
  /**
   * Give every range this node owns in the network to its heir (as
   * {@link NodeAllocator.reclaim} would pick it, this node counted dead) at
   * version + 1: this node leaves the cluster. Its allocations there are
   * dropped (service VIPs among them are held by the heir once it merges
   * the tokens: the agent does that). Ranges with no heir (no other owner in
   * the ring and no `liveNodes`) stay.
   * @returns tokens this node wrote (publish them)
   */
  handOver(networkId: string, liveNodes: readonly NodeId[]): RingToken[]
  /**
   * A local task attached to the network: allocates the LB IP (IPv4 when the
   * network has IPv4 subnets, else IPv6; and an IPv6 one beside it on a
   * dual-stack network) with the first one (cancels a pending release). Idempotent per task key; if the
   * allocation throws (NeedSpaceError), the task stays counted and the next
   * call retries.
   */
  localTaskAdded(networkId: string, taskKey: string, now: number): LocalTaskResult
  /** A local task left the network; the last one schedules the LB IP release after the grace period. */
  localTaskRemoved(networkId: string, taskKey: string, now: number): void
  /** The node's LB IP on the network, if allocated. */
  lbIp(networkId: string): string | undefined
  /** The node's LB IPs on the network, one per family (IPv4 first), those allocated. */
  lbIps(networkId: string): string[]
  /** Release LB IPs whose grace period ended. @returns what was released */
  tick(now: number): ReleasedLbIp[]
  /** When `tick` next has work (ms), or undefined. */
  nextDeadline(): number | undefined
  /** Snapshot of the whole state (msgpackr, versioned, checksummed). */
  serialize(): Uint8Array
}
