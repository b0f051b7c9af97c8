import type { OriginCert } from '../sign/entry.js'
import type { Keyring } from '../sign/keyring.js'
import type { RecordShare } from './share.js'
import type { Entry, EntryEvent, Member, NodeId, Rng, ScopeName } from '../types.js'

/**
 * Minimal structured logger (winston loggers fit it). Structurally the same
 * as the package's `Logger`, declared here so the tables module stands alone.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/** Options and components of {@link createTables}. */
export interface TablesInit {
  /** This node's id; the origin of every local write. */
  self: NodeId
  /** Seeded random source (sync peer choice, partial-leaf rotation). */
  rng: Rng
  /** How long tombstones are kept (ms). @default 1800000 (TOMBSTONE_TTL_MS) */
  tombstoneTtlMs?: number
  /** How long a dead member's entries stay suspended before they are reaped (ms). @default 86400000 (RECONNECT_TIMEOUT_MS) */
  reconnectTimeoutMs?: number
  /** Anti-entropy period per scope (ms). @default 2000 (SYNC_INTERVAL_MS) */
  syncIntervalMs?: number
  /**
   * Window around each periodic sync's due time in which its digest hash may
   * ride on a packet the node sends anyway (`syncHashesFor`): from half of
   * it before the due time; one not taken by half of it after is sent alone
   * (`tick`). 0: every periodic sync is sent alone when due.
   * @default 0
   */
  syncWindowMs?: number
  /**
   * Stagger periodic syncs: this node's run on its own grid of sync
   * intervals at a random phase (drawn once), and a scope's first periodic
   * sync is the first grid time at least half an interval after its join
   * sync (1/2 to 3/2 intervals after it), so nodes started together do not
   * all sync at the same instants, while one node's scopes still sync in
   * the same tick. false: one interval after the join sync.
   * @default true
   */
  staggerSyncs?: boolean
  /** Largest table message built for push-back (estimated msgpack bytes). @default 65536 (MAX_MESSAGE_BYTES) */
  maxMessageBytes?: number
  /** Largest sync response built (estimated msgpack bytes); must stay under the transport's request/response frame limit. @default 1048576 (MAX_SYNC_RESPONSE_BYTES) */
  maxSyncResponseBytes?: number
  /** Retransmit multiplier: each queued entry is sent retransmitMult * ceil(log10(n + 1)) times. @default 4 (RETRANSMIT_MULT) */
  retransmitMult?: number
  /** Relayed entries (of other origins) queued for broadcast per scope, at most; the most-sent go first. @default 32 (MAX_RELAYED_BROADCASTS) */
  maxRelayedBroadcasts?: number
  /** Logger; nothing is logged without one. */
  logger?: Logger
  /**
   * Keys to sign own entries and verify others'. Without one the tables are
   * unsigned (benchmarks and tests only): nothing is signed or checked.
   */
  keyring?: Keyring
  /** Who may write each key. @default any member, except the reserved `scopes` table (its key's node only) */
  authority?: AuthorityPolicy
  /**
   * Whether membership knows `id` (any state, until reaped): signed tables
   * accept entries only from known origins. The node passes its membership's
   * answer, so no node keeps a second set of every member.
   * @default the members `memberChanged` has told of
   */
  knowsMember?: (id: NodeId) => boolean
  /** Whether the cluster's managers revoked a member: its entries are refused (`revoked-origin`). @default none is */
  isRevoked?: (id: NodeId) => boolean
  /**
   * Share stored records with the other replicas of this process that are
   * given the same object (the simulator): one record per version instead of
   * one per node. @default undefined (real nodes: nothing to share)
   */
  shareRecords?: RecordShare
}

/** The live members as membership holds them, read when needed (no copy per node and tick). */
export interface LivePeers {
  /** Live member IDs (self may be included). */
  ids(): readonly NodeId[]
  /** Up to `want` distinct random live members, never self. */
  sample(want: number): NodeId[]
}

/**
 * Who may write or delete a key:
 * - `node`: only that node (its entries are signed with its node key);
 * - `manager`: any node holding the cluster manager key (entries signed with it);
 * - `any`: any member (signed with its node key);
 * - `refused`: nobody (a table this node does not know); `reason` is logged.
 */
export type Authority =
  | { kind: 'node', node: NodeId }
  | { kind: 'manager' }
  | { kind: 'any' }
  | { kind: 'refused', reason: string }

/** The authority of (scope, table, key); must be a pure function of its arguments, the same on every node. */
export type AuthorityPolicy = (scope: ScopeName, table: string, key: string) => Authority

/**
 * One entry on the wire, as a compact tuple:
 * live `[table, key, origin, lamport, seq, 0, value, sig]`,
 * tombstone `[table, key, origin, lamport, seq, 1, ageMs, sig]` where `ageMs` is how
 * long ago the sender learned of the delete (so every node reaps a tombstone at
 * about the same time and a reaped one is not re-learned). `sig` is the
 * owner's Ed25519 signature (sign/entry.ts: over everything but `ageMs`),
 * relayed unchanged; absent only in unsigned tables.
 */
export type WireEntry =
  | [table: string, key: string, origin: NodeId, lamport: number, seq: number, deleted: 0, value: unknown, sig?: Uint8Array]
  | [table: string, key: string, origin: NodeId, lamport: number, seq: number, deleted: 1, ageMs: number, sig?: Uint8Array]

/** Entries of one scope, piggybacked on gossip or pushed back after a sync. */
export interface TablesMsg {
  scope: ScopeName
  entries: WireEntry[]
}

/**
 * Anti-entropy digest of one scope: for every non-empty digest leaf, the XOR
 * of hash(table, key, origin, lamport, seq, deleted) of its entries, as flat
 * triples `[leaf, h1, h2, leaf, h1, h2, ...]` with strictly increasing leaves.
 * Size O(min(entries, DIGEST_LEAVES)).
 */
export interface SyncRequest {
  scope: ScopeName
  digest: number[]
  /**
   * The digest is of fine buckets (FINE_DIGEST_BUCKETS, `[bucket, h1, h2]*`),
   * not of leaves: sent by a node whose store of the scope is big.
   */
  fine?: true
}

/**
 * A scope's whole digest folded into 64 bits (two uint32 lanes, see
 * `digestHash`). Sent as a datagram for a periodic sync instead of the
 * digest: replicas that agree exchange nothing more; the receiver of one
 * that differs answers "differs" and the sender runs the full sync with it,
 * as it would have without the hash.
 */
export interface SyncHash {
  scope: ScopeName
  h: [number, number]
}

/** Answer to a {@link SyncRequest}. */
export interface SyncResponse {
  scope: ScopeName
  /** False if the responder is not in the scope (then nothing else is meaningful). */
  member: boolean
  /** Leaves (fine buckets if `fine`) whose entries are all in `entries` (sorted); the initiator pushes back what the responder lacks there. */
  complete: number[]
  /** Answers a fine digest: `complete` lists fine buckets. */
  fine?: true
  /** Responder's entries of differing leaves (all of the `complete` ones, maybe part of one more). */
  entries: WireEntry[]
  /** Certificates of origins with many entries in complete leaves (signed tables only; see sign/entry.ts). */
  certs?: OriginCert[]
}

/** Counters of the tables. */
export interface TablesStats {
  /** Stored records per scope (live, suspended and tombstones). */
  entries: Record<string, number>
  /** Sync exchanges completed as initiator. */
  syncs: number
  /** Sync hashes received that matched our digest (no exchange needed). */
  syncsAgreed: number
  /** Relayed entries dropped from a full broadcast queue (anti-entropy carries them; see maxRelayedBroadcasts). */
  broadcastsPruned: number
  /** Entries queued for broadcast now, all scopes. */
  broadcastsQueued?: number
  /** Entries put into gossip packets (one per entry per packet: transmits). */
  broadcastsSent?: number
  /** Entry versions this node wrote, and their estimated encoded bytes. */
  written?: number
  writtenBytes?: number
  /** Newer entry versions applied from gossip (broadcasts) and from anti-entropy (sync answers and push-backs). */
  learnedPush?: number
  learnedSync?: number
  /**
   * Remote entries refused before they were applied, by reason: `lamport-jump`, `seq-jump`,
   * `unsigned`, `bad-signature`, `not-owner`, `not-manager`, `refused-key`, `bad-cert`,
   * `unknown-origin` (an origin membership does not know).
   */
  dropped: Record<string, number>
}

/** A sync the node should run: send `req` to `to` and feed the answer to `handleSyncResponse`. */
export interface SyncPlan {
  to: NodeId
  req: SyncRequest
  /**
   * A periodic sync (not a join sync or a probe): the node may send only
   * the digest's hash (`SyncHash`) and leave the exchange to the receiver
   * if the digests differ.
   */
  periodic?: boolean
}

/**
 * Scoped replicated tables, sans-IO. The node drives it with `handle`, `tick`
 * and the sync handlers and carries the returned messages.
 */
export interface Tables {
  /** Write a value (local origin); returns the new entry. Throws a typed error for a bad scope/table/key or an oversized value. */
  set<V>(now: number, scope: ScopeName, table: string, key: string, value: V): Entry<V>
  /** Tombstone a key (no-op if it is already deleted). */
  delete(now: number, scope: ScopeName, table: string, key: string): void
  /** The entry of a key, tombstones included (status `deleted`). */
  get<V>(scope: ScopeName, table: string, key: string): Entry<V> | undefined
  /**
   * Live and suspended entries of a scope (optionally one table); excluded are
   * tombstones and every entry with status `deleted` (of a member that left,
   * or of a node whose current `scopes` record, newer than the entry, does not
   * list this network scope).
   */
  entries<V>(scope: ScopeName, table?: string): Entry<V>[]
  /** Join a scope: accept and sync its entries, announce it in the `scopes` table, sync with up to 3 peers at the next tick. */
  joinScope(now: number, scope: ScopeName): void
  /**
   * Leave a network scope: tombstone own entries there, announce it (our
   * `scopes` record without it, an empty list if no scope is left), then
   * forget the scope once the tombstones went out. Peers hide our entries
   * there that are older than that record even if every tombstone is lost.
   */
  leaveScope(now: number, scope: ScopeName): void
  /** Scopes joined (cluster first). */
  scopes(): ScopeName[]
  /** Live members of a scope, self included if joined. */
  scopeMembers(scope: ScopeName): NodeId[]
  /**
   * Subscribe to entry changes; returns an unsubscribe function. Fires on
   * every local change of an entry's version or status (live, deleted,
   * suspended), with the previous status (undefined for a new key), also when
   * an origin's membership or `scopes` record changes its entries' status;
   * not for a tombstone (or hidden entry) of a key that was unknown or
   * already deleted. Values are shared
   * with the store: treat them as read-only. A throwing listener is logged and
   * does not affect the others.
   */
  onEntry(cb: (ev: EntryEvent) => void): () => void
  /** Tell the tables a member's state (on every change, and once per known member). */
  memberChanged(now: number, member: Member): void
  /** Table messages to piggyback on the next gossip packet to `peer`, within `budgetBytes`. */
  broadcastsFor(peer: NodeId, budgetBytes: number, clusterSize: number): TablesMsg[]
  /**
   * Network scopes with queued broadcasts. Their entries only piggyback on
   * packets to members of the scope, so a node gossiping to random cluster
   * members should add a target from `scopeMembers(scope)` for each of these.
   */
  pendingScopes(): ScopeName[]
  /** Entries queued for broadcast in all scopes (0: no packet would carry a table message). */
  pendingBroadcasts(): number
  /** Merge a (validated) table message from `from`; `bySync` when it is a sync push-back (counted as learned by sync). */
  handle(now: number, from: NodeId, msg: TablesMsg, bySync?: boolean): void
  /** Anti-entropy and reaping. `alive` = live members (self may be included), as a list or a view. */
  tick(now: number, alive: readonly NodeId[] | LivePeers): { syncs: SyncPlan[], wakeAt: number }
  /** Answer a peer's digest. */
  handleSyncRequest(now: number, from: NodeId, req: SyncRequest): SyncResponse
  /**
   * A peer's digest hash: true if our digest of the scope differs (answer
   * "differs" so the peer runs the full sync), false if it agrees or we are
   * not in the scope.
   */
  handleSyncHash(now: number, from: NodeId, sh: SyncHash): boolean
  /**
   * The hashes of periodic syncs within their window (`syncWindowMs`) that
   * may ride on a packet the node is sending to `to` anyway: the scopes `to`
   * is a live member of. Each one returned counts as that scope's periodic
   * sync (its "differs" answer is taken from `to` only) and the next is due
   * a sync interval later.
   */
  syncHashesFor(now: number, to: NodeId): readonly SyncHash[]
  /**
   * `from` answered that its digest differs from the hash we sent it last for
   * `scope`: the full sync to run with it now; undefined if we sent it no
   * hash for that scope since the last answer (a stray or repeated answer).
   */
  handleSyncDiffers(now: number, from: NodeId, scope: ScopeName): SyncPlan | undefined
  /**
   * A sync request to `to` failed (refused, lost, timed out). A fine-digest
   * request refused by a peer that predates fine digests (its validator
   * drops the request) would fail for ever: after a failed fine request
   * this node asks `to` with the leaves' digest for FINE_RETRY_MS.
   */
  syncFailed(now: number, to: NodeId, req: SyncRequest): void
  /** Merge a sync answer; returns push-back messages to send to `from`. */
  handleSyncResponse(now: number, from: NodeId, res: SyncResponse): TablesMsg[]
  /** Graceful leave: tombstone every own entry (they are queued for broadcast). */
  leaveAll(now: number): void
  /** All records of a scope in wire form (tombstones included), sorted by table and key: for persistence and tests. */
  records(now: number, scope: ScopeName): WireEntry[]
  /** Counters. */
  stats(): TablesStats
}

