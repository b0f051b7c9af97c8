/** Longest Linux interface name (IFNAMSIZ - 1). */
export const IFNAME_MAX_CHARS = 15

/** Hex chars of the name hash in derived interface names: 10 hex = 40 bits, collision-free in practice per prefix. */
export const IFNAME_HASH_HEX_CHARS = 10

/** Kill a kernel command that hangs longer than this (ms); nft loads of 100k elements take ~1 s. */
export const KERNEL_COMMAND_TIMEOUT_MS = 120_000

/** PATH of kernel commands (`ip`, `nft`, `bridge`, `sysctl`, `ipvsadm`, `nsenter`): system directories only. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/**
 * Largest `nft -f -` script run in-process through libnftables (bytes). An
 * in-process call blocks the event loop while the kernel works; a one-backend
 * update is ~100 bytes, a full load of 10k services ~1 MB and ~1 s, which
 * goes through a `nft` process instead so gossip and the API keep running.
 */
export const NFT_IN_PROCESS_MAX_BYTES = 64 * 1024

/** A libnftables context kept for a netns (kernel/nft-lib.ts) is freed once unused this long (ms). */
export const NFT_CONTEXT_IDLE_MS = 30_000

/** Most libnftables contexts kept at once (one per netns); the least recently used goes first. */
export const MAX_NFT_CONTEXTS = 64
