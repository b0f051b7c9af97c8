/**
 * Defaults of `scalelb lab`, with units in the names. Each says why it has
 * the value it has.
 */

/** Where lab state lives (FHS runtime files: gone after a reboot, like the namespaces it describes). */
export const DEFAULT_LAB_STATE_DIR = '/run/scalelb-lab'
/** Where a non-root lab keeps its state (no write access to /run). */
export const DEFAULT_LAB_STATE_DIR_USER = '.scalelb-lab'
/** File name of a lab's state inside its directory. */
export const LAB_STATE_FILE = 'lab.json'
/** Format version written into the lab state file. */
export const LAB_STATE_VERSION = 1
/** Default number of hosts: the README's `--nodes 3`. */
export const DEFAULT_LAB_NODES = 3
/** Most hosts a lab builds: each is an agent process (~100-130 MiB RSS); 64 needs ~8 GiB (bench:cluster runs 50). */
export const MAX_LAB_NODES = 64
/** Chars of random hex in a lab prefix: 4 hex = 65536 labs; keeps `<prefix>-h32-` short enough for 15-char interface names. */
export const LAB_ID_HEX_CHARS = 4
/** First letters of every lab prefix: names in `ip netns list` / `ip link` say where they come from. */
export const LAB_PREFIX_HEAD = 'sl'
/** A caller's own prefix head (e.g. one per benchmark run): 2-3 chars, so an agent's `--netns-prefix` `<head><id>-h64-` stays within its 12 chars. */
export const LAB_PREFIX_HEAD_RE = /^[a-z][a-z0-9]{1,2}$/
/** The underlay is 172.31.<octet>.0/24 (RFC 1918; 172.31/16 is the least used /16 of 172.16/12). */
export const LAB_UNDERLAY_BASE = '172.31'
/** Underlay prefix length: one /24 holds hosts .1..(MAX_LAB_NODES) and helpers from .200 on. */
export const LAB_UNDERLAY_PREFIX_LEN = 24

/** First 16 bits of an IPv6 lab underlay (`lab up --underlay-v6`): `fd31:<id>::/64` (a unique local /64 per lab). */
export const LAB_UNDERLAY_V6_HEAD = 'fd31'

/** Prefix length of an IPv6 lab underlay. */
export const LAB_UNDERLAY_V6_PREFIX_LEN = 64
/** Host octet of helper netns on the underlay (monitoring, e.g. the Prometheus test) start here. */
export const LAB_HELPER_OCTET_MIN = 200
/** Gossip port of every agent (memberlist / Serf's 7946); each host has its own IP, so all share it. */
export const LAB_GOSSIP_PORT = 7946
/** Status server port of every agent (the agent's default 9470). */
export const LAB_METRICS_PORT = 9470
/** Without root the agents share 127.0.0.1; agent k listens on GOSSIP_BASE + k. Far from the defaults so a real agent on this host does not clash. */
export const LAB_LOOPBACK_GOSSIP_PORT_BASE = 27946
/** Without root agent k serves status on METRICS_BASE + k. */
export const LAB_LOOPBACK_METRICS_PORT_BASE = 29470
/** How long `lab up` waits for every agent to answer on its control socket and see all members (ms); agents start in parallel on 2 cores. */
export const LAB_AGENT_READY_TIMEOUT_MS = 60_000
/** Agents started at once; the next batch starts once these answer and have joined (50 starting together on 2 cores starved the seed's handshakes). */
export const LAB_START_BATCH = 8
/** Each agent joins through the first this many hosts (all up before it starts): one busy seed does not keep it out. */
export const LAB_JOIN_SEEDS = 3
/** How long `lab up --demo` waits for every host to program every backend (ms). */
export const LAB_CONVERGE_TIMEOUT_MS = 60_000
/** How long starting a demo task waits for its server to listen (ms): one `node` start, seconds on a loaded machine. */
export const LAB_TASK_READY_TIMEOUT_MS = 30_000
/** Polling interval of readiness / convergence checks (ms): short against convergence (~1-2 s), long against spawning a CLI. */
export const LAB_POLL_INTERVAL_MS = 250
/** A process gets this long after SIGTERM before SIGKILL (ms); the agent's own stop timeout is 10 s. */
export const LAB_STOP_GRACE_MS = 12_000
/** Port the demo task servers listen on. */
export const DEMO_TARGET_PORT = 8080
/** Requests each client sends to each VIP in the demo: enough to hit every task of a 5-task service with near certainty. */
export const DEMO_REQUESTS_PER_VIP = 60
/** Subnet of the demo network (RFC 1918, away from the underlay). */
export const DEMO_SUBNET = '10.77.0.0/16'

/** IPv6 subnet of the demo network beside {@link DEMO_SUBNET} (`lab up --demo --dual-stack`). */
export const DEMO_SUBNET_V6 = 'fd00:77::/64'
/** Timeout of one demo HTTP request (ms). */
export const DEMO_REQUEST_TIMEOUT_MS = 3_000
/** Lines of each agent's log printed when `lab up` fails (the logs are removed with the lab). */
export const LOG_TAIL_LINES = 15
