/** Defaults of the libp2p transport of @scalelb/gossip. */
import { MAX_REQUEST_BYTES } from '../../constants.js'

/** Protocol of the long-lived, one-way gossip stream (length-prefixed frames). */
export const GOSSIP_PROTOCOL = '/scalelb/gossip/1.0.0'

/** Protocol of one request/response exchange per stream (anti-entropy sync). */
export const SYNC_PROTOCOL = '/scalelb/sync/1.0.0'

/** Most open connections; above it the least recently used peer is disconnected. */
export const LIBP2P_MAX_CONNECTIONS = 128

/** A connection with no gossip or sync traffic for this long (ms) is closed. */
export const LIBP2P_IDLE_TIMEOUT_MS = 60_000

/** A dial (TCP + pnet + Noise + Yamux) must complete within this (ms). */
export const LIBP2P_DIAL_TIMEOUT_MS = 5_000

/** Longest deadline one dial may ask for (`dial(addr, { timeoutMs })`, e.g. a join through a busy seed node), ms. */
export const LIBP2P_MAX_DIAL_TIMEOUT_MS = 60_000

/**
 * An inbound connection's handshake (pnet + Noise + Yamux) must complete
 * within this (ms), or the dial timeout if longer: a node answering many
 * joiners at once on busy cores needs seconds per handshake.
 */
export const LIBP2P_INBOUND_UPGRADE_TIMEOUT_MS = 15_000

/** A connection we close (cap, idleness) is aborted if its close takes longer than this (ms). */
export const LIBP2P_CLOSE_TIMEOUT_MS = 1_000

/** Frames queued per peer while its connection or stream is being opened. */
export const LIBP2P_MAX_PENDING_FRAMES = 256

/** Bytes queued per peer while its connection or stream is being opened. */
export const LIBP2P_MAX_PENDING_BYTES = 1024 * 1024

/**
 * Inbound connections accepted per second from one host. libp2p defaults to 5,
 * too few when many agents share one address (tests, NAT); pnet + Noise
 * already reject strangers.
 */
export const LIBP2P_INBOUND_CONNECTIONS_PER_SECOND = 100

/**
 * Concurrent inbound gossip streams allowed per connection (libp2p's
 * `maxInboundStreams`) and per peer over all its connections (ours): one is
 * normal, the rest cover reopen races. Also our outbound limit per connection.
 */
export const LIBP2P_MAX_GOSSIP_STREAMS = 4

/**
 * Concurrent inbound sync streams (push-pull and anti-entropy requests being
 * read or answered) allowed per connection and per peer over all its
 * connections. A node syncs each joined scope with one random peer every
 * 2 s and answers take one round trip, so an honest peer rarely has more
 * than a few open at once; extra streams are reset and counted
 * (`sync-limit`), and the requester retries at its next sync.
 */
export const LIBP2P_MAX_SYNC_STREAMS = 8

/**
 * Inbound sync streams served at once over all peers; above it new ones are
 * refused (`sync-limit`). Generous (a cluster restart has every node sync
 * each scope with 3 peers at once, answered in one round trip): memory is
 * bounded by the byte budget below, this bounds the streams held open.
 */
export const LIBP2P_MAX_SYNC_STREAMS_TOTAL = 256

/**
 * Concurrent outbound sync requests per connection (libp2p's
 * `maxOutboundStreams` for the sync protocol): one per joined network scope
 * syncing with this peer in the same tick, plus push-pull.
 */
export const LIBP2P_MAX_OUTBOUND_SYNC_STREAMS = 32

/**
 * Streams a peer may open on one connection at the muxer (yamux), over all
 * protocols: the per-protocol limits above plus a few still negotiating
 * their protocol. yamux's default is 1,000.
 */
export const LIBP2P_MAX_MUXED_INBOUND_STREAMS = LIBP2P_MAX_GOSSIP_STREAMS + LIBP2P_MAX_SYNC_STREAMS + 4

/** Streams we open on one connection at the muxer: our gossip and sync limits plus a few closing. */
export const LIBP2P_MAX_MUXED_OUTBOUND_STREAMS = LIBP2P_MAX_GOSSIP_STREAMS + LIBP2P_MAX_OUTBOUND_SYNC_STREAMS + 4

/**
 * Bytes of partly received inbound frames held for one peer (all its gossip
 * and sync streams): one maximum-size request (8 MiB; an honest push-pull of
 * 100,000 members is about 6 MB, a sync digest 2.5 KB), raised to that plus
 * the gossip streams' frames when `maxRequestBytes` is set higher. Above it the frame
 * that asked for more is refused and counted (`buffer-limit`). Responses to
 * our own requests are not counted: they are bounded by what we asked, and
 * a peer filling the budget must not starve them.
 */
export const LIBP2P_MAX_BUFFERED_BYTES_PER_PEER = MAX_REQUEST_BYTES

/**
 * Bytes of partly received inbound frames held over all peers: 8 peers each
 * at their limit. Frames grow only as their bytes arrive, so this is what
 * peers sent, never what they announced.
 */
export const LIBP2P_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/** First buffer of a frame being read (bytes); it doubles as bytes arrive, up to the announced length. */
export const FRAME_INITIAL_BUFFER_BYTES = 4096

/** Longest varint length prefix read (bytes); 5 covers lengths up to 2^35. */
export const MAX_LENGTH_PREFIX_BYTES = 5

/** Largest key file accepted by parseClusterKey (bytes). */
export const MAX_CLUSTER_KEY_FILE_BYTES = 4096
