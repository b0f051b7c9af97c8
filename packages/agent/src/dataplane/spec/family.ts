import { isIPv6 } from 'node:net'

/**
 * One IP address family as the data plane spells it: every family-specific
 * string of the nft tables, `ip` commands, sysctls and validators comes from
 * here, so IPv6 is a second {@link AddressFamily}, not a rewrite. The data
 * plane serves both in one {@link LB_NFT_FAMILY} table per sandbox.
 */
export interface AddressFamily {
  /** Short name. */
  readonly name: 'ipv4' | 'ipv6'
  /** Name in messages (`expected an IPv4 address`). */
  readonly label: 'IPv4' | 'IPv6'
  /** nftables family of the address (`dnat ip to`, `snat ip6 to`, `meta nfproto ipv4`: its {@link name}). The LB tables are {@link LB_NFT_FAMILY}. */
  readonly nft: 'ip' | 'ip6'
  /** Suffix of the family's maps, sets and chains in an LB table (`services`, `services6`; `m3`, `m6_3`). */
  readonly suffix: '' | '6'
  /** `ip -batch` options of an address added: IPv6 `nodad` (unique by allocation; DAD would hold it unusable for a second). */
  readonly addrFlags: '' | ' nodad'
  /** nft destination-address expression (`ip daddr`). */
  readonly daddr: 'ip daddr' | 'ip6 daddr'
  /** nft element type of an address in typed sets and maps (`type ipv4_addr . inet_proto ...`). */
  readonly addrType: 'ipv4_addr' | 'ipv6_addr'
  /** `family` of its addresses in `ip -j addr show` (`inet`). */
  readonly ipFamily: 'inet' | 'inet6'
  /** Prefix length of one host (VIP aliases on `lb0`): 32 / 128. */
  readonly hostPrefixLen: 32 | 128
  /** Longest valid prefix length (`addr/len`). */
  readonly maxPrefixLen: 32 | 128
  /** Example of an address with its prefix, for messages. */
  readonly cidrExample: string
  /** Smallest link MTU the kernel accepts for the family: 68 (RFC 791), 1280 (RFC 8200). */
  readonly minLinkMtu: number
  /**
   * How a node answers for its addresses on the overlay: ARP (IPv4) or NDP
   * (IPv6). The VXLAN device's `proxy` flag answers both from the permanent
   * neighbour entries, so no per-family setting is programmed for it today.
   */
  readonly neighbourProtocol: 'arp' | 'ndp'
  /** Sysctls of an LB sandbox: forward (it routes DNATed traffic back out its one interface), no redirects (clients must keep sending to the VIP). */
  readonly sandboxSysctls: readonly string[]
  /** Whether `s` is a textual address of this family. */
  isAddress(s: unknown): s is string
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** IPv4: what the data plane programs today. */
export const IPV4: AddressFamily = {
  name: 'ipv4',
  label: 'IPv4',
  nft: 'ip',
  suffix: '',
  addrFlags: '',
  daddr: 'ip daddr',
  addrType: 'ipv4_addr',
  ipFamily: 'inet',
  hostPrefixLen: 32,
  maxPrefixLen: 32,
  cidrExample: 'a.b.c.d/len',
  minLinkMtu: 68,
  neighbourProtocol: 'arp',
  sandboxSysctls: [
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.send_redirects=0',
    'net.ipv4.conf.default.send_redirects=0',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0'
  ],
  isAddress: (s: unknown): s is string => typeof s === 'string' && IPV4_RE.test(s)
}

/** IPv6: IPv6-only and dual-stack networks. */
export const IPV6: AddressFamily = {
  name: 'ipv6',
  label: 'IPv6',
  nft: 'ip6',
  suffix: '6',
  addrFlags: ' nodad',
  daddr: 'ip6 daddr',
  addrType: 'ipv6_addr',
  ipFamily: 'inet6',
  hostPrefixLen: 128,
  maxPrefixLen: 128,
  cidrExample: 'x:x::x/len',
  minLinkMtu: 1280,
  neighbourProtocol: 'ndp',
  // IPv6 has no send_redirects/rp_filter knobs; forwarding turns redirects' acceptance off. VIPs are
  // addresses of lb0, so the sandbox answers neighbour solicitations for them as it answers ARP for IPv4 ones
  sandboxSysctls: [
    'net.ipv6.conf.all.disable_ipv6=0',
    'net.ipv6.conf.default.disable_ipv6=0',
    'net.ipv6.conf.all.forwarding=1',
    'net.ipv6.conf.default.forwarding=1',
    'net.ipv6.conf.all.accept_ra=0',
    'net.ipv6.conf.default.accept_ra=0',
    'net.ipv6.conf.all.accept_dad=0',
    'net.ipv6.conf.default.accept_dad=0'
  ],
  isAddress: (s: unknown): s is string => typeof s === 'string' && isIPv6(s)
}

/** nftables family of the LB tables: `inet`, one table per sandbox serving both address families. */
export const LB_NFT_FAMILY = 'inet'

/** The families in the order the data plane lists them (IPv4 first: `lbAddresses`, maps, rules). */
export const FAMILIES: readonly AddressFamily[] = [IPV4, IPV6]

/** The family of an LB element key `vip . proto . port` or slot `ip . port` (an IPv6 address holds ':'). */
export function keyFamily (key: string): AddressFamily {
  return key.includes(':') ? IPV6 : IPV4
}

/** Sort order of addresses or keys in {@link FAMILIES} order (IPv4 first); stable within a family. */
export function familyOrder (a: string, b: string): number {
  return FAMILIES.indexOf(keyFamily(a)) - FAMILIES.indexOf(keyFamily(b))
}

/** The family of a textual address, undefined when it is neither. */
export function familyOf (address: unknown): AddressFamily | undefined {
  if (IPV4.isAddress(address)) return IPV4
  if (IPV6.isAddress(address)) return IPV6
  return undefined
}

/** The family of an address with or without its prefix length (`10.0.0.5/24`, `fd00::5/64`), undefined when it is neither. */
export function cidrAddressFamily (v: unknown): AddressFamily | undefined {
  return typeof v === 'string' ? familyOf(v.split('/')[0]) : undefined
}
