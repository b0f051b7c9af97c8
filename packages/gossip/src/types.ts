/**
 * Public contract of @scalelb/gossip, used by the agent. Extend freely; do not
 * break without updating the agent.
 */

/** A node's stable ID: its libp2p PeerId as a string (Ed25519). */
export type NodeId = string

/** Milliseconds on whatever clock drives the node (virtual in the simulator). */
export type Millis = number

/** Time source and timers: manual in tests and the simulator, real in the agent. */
export interface Clock {
  /** Current time in ms. */
  now(): Millis
  /** Run `fn` after `ms`; returns a function that cancels it. */
  setTimer(ms: Millis, fn: () => void): () => void
}

/** Seeded random source. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number
}

/** Membership states (SWIM + graceful leave). */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

/** One member as this node sees it. */
export interface Member {
  id: NodeId
  /** Addresses to (re)dial it at, in the transport's format. */
  addrs: string[]
  state: MemberState
  incarnation: number
  /** When the state last changed (ms, local clock). */
  since: Millis
  /** True while the member announced a restart and is within its restart grace. */
  restarting: boolean
}

/** Member change event. */
export interface MemberEvent {
  member: Member
  previous: MemberState | undefined
}

/** `cluster` (all members) or `network:<id>` (members that joined that network). */
export type ScopeName = 'cluster' | `network:${string}`

/** How a consumer should treat an entry. */
export type EntryStatus = 'live' | 'deleted' | 'suspended'

/** One replicated entry. */
export interface Entry<V = unknown> {
  scope: ScopeName
  table: string
  key: string
  /** undefined for tombstones. */
  value: V | undefined
  origin: NodeId
  lamport: number
  seq: number
  deleted: boolean
  /** live, deleted (tombstone) or suspended (its origin is dead or failed). */
  status: EntryStatus
}

/** Entry change event: emitted whenever an entry's value or status changes locally. */
export interface EntryEvent<V = unknown> {
  entry: Entry<V>
  previousStatus: EntryStatus | undefined
  /**
   * The value of the version before this event (the same as `entry.value`
   * when only the status changed); undefined when there was none or it was a
   * tombstone. Lets a reader that keeps no copy of the values (one reading
   * through to the store) undo what it derived from the previous version.
   */
  previousValue: unknown
}

/**
 * Message transport. Datagram-like `send` for gossip/probes, request/response
 * for sync. Implementations: in-memory (simulator, tests) and libp2p.
 */
export interface Transport {
  /** This node's ID. */
  readonly id: NodeId
  /** Addresses others can dial this node at. */
  addrs(): string[]
  start(): Promise<void>
  stop(): Promise<void>
  /** Resolve and connect an address; resolves to the peer's NodeId. `timeoutMs` replaces the transport's dial deadline for this dial. */
  dial(addr: string, opts?: { signal?: AbortSignal, timeoutMs?: number }): Promise<NodeId>
  /** Best-effort, fire-and-forget; may be dropped. */
  send(to: NodeId, bytes: Uint8Array): void
  /** Request/response exchange (anti-entropy sync). Rejects on failure/timeout. */
  request(to: NodeId, bytes: Uint8Array, opts?: { signal?: AbortSignal }): Promise<Uint8Array>
  /** Install the handler for incoming datagrams. */
  onMessage(handler: (from: NodeId, bytes: Uint8Array) => void): void
  /** Install the handler for incoming requests; its result is the response. */
  onRequest(handler: (from: NodeId, bytes: Uint8Array) => Promise<Uint8Array> | Uint8Array): void
  /** Remember how to reach a peer learned through gossip. */
  addPeerAddrs(id: NodeId, addrs: string[]): void
  /** Refuse these peers' connections and close the open ones (the whole set, replacing the last). Optional: without it, the gossip core drops what they send. */
  denyPeers?(ids: ReadonlySet<NodeId>): void
}

/** Gossip timing profile names. */
export type ProfileName = 'lan' | 'wan' | 'local'

/** Counters the core keeps; the agent exports them as Prometheus metrics. */
export interface GossipStats {
  messagesSent: Record<string, number>
  messagesReceived: Record<string, number>
  bytesSent: number
  bytesReceived: number
  /** Dropped inbound messages by reason (decode, version, schema, size, ...). */
  dropped: Record<string, number>
  syncs: number
  /** Periodic syncs answered by a matching digest hash alone (no exchange). */
  syncsAgreed: number
  entries: Record<string, number>
  /** How table entries flow through this node (counters, but `broadcastsQueued`). */
  flow: TableFlow
}

/** Table entry counters of one node (see TablesStats). */
export interface TableFlow {
  /** Entry versions written here, and their estimated encoded bytes. */
  written: number
  writtenBytes: number
  /** Newer entry versions applied from gossip broadcasts, and from anti-entropy (sync answers, push-backs). */
  learnedPush: number
  learnedSync: number
  /** Entries put into gossip packets (transmits). */
  broadcastsSent: number
  /** Entries queued for broadcast now (a gauge). */
  broadcastsQueued: number
  /** Relayed entries dropped from full broadcast queues. */
  broadcastsPruned: number
}

/** What the agent calls. Scope-level operations take the scope name. */
export interface Gossip {
  readonly id: NodeId
  start(): Promise<void>
  /** Stop. With `{ restart: true }` peers keep our entries live for the restart grace. */
  stop(opts?: { restart?: boolean }): Promise<void>
  /**
   * Dial and join via these addresses; resolves once at least one answered
   * (or rejects). `dialTimeoutMs` replaces the transport's dial deadline for
   * these dials (a seed node busy with many joiners answers late).
   */
  join(addrs: string[], opts?: { signal?: AbortSignal, dialTimeoutMs?: number }): Promise<number>
  /** Leave for good: tombstone own entries, announce leave, stop. */
  leave(opts?: { signal?: AbortSignal }): Promise<void>
  members(): Member[]
  onMember(cb: (ev: MemberEvent) => void): () => void
  /**
   * The members the cluster's managers revoked, whole (replaces the last
   * set; the application reads it from a manager-signed table). Each is held
   * left on this node: its entries withdrawn then reaped, its alive, packets,
   * requests and newer entries refused, and its connections closed and
   * refused by the transport, until it leaves the set.
   */
  revoke(ids: Iterable<NodeId>): void
  joinScope(scope: ScopeName): void
  leaveScope(scope: ScopeName): void
  scopes(): ScopeName[]
  /** Members that joined a scope (from the cluster-scope `scopes` table). */
  scopeMembers(scope: ScopeName): NodeId[]
  set<V>(scope: ScopeName, table: string, key: string, value: V): Entry<V>
  delete(scope: ScopeName, table: string, key: string): void
  get<V>(scope: ScopeName, table: string, key: string): Entry<V> | undefined
  entries<V>(scope: ScopeName, table?: string): Entry<V>[]
  onEntry(cb: (ev: EntryEvent) => void): () => void
  stats(): GossipStats
}
