/** Defaults of the allocator, with the unit in each name. */

/**
 * A node's space of a node dead this long is taken over by its heir.
 * One hour, long enough for gossip to converge after any realistic partition.
 */
export const RECLAIM_AFTER_MS = 60 * 60 * 1000

/**
 * The LB IP of a network is kept this long after the last local task left,
 * so a task restart (crash loop, rolling update) does not churn the address.
 */
export const LB_RELEASE_GRACE_MS = 30 * 1000

/**
 * A released address is not handed out again for this long, so a stale
 * neighbour/conntrack entry elsewhere does not send traffic to a new owner.
 */
export const REUSE_COOLDOWN_MS = 60 * 1000

/** Prefix length of a donated IPv4 block (/26 = 64 addresses, as DESIGN.md). */
export const BLOCK_PREFIX_V4 = 26

/** Prefix length of a donated IPv6 block (/122 = 64 addresses, as DESIGN.md). */
export const BLOCK_PREFIX_V6 = 122

/** Longest IPv4 prefix a network subnet may have: a /30 still has 2 usable addresses. */
export const MAX_SUBNET_PREFIX_V4 = 30

/** Longest IPv6 prefix a network subnet may have: a /126 still has 3 usable addresses. */
export const MAX_SUBNET_PREFIX_V6 = 126

/** Most subnets one network may have (bounds work on bad input). */
export const MAX_SUBNETS_PER_NETWORK = 16

/** Snapshot format version written by {@link serialize}; others are rejected. */
export const SNAPSHOT_FORMAT_VERSION = 1

/** Bits of one pool chunk: a chunk is a bitmap of 2^10 = 1024 addresses, created only when used. */
export const POOL_CHUNK_BITS = 10
