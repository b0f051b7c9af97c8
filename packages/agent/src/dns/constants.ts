/** TTL of the answers the resolver gives itself (s): small, so a task removed elsewhere ages out of client caches quickly; Docker's embedded DNS gives 600 s, which is what made clients hold dead task IPs. */
export const DNS_TTL_S = 5

/** How long a forwarded query waits for each upstream before trying the next (ms); glibc waits 5 s per server, so SERVFAIL reaches the task first. */
export const DNS_UPSTREAM_TIMEOUT_MS = 2000

/** Port a task's resolver listens on. */
export const DNS_PORT = 53

/** Plain DNS UDP message limit without EDNS0 (RFC 1035 §2.3.4). */
export const DNS_UDP_LEGACY_BYTES = 512

/** Largest UDP answer the resolver gives whatever the querier's EDNS size (the DNS flag day 2020 value: no IP fragmentation on common paths). */
export const DNS_UDP_MAX_BYTES = 1232

/** EDNS0 UDP size the resolver advertises. */
export const DNS_EDNS_ADVERTISED_BYTES = 1232

/** Largest DNS message (TCP length prefix is 16 bits). */
export const DNS_MAX_MESSAGE_BYTES = 65535

/** Forwarded queries in flight at once per resolver; more are answered SERVFAIL at once (a flood cannot grow memory without bound). */
export const DNS_MAX_FORWARDS_IN_FLIGHT = 4096

/** Idle TCP connection from a task closed after this (ms), RFC 7766 suggests seconds. */
export const DNS_TCP_IDLE_MS = 10_000

/** TCP connections from tasks per network at once; more are closed at once. */
export const DNS_TCP_MAX_CONNECTIONS = 256

/** How long the helper that opens a sandbox's sockets may take (ms) before it is killed and retried. */
export const DNS_BIND_TIMEOUT_MS = 10_000

/** First retry after a sandbox's sockets could not be opened (ms); doubles up to {@link DNS_BIND_RETRY_MAX_MS}. */
export const DNS_BIND_RETRY_MIN_MS = 500

/** Longest wait between tries to open a sandbox's sockets (ms). */
export const DNS_BIND_RETRY_MAX_MS = 30_000

/** The host file the default upstreams come from. */
export const HOST_RESOLV_CONF = '/etc/resolv.conf'

/** Where `ip netns exec NAME` finds the namespace's own files (resolv.conf). */
export const NETNS_ETC_DIR = '/etc/netns'

/** Options written to a task's resolv.conf: glibc tries each nameserver 2 s, twice. */
export const TASK_RESOLV_OPTIONS: readonly string[] = ['ndots:0', 'timeout:2', 'attempts:2']

/** SOA names of the negative answers (RFC 2308 needs one; the values are only labels). */
export const DNS_SOA_MNAME = 'ns.scalelb.'
export const DNS_SOA_RNAME = 'hostmaster.scalelb.'

/** The resolver compares the sandboxes it serves with the desired state at least this often (ms), besides after every apply: a sandbox whose apply changed nothing in the kernel (re-desired after a brief absence) is served again within this. */
export const DNS_RESYNC_INTERVAL_MS = 2000

/**
 * How long a task add waits for the resolver to serve the task's network
 * before answering (ms): opening a new sandbox's sockets takes a helper
 * process, 0.1-0.3 s on a quiet machine; past this the task is added anyway
 * and its first lookups may be refused until the sockets are open.
 */
export const DNS_READY_TIMEOUT_MS = 5000
