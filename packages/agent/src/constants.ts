/**
 * Defaults of the agent, with units in the names. Each says why it has the
 * value it has.
 */

/**
 * Node flags the agent runs with (bin/scalelb.js's first line, the image's
 * entrypoint, the lab): V8's young generation capped at 1 MiB per
 * semi-space. Node's default lets it grow to 16 MiB each (32 MiB committed
 * after the start-up's allocation burst, and kept): an idle agent's largest
 * single cost. The agent's steady allocation rate is low, so the extra
 * scavenges are few (README "Performance", `npm run bench:memory`).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1']

/** How often the memory trimmer reads RSS (one read of /proc/self/stat by libuv). */
export const MEMORY_CHECK_INTERVAL_MS = 10_000
/**
 * RSS growth over what the last trim left that calls for a GC and
 * malloc_trim: a large sync or programming burst (10k x 10 grows RSS by
 * hundreds of MiB), not the agent's normal drift. A memory-reducing GC of a
 * 130 MiB heap blocks the loop for 0.5-2 s on a loaded 2-core machine
 * (bench:memory), so only after such a burst.
 */
export const MEMORY_TRIM_GROWTH_BYTES = 32 * 1024 * 1024
/**
 * Longest time between two trims while RSS is settled: what a burst frees
 * after a trim taken during it never shows as growth. A trim with little to
 * return costs well under a millisecond.
 */
export const MEMORY_TRIM_MAX_INTERVAL_MS = 30_000
/** RSS counts as settled (the burst is over) when it grew by less than this since the previous check. */
export const MEMORY_TRIM_SETTLED_BYTES = 8 * 1024 * 1024

/** libp2p listen address: all interfaces, the memberlist/Serf port. */
export const DEFAULT_LISTEN = '/ip4/0.0.0.0/tcp/7946'
/** Status server address (metrics, health). 9470 is unassigned in the Prometheus port registry neighbourhood we use. */
export const DEFAULT_METRICS_ADDR = '0.0.0.0:9470'
/** Data directory when neither flag, env nor config sets one (FHS: variable state). */
export const DEFAULT_DATA_DIR = '/var/lib/scalelb'
/** Control API socket used when the data dir is the default one (FHS: runtime files). */
export const DEFAULT_API_SOCKET = '/run/scalelb/api.sock'
/** Name of the control socket inside a non-default data dir. */
export const API_SOCKET_NAME = 'api.sock'
/** Prefix of every netns / table the agent creates; short, so interface names fit 15 chars. */
export const DEFAULT_NETNS_PREFIX = 'slb-'
/** Peers keep a restarting node's entries live this long (DESIGN.md: restart grace 30 s). */
export const DEFAULT_RESTART_GRACE_MS = 30_000
/** Longest accepted restart grace: beyond an hour a dead node's tasks would linger. */
export const MAX_RESTART_GRACE_MS = 3_600_000
/** Longest accepted LB release grace: a held LB IP costs one address and one sandbox, so a day is plenty for any redeploy. */
export const MAX_LB_RELEASE_GRACE_MS = 24 * 3_600_000
/** Upper bound of an API request body: the largest legitimate body is a service with a few dozen ports. */
export const MAX_API_BODY_BYTES = 64 * 1024
/** Upper bound of a config file: it is a small JSON object. */
export const MAX_CONFIG_FILE_BYTES = 256 * 1024
/** How long `scalelb` CLI waits for the agent to answer one call. */
export const CLI_TIMEOUT_MS = 30_000
/** How long a stop waits for in-flight work (reconciler flush, HTTP close) before giving up. */
export const STOP_TIMEOUT_MS = 10_000
/** VNIs handed to new networks start here (Docker's overlay driver starts at 4096 too). */
export const VNI_MIN = 4096
/** Largest VXLAN VNI (24 bits). */
export const VNI_MAX = 16_777_215
/** Longest network / service name: fits in DNS labels and interface alias fields. */
export const MAX_NAME_LENGTH = 63
/**
 * Longest task id. Runtimes name containers by 64 hex digits (Docker,
 * Podman, containerd); the CNI spec sets no bound. 128 leaves room for a
 * runtime's prefix and keeps the endpoint key `<node>/<task>` far below the
 * gossip key limit.
 */
export const MAX_TASK_ID_LENGTH = 128

/** An interface name the kernel takes (IFNAMSIZ - 1 bytes, no `/`, `:` or blanks): `task add --ifname`, the CNI plugin's CNI_IFNAME, and the device names of the data plane's in-process netlink lines and reads. */
export const IFNAME_RE = /^[a-zA-Z0-9_.-]{1,15}$/
/** At most this many ports per service; each is a map element per backend slot. */
export const MAX_PORTS_PER_SERVICE = 64
/** At most this many subnets per network. */
export const MAX_SUBNETS_PER_NETWORK = 8
/** Length of generated IDs in hex characters (96 bits: no collisions in practice). */
export const ID_HEX_LENGTH = 24
/** File name of the node key inside the data dir. */
export const NODE_KEY_FILE = 'node.key'
/** File name of the node's admission inside the data dir (the default of --admission-file). */
export const ADMISSION_FILE = 'admission'
/** Largest cluster or manager key file read (bytes); the real ones are about 200. */
export const MAX_KEY_FILE_BYTES = 4096
/** File name of the persisted state (allocator snapshot + own entries) in the data dir. */
export const STATE_FILE = 'state.json'
/** Format version written into the state file. */
export const STATE_FORMAT_VERSION = 1
/** Name of the program (metrics prefix and CLI name). */
export const PROGRAM_NAME = 'scalelb'
/** Version reported in scalelb_build_info and `scalelb --version`. */
export const AGENT_VERSION = '0.1.0'
/**
 * Wait this long for one donor to hand over address space before asking the
 * next one: a request and its answer each cross the cluster in 2-3 gossip
 * rounds (200 ms at 20 nodes), so 2 s is about twice a round trip.
 */
export const DONATION_TIMEOUT_MS = 2_000
/**
 * An allocation that needs a donation gives up after this long (the API
 * call then fails with an error; nothing keeps asking in the background).
 * Well under API_REQUEST_DEADLINE_MS, so the caller gets the allocation's
 * own error rather than the generic deadline.
 */
export const ALLOCATION_DEADLINE_MS = 10_000
/**
 * How often the agent looks for address space of nodes gone for the
 * allocator's reclaimAfterMs (1 h): a minute late on an hour is nothing, and
 * the pass costs a walk over the ring owners of each network.
 */
export const RECLAIM_CHECK_MS = 60_000
/**
 * Every control API call is answered within this long, with an error if
 * the work did not finish (the work is abandoned): 10 s under the CLI's
 * CLI_TIMEOUT_MS, so the answer arrives before the client gives up.
 */
export const API_REQUEST_DEADLINE_MS = 20_000
/**
 * Published free/cooling counts of a node's space saturate here: exact
 * where it matters (small subnets, nearly full owners) while an owner with
 * more free addresses than this writes no gossip entry per allocation.
 */
export const USAGE_PUBLISH_CAP = 16
/**
 * A node asks for space when it learns a network (before any task needs an
 * address) only if the network holds at least this many donation blocks
 * per cluster member: a large subnet is not hurt by a block per node, a
 * small one (a /24 with 3 nodes, a /28) is never carved up ahead of need.
 */
export const PREFETCH_BLOCKS_PER_MEMBER = 4
/**
 * A donor gives a node no more space once it owns this many times its fair
 * share of a network (usable addresses / members alive), and at least
 * DONATION_QUOTA_MIN_BLOCKS blocks: a member asking again and again (one
 * holding the cluster key can) cannot drain a network, while a node running
 * several times its share of a network's tasks still gets space.
 */
export const DONATION_QUOTA_FAIR_SHARES = 4
/** See {@link DONATION_QUOTA_FAIR_SHARES}. */
export const DONATION_QUOTA_MIN_BLOCKS = 4
/** After a restart, keep the previous desired state this long after the join answered (two anti-entropy rounds + margin) before trusting the tables alone. */
export const WARMUP_AFTER_JOIN_MS = 5_000
/**
 * Deadline of one --join dial (ms), longer than the transport's 5 s: a seed
 * node answering many starting agents on busy cores completes handshakes
 * late, and a dial given up at 5 s wastes the work done for it on both sides.
 */
export const JOIN_DIAL_TIMEOUT_MS = 30_000
/** First retry of a --join that reached nobody; doubles up to JOIN_RETRY_MAX_MS (hosts boot in any order). */
export const JOIN_RETRY_MIN_MS = 1_000
/** Longest wait between --join retries while the node is alone. */
export const JOIN_RETRY_MAX_MS = 30_000
/**
 * Persist the desired state at most this often (it changes with every remote
 * event). It serves only the warm-up after a restart, as a union with what
 * the tables hold then (a graceful stop writes it at once, and a local
 * task's change writes the state file at once too), so after a crash it is
 * at most this old. Each write costs ~1.7 ms of CPU (a temp file, fsync,
 * rename, directory fsync): at 1 s that was ~5 % of a churning agent's CPU
 * (50 agents, 5 task events/s, docs/scale.md sixth pass).
 */
export const DESIRED_PERSIST_INTERVAL_MS = 10_000
/** File name of the TCP control API's bearer token inside the data dir (mode 0600). */
export const API_TOKEN_FILE = 'api.token'
/** Random bytes of a generated API token (256 bits: not guessable, hex in the file). */
export const API_TOKEN_BYTES = 32
/** Most connections the status server holds open: Prometheus and a few health checkers need a handful. */
export const STATUS_MAX_CONNECTIONS = 256
/** Share of the process's open-file limit the status server may use, so a flood on it cannot starve the control API, gossip or state writes. */
export const STATUS_FD_SHARE = 0.25
/** Most connections the control API holds open (socket + loopback TCP, each): CNI/runtime plugins issue a few calls at a time. */
export const API_MAX_CONNECTIONS = 512
/** Share of the open-file limit the control API may use per listener (the status server has its own share). */
export const API_FD_SHARE = 0.2
/** Fewest connections a listener is allowed even under a tiny open-file limit. */
export const MIN_LISTENER_CONNECTIONS = 16
/** The status server's wait for a request's headers: a scraper sends them at once (slowloris guard). */
export const STATUS_HEADERS_TIMEOUT_MS = 5_000
/** The status server's limit for a whole request: its requests are bodiless GETs. */
export const STATUS_REQUEST_TIMEOUT_MS = 10_000
/** Keep-alive between scrapes: shorter than Prometheus' 15 s default interval, so idle scrapers do not hold slots. */
export const STATUS_KEEPALIVE_TIMEOUT_MS = 5_000
/** A status connection with no traffic for this long is closed (a connection that never sends a request). */
export const STATUS_IDLE_TIMEOUT_MS = 10_000

/** Most endpoint origin timestamps kept per network while its programming is pending (programming latency metric); more are not observed. */
export const PENDING_ORIGINS_MAX = 1000

/**
 * Resolution of the event-loop delay histogram behind `nodejs_eventloop_lag_*`
 * (prom-client's `eventLoopMonitoringPrecision`, default 10 ms). Its timer
 * wakes the event loop every interval: at 10 ms, 100 wake-ups a second cost
 * ~0.5 % of a core per process here, as much as an idle agent's gossip; at
 * 100 ms ~0.05 %. A stall shorter than this can go unseen; longer ones are
 * what the metric is for.
 */
export const EVENT_LOOP_MONITORING_PRECISION_MS = 100
