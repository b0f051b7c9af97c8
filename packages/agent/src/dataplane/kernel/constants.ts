/** Longest Linux interface name (IFNAMSIZ - 1). */
export const IFNAME_MAX_CHARS = 15

/** Hex chars of the name hash in derived interface names: 10 hex = 40 bits, collision-free in practice per prefix. */
export const IFNAME_HASH_HEX_CHARS = 10

/** Kill a kernel command that hangs longer than this (ms); nft loads of 100k elements take ~1 s. */
export const KERNEL_COMMAND_TIMEOUT_MS = 120_000

/** PATH of kernel commands (`ip`, `nft`, `bridge`, `sysctl`, `ipvsadm`, `nsenter`): system directories only. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
