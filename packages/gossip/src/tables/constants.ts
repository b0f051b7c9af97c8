/**
 * Defaults and protocol limits of the replicated tables. Values follow
 * DESIGN.md ("Replicated tables") unless a comment says otherwise.
 *
 * Limits the tables share with membership and the codec (the reconnect
 * timeout, the datagram size, the retransmit multiplier, the longest node id)
 * are defined once, in the package's constants.ts, and used from there:
 * that module imports nothing, so tables depending on it cannot make a
 * cycle, and the package root never depends on a subfolder's constants.
 */
import { RECONNECT_TIMEOUT_MS } from '../constants.js'

/** Tombstones are kept this long (ms) before they are reaped (DESIGN.md: 30 min). */
export const TOMBSTONE_TTL_MS = 30 * 60 * 1000

/** Anti-entropy period per scope (ms). DESIGN.md: 2 s, because NetworkDB's 30 s made its slow tail. */
export const SYNC_INTERVAL_MS = 2000

/** Largest sync response we build, in estimated msgpack bytes (request/response frames may be bigger than datagrams). */
export const MAX_SYNC_RESPONSE_BYTES = 1024 * 1024

/** After leaveScope, a scope's tombstones are gossiped for at most this long (ms) before the scope is forgotten (15 sync intervals). */
export const SCOPE_LEAVE_LINGER_MS = 30_000

/**
 * Own entries of an earlier life (before a restart) that this process has
 * not written again within this long (ms) after its first tick are
 * tombstoned: the agent restores what it still owns right after start, so
 * what is left over is stale (e.g. tasks gone while the node was down).
 */
export const OWN_ADOPT_GRACE_MS = 10_000

/** Peers synced in parallel right after joining a scope (DESIGN.md: up to 3, never one after another). */
export const JOIN_SYNC_PEERS = 3

/**
 * Leaves of the bucketed digest: an entry lives in leaf hash(table, key) mod
 * DIGEST_LEAVES. Protocol constant: every node must use the same value.
 * 256 keeps a full digest around 2.5 KB and a differing leaf small for tables
 * of a few 10k entries.
 */
export const DIGEST_LEAVES = 256

/**
 * Buckets of the fine digest (a power of two, a multiple of DIGEST_LEAVES:
 * bucket hash(table, key) mod FINE_DIGEST_BUCKETS, so a leaf is the XOR of
 * its FINE_DIGEST_BUCKETS / DIGEST_LEAVES buckets). A node whose store of a
 * scope holds FINE_DIGEST_MIN_RECORDS records or more sends this digest in
 * its sync requests: a differing leaf of a big store holds tens of entries
 * of which a settling peer lacks a few, and the answer ships whole leaves
 * (buckets), so the finer digest makes a sync cost about the differing
 * entries. Protocol constant, as DIGEST_LEAVES.
 */
export const FINE_DIGEST_BUCKETS = 2048

/** Store size from which sync requests carry the fine digest (see FINE_DIGEST_BUCKETS). */
export const FINE_DIGEST_MIN_RECORDS = 1024

/**
 * After a fine-digest sync request to a peer failed, the peer is asked with
 * the leaves' digest for this long (an agent of an older version refuses
 * fine requests: a mixed-version cluster during a rolling upgrade).
 */
export const FINE_RETRY_MS = 3_600_000

/** The cluster-scope table holding which node joined which network scopes (key = node id, value = scope names). */
export const SCOPES_TABLE = 'scopes'

/** Most entries in one table message. */
export const MAX_ENTRIES_PER_MSG = 1024

/**
 * Relayed entries (other origins') queued for broadcast per scope, at most.
 * Fewest-sent go first, so every entry waiting to be sent once more delays
 * the next transmit of a fresh write: a backlog of 128 big entries (scope
 * claims of 400 B, 3 to a packet) held a cluster-wide write to one transmit
 * per ~14 rounds and its p99 to 12 rounds (networks scenario, 1,000 nodes in
 * 500 networks of 50); 32 keep it to a few rounds (4.8 rounds p99 there, as
 * without a backlog). A bigger burst (every node's claim when a whole cluster
 * starts) is carried by anti-entropy instead, which sends each missing entry
 * about once rather than 16-20 times per node. Serf bounds its broadcast
 * queue the same way (`MaxQueueDepth`).
 */
export const MAX_RELAYED_BROADCASTS = 32

/** Most entries in one sync response. */
export const MAX_SYNC_ENTRIES = 8192

/** Longest table name (UTF-16 code units). */
export const MAX_TABLE_LENGTH = 64

/** Longest key (UTF-16 code units). */
export const MAX_KEY_LENGTH = 512

/** Longest network id inside a `network:<id>` scope name. */
export const MAX_NETWORK_ID_LENGTH = 64

/** Largest Lamport time or seq accepted; far below 2^53 so a hostile peer cannot push our clock to where +1 is lost. */
export const MAX_COUNTER = 2 ** 48

/**
 * Furthest a remote Lamport time may be ahead of our clock and still be
 * admitted; also the most one entry can move it (see LamportClock). Why it
 * is safe for honest nodes: a clock advances only by its own writes and by
 * what it sees, so two sides of a partition diverge by at most the writes
 * made on the other side meanwhile. A generous cluster-wide write rate of
 * 10,000 writes/s (the agent writes a few entries per task change; measured
 * churn is 10 task events/s) for a whole reconnect timeout (24 h, after which
 * a dead member's entries are reaped anyway) is 8.64e8 writes, about 2^30;
 * 2^36 leaves a margin of 64x. A fresh node (clock 0) admits a cluster whose
 * clock is below 2^36 at once: 79 days of writes at that rate, 218 years at
 * 10 writes/s; beyond that it catches up at the refill rate.
 */
export const MAX_LAMPORT_JUMP = 2 ** 36

/**
 * The jump allowance refills from 0 to MAX_LAMPORT_JUMP in this long (ms):
 * the reconnect timeout, so a partition as long as it can last is healed
 * with a full allowance, and a member sending far-ahead values for ever moves
 * clocks by at most 2^36 a day (2^48, the counters' ceiling, is 4,096 days
 * away). The refill rate (795k/s) is 80x the write rate above.
 */
export const LAMPORT_JUMP_REFILL_MS = RECONNECT_TIMEOUT_MS

/**
 * Furthest an entry of our own origin may have its seq ahead of ours and be
 * admitted. Only an earlier life of this node (before a restart without
 * state) writes our origin honestly; 2^40 is 10,000 writes/s for 3.5 years.
 */
export const MAX_SEQ_JUMP = 2 ** 40

/** Deepest nesting of a value (arrays/objects). */
export const MAX_VALUE_DEPTH = 16

/** Most nodes (scalars, arrays, objects, keys) in one value. */
export const MAX_VALUE_NODES = 4096

/** Longest string inside a value (UTF-16 code units). */
export const MAX_VALUE_STRING_LENGTH = 16 * 1024

/** Largest encoded size of one entry (bytes); local writes above it are refused so every entry fits a message. */
export const MAX_ENTRY_BYTES = 32 * 1024

/**
 * Sync requests sent, one per sync interval, each to a random member, to
 * learn the Lamport times of this node's entries in a network scope that an
 * earlier life (a process before a restart, whose clock was lost) was in and
 * this process is not. Several, to different members, because one member's
 * copy may lack some entries while anti-entropy catches up; 5 at the 2 s
 * default interval span about the adoption grace (OWN_ADOPT_GRACE_MS).
 */
export const EARLIER_LIFE_PROBE_TRIES = 5

/** A sync response carries an origin's certificate when it holds at least this many of its entries in complete leaves (fewer are cheaper to verify one by one). */
export const CERT_MIN_ENTRIES = 32

/** Bytes of a sync response kept for certificates (a certificate is at most 256 * 16 + ~120 bytes). */
export const CERT_BUDGET_BYTES = 64 * 1024

/** Most certificates accepted in one sync response. */
export const MAX_CERTS_PER_RESPONSE = 64

/** Most certificates of other origins kept per scope (the oldest is dropped). */
export const MAX_STORED_CERTS = 4096

/** Most table names and origins the tables keep one shared copy of (tables/names.ts); more are stored as they came. */
export const MAX_NAMES = 65_536

/**
 * Size of the slabs stored signatures are copied into (tables/kept-bytes.ts):
 * 16 signatures share one ArrayBuffer (~13 bytes each of its overhead), and a
 * long-lived signature among short-lived ones pins at most this much.
 */
export const KEPT_BYTES_SLAB_BYTES = 1024

/** Most value shapes (key lists) received values are rebuilt for (tables/compact-value.ts); values of other shapes are kept as decoded. */
export const MAX_VALUE_SHAPES = 256
