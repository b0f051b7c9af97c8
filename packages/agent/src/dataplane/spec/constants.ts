import { IPV4, IPV6 } from './family.js'

/**
 * Most slots one service port may use. A service's modulus is the sum of its
 * backends' weights (draining = 0), scaled down to at most this: balance is
 * then exact for equal weights and 1024 slots keep any count 1..1024 valid.
 */
export const MAX_SLOTS_PER_SERVICE = 1024

/** Modulus written in the `typeof` of the backends map (only the key type matters to nft). */
export const MAP_TYPEOF_MODULUS = 1024

/** VXLAN over IPv4 adds 50 bytes to an overlay frame's IP packet (20 IP + 8 UDP + 8 VXLAN + 14 inner Ethernet): overlay MTU = underlay MTU - 50. */
export const VXLAN_OVERHEAD_BYTES = 50

/** VXLAN over an IPv6 underlay adds 70 bytes (40 IP + 8 UDP + 8 VXLAN + 14 inner Ethernet): overlay MTU = underlay MTU - 70. */
export const VXLAN_OVERHEAD_BYTES_V6 = 70

/** VXLAN overhead over an underlay of family 4 or 6. */
export function vxlanOverhead (underlayFamily: 4 | 6): number {
  return underlayFamily === 6 ? VXLAN_OVERHEAD_BYTES_V6 : VXLAN_OVERHEAD_BYTES
}

/** Underlay MTU assumed when the underlay interface cannot be read (single host, memory programmer): Ethernet's. */
export const DEFAULT_UNDERLAY_MTU_BYTES = 1500

/** Overlay MTU used when nothing else is known: a 1500-byte underlay minus the VXLAN overhead. */
export const DEFAULT_OVERLAY_MTU_BYTES = DEFAULT_UNDERLAY_MTU_BYTES - VXLAN_OVERHEAD_BYTES

/**
 * Smallest overlay MTU accepted: IPv6's minimum link MTU (RFC 8200), not
 * IPv4's 576, so a network keeps working when the data plane gains IPv6
 * (dual-stack networks are planned); every real underlay (1500, 1460 in
 * clouds, 1420 under WireGuard) leaves far more than 1280 + 50.
 */
export const MIN_OVERLAY_MTU_BYTES = 1280

/** Largest MTU of a Linux link (IP packets are at most 64 KiB). */
export const MAX_LINK_MTU_BYTES = 65535

/** IANA VXLAN port (RFC 7348). */
export const VXLAN_DSTPORT = 4789

/** Sysctls of an LB sandbox, both families (kept in the family module: `AddressFamily.sandboxSysctls`). */
export const LB_SANDBOX_SYSCTLS: readonly string[] = [...IPV4.sandboxSysctls, ...IPV6.sandboxSysctls]

/** IPVS sysctls Docker sets in its LB sandbox (conntrack for SNAT, drop connections to removed/drained backends); IPVS keeps them under net.ipv4 for both families. */
export const IPVS_SYSCTLS: readonly string[] = [
  'net.ipv4.vs.conntrack=1',
  'net.ipv4.vs.expire_nodest_conn=1',
  'net.ipv4.vs.expire_quiescent_template=1'
]

/** First fwmark given to an IPVS service (Docker starts at 256 as well). */
export const IPVS_FWMARK_BASE = 256
