/** Defaults of the libp2p transport of @scalelb/gossip. */

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

/** Concurrent inbound gossip streams allowed per connection (one is normal; the rest cover reopen races). */
export const LIBP2P_MAX_GOSSIP_STREAMS = 4

/** Concurrent inbound sync streams allowed per connection. */
export const LIBP2P_MAX_SYNC_STREAMS = 8

/** Longest varint length prefix read (bytes); 5 covers lengths up to 2^35. */
export const MAX_LENGTH_PREFIX_BYTES = 5

/** Largest key file accepted by parseClusterKey (bytes). */
export const MAX_CLUSTER_KEY_FILE_BYTES = 4096
