import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import ipNum from 'ip-num'
import { ipNumber } from '../dataplane/lb/slots.js'

const { IPv4, IPv6, IPv4CidrRange, IPv6CidrRange } = ipNum

/** Address family of a CIDR's address part (0 when it is not an address). Pure. */
export function cidrFamily (cidr: string): 0 | 4 | 6 {
  return isIP(cidr.split('/')[0] ?? '') as 0 | 4 | 6
}

/**
 * Whether IPv4 `ip` is inside `cidr` (`a.b.c.d/len`), as ip-num's
 * IPv4CidrRange.contains answers, in integer arithmetic: the desired state
 * asks this for every LB endpoint of a network on every recompute, and
 * parsing both with ip-num cost ~4 % of a churning agent's CPU.
 * Undefined when `cidr` is not of that form (the caller asks ip-num).
 */
function ipv4InCidr (ip: string, cidr: string): boolean | undefined {
  const slash = cidr.indexOf('/')
  const len = Number(cidr.slice(slash + 1))
  const net = cidr.slice(0, slash)
  if (slash < 0 || !/^\d{1,2}$/.test(cidr.slice(slash + 1)) || len > 32 || isIP(net) !== 4) return undefined
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
  return ((ipNumber(ip) & mask) >>> 0) === ((ipNumber(net) & mask) >>> 0)
}

/** The subnet (of `subnets`) that contains `ip`, or undefined. Pure. */
export function subnetOf (ip: string, subnets: readonly string[]): string | undefined {
  const fam = isIP(ip)
  if (fam === 0) return undefined
  for (const s of subnets) {
    try {
      if (fam === 4 && cidrFamily(s) === 4) {
        if (ipv4InCidr(ip, s) ?? IPv4CidrRange.fromCidr(s).contains(IPv4.fromString(ip))) return s
      } else if (fam === 6 && cidrFamily(s) === 6) {
        if (IPv6CidrRange.fromCidr(s).contains(IPv6.fromString(ip))) return s
      }
    } catch {
      // a malformed subnet never contains anything
    }
  }
  return undefined
}

/** `ip/prefix` using the prefix of the subnet that contains it, or undefined. */
export function withPrefix (ip: string, subnets: readonly string[]): string | undefined {
  const s = subnetOf(ip, subnets)
  return s === undefined ? undefined : `${ip}/${s.split('/')[1] ?? ''}`
}

/**
 * A locally administered unicast MAC derived from (network, IP): stable, so a
 * re-added task or a restarted agent gets the same MAC. IPv4 follows Docker
 * (02:42 + the 4 address bytes); IPv6 hashes.
 */
export function macFor (networkId: string, ip: string): string {
  let bytes: number[]
  if (isIP(ip) === 4) {
    bytes = [0x02, 0x42, ...ip.split('.').map(Number)]
  } else {
    const h = createHash('sha256').update(`${networkId}/${ip}`).digest()
    bytes = [0x02, h[0] ?? 0, h[1] ?? 0, h[2] ?? 0, h[3] ?? 0, h[4] ?? 0]
  }
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':')
}

/** Family of a network's first address (its VIP, task and LB addresses in `ip`/`vips`): IPv4 when it has an IPv4 subnet, else IPv6. Pure. */
export function primaryFamily (subnets: readonly string[]): 4 | 6 {
  return subnets.some((s) => cidrFamily(s) === 4) ? 4 : 6
}

/** Whether a network has subnets of both families: its endpoints and services get a second, IPv6 address (`ip6`/`vips6`). Pure. */
export function isDualStack (subnets: readonly string[]): boolean {
  return subnets.some((s) => cidrFamily(s) === 4) && subnets.some((s) => cidrFamily(s) === 6)
}
