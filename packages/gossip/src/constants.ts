/**
 * Defaults of @scalelb/gossip. Values follow hashicorp/memberlist's
 * DefaultLANConfig unless a comment says otherwise.
 */

/** Version byte written first in every frame; frames with another version are dropped. */
export const CODEC_VERSION = 1

/** Largest datagram frame accepted (bytes); bigger ones are dropped as `size`. Also the largest table message (push-back) the tables build. */
export const MAX_MESSAGE_BYTES = 64 * 1024

/** Largest request/response frame accepted (push-pull state, sync) in bytes. */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024

/**
 * Budget for piggybacked broadcasts in one gossip packet. memberlist's 1400
 * (UDPBufferSize) keeps a UDP datagram within one Ethernet frame; our
 * datagrams are frames on a long-lived TCP stream, so that reason does not
 * hold, and 1400 bytes hold only 3 of the agent's signed endpoint entries
 * (~360 B each). At 50 nodes every entry is sent 8 times by every node, so
 * 1400-byte packets (3 targets per 200 ms round) cap a node at ~60 entry
 * transmits a second: past ~8 writes a second cluster-wide the queues back
 * up, relays are pruned and anti-entropy (every 2 s) carries the rest
 * (simulator, 50 nodes, 470-byte entries: p99 2.05 s at 10 writes/s and
 * 3.9 s at 50, against 0.75 and 0.85 s with this budget). The budget is a
 * ceiling, not a size: a packet carries what is queued, so at rest packets
 * are as small as before. 16 KiB is a quarter of what any agent of this
 * protocol accepts (MAX_MESSAGE_BYTES, 64 KiB, also in older versions).
 */
export const GOSSIP_PACKET_BYTES = 16 * 1024

/** Most piggybacked member updates or table messages in one decoded packet. */
export const MAX_ITEMS_PER_PACKET = 4096

/** Most sync digest hashes, or scopes answered "differs" (one per scope synced in a tick), in one decoded packet. */
export const MAX_SYNC_HASHES_PER_PACKET = 256

/** Most members in one push-pull state exchange. */
export const MAX_PUSH_PULL_MEMBERS = 100_000

/**
 * Furthest a suspect, dead or left claim may put a member's incarnation
 * ahead of the one we know; further ones are refused (counted as
 * `incarnation-jump`). An honest claim carries an incarnation its sender
 * learned from the member itself, so it is ahead of ours only by the member's
 * bumps we missed: one per restart, refutation or address change. A member
 * refuting a false suspicion every second for a whole 24 h partition makes
 * 86,400 (2^16.4); 2^20 leaves a margin of 12x. A forged claim far ahead
 * (2^48) is therefore refused everywhere and never needs refuting.
 */
export const MAX_INCARNATION_JUMP = 2 ** 20

/**
 * Furthest an `alive` (the member's own word, e.g. a refutation) may put its
 * incarnation ahead of the one we know, and furthest a claim about
 * ourselves may be ahead of our own incarnation for us to refute it (above,
 * nobody who knows us can have taken it). Much larger than
 * MAX_INCARNATION_JUMP so that a refutation of any claim others admitted is
 * admitted too, also by members whose view of the refuting member lags.
 */
export const MAX_ALIVE_INCARNATION_JUMP = 2 ** 32

/** Longest node ID accepted (UTF-16 code units), as a member and as a table entry's origin. */
export const MAX_ID_LENGTH = 256

/** Most addresses per member, and longest address. */
export const MAX_ADDRS = 16
export const MAX_ADDR_LENGTH = 512

/**
 * Probe one member every this many ms (lan). Half of memberlist's 1 s: a
 * crashed member is first suspected sooner (simulator, 100 nodes: p99 1.5 s
 * against 5.9 s), which is what brings crash-to-withdrawn under 10 s while
 * the suspicion timeout still outlasts a 5 s pause (docs/scale.md).
 */
export const PROBE_INTERVAL_MS = 500
/** Wait this long for a direct ack before indirect probes (lan). */
export const PROBE_TIMEOUT_MS = 250
/** Gossip to `GOSSIP_NODES` members every this many ms (lan). */
export const GOSSIP_INTERVAL_MS = 200
/** Members gossiped to per gossip interval. */
export const GOSSIP_NODES = 3
/** Retransmits = RETRANSMIT_MULT * ceil(log10(n + 1)), for member updates and table entries alike. */
export const RETRANSMIT_MULT = 4
/**
 * Suspicion min = SUSPICION_MULT * max(1, log10(n)) * probeInterval: 6 s at
 * 100 members with the 500 ms interval, longer than the 5 s pause a member
 * must survive without being declared dead.
 */
export const SUSPICION_MULT = 6
/**
 * The suspicion timeout's floor (lan): a member paused for up to 5 s (a GC
 * pause, a stopped VM) must refute before anyone declares it dead, also in a
 * small cluster where mult * log10(n) * interval is shorter (3.9 s at 20).
 */
export const SUSPICION_FLOOR_MS = 6000
/** Suspicion max = SUSPICION_MAX_TIMEOUT_MULT * min. */
export const SUSPICION_MAX_TIMEOUT_MULT = 6
/** Members asked to probe indirectly. */
export const INDIRECT_CHECKS = 3
/**
 * A helper asked to probe indirectly nacks after this fraction of the probe
 * timeout without an ack. The ping-req leaves at the probe timeout and the
 * probe ends at the probe interval (500 ms later, lan): a helper waiting a whole
 * probe timeout nacked after the requester had counted its nack missing, so
 * every failed probe of a crashed member raised the prober's local health
 * score by the number of helpers, and probing slowed down cluster-wide.
 */
export const NACK_TIMEOUT_FRACTION = 0.8
/** Lifeguard local health score ceiling (score is 0..AWARENESS_MAX-1). */
export const AWARENESS_MAX = 8
/** Full state exchange with one random member every this many ms (memberlist: 30 s). */
export const PUSH_PULL_INTERVAL_MS = 30_000
/** Dead/left members are remembered this long, and a dead member's table entries stay suspended this long before they are reaped (Serf: 24 h; DESIGN.md). */
export const RECONNECT_TIMEOUT_MS = 24 * 60 * 60 * 1000
/** Try to reconnect to a failed member every this many ms (Serf: 30 s; shorter so partitions heal fast). */
export const RECONNECT_INTERVAL_MS = 10_000
/** Peers keep a restarting member live this long. */
export const RESTART_GRACE_MS = 30_000
/** Gossip to dead members for this long after they died (memberlist GossipToTheDeadTime). */
export const GOSSIP_TO_THE_DEAD_MS = 30_000
/** Timeout of a request/response exchange (push-pull, sync) in the driver. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Extra packets sent at once to announce a leave or a restart. */
export const ANNOUNCE_FANOUT = 3
