/**
 * Address math. Addresses of both families live on one bigint number line:
 * IPv4 `a.b.c.d` is its 32-bit value, IPv6 is `V6_BASE + value`, so ranges of
 * the two families never touch and one sorted ring holds both.
 * Parsing and CIDR validation use ip-num; formatting is RFC 5952 canonical.
 */
import { IPv4, IPv4CidrRange, IPv6, IPv6CidrRange, Validator } from 'ip-num'
import { MAX_SUBNET_PREFIX_V4, MAX_SUBNET_PREFIX_V6, MAX_SUBNETS_PER_NETWORK } from './constants.js'
import {
  HostBitsSetError, InvalidAddressError, InvalidCidrError, OverlappingSubnetsError, SubnetTooSmallError
} from './errors.js'

/** Offset of IPv6 numbers on the shared number line. */
export const V6_BASE = 1n << 128n

/** Address family. */
export type Family = 4 | 6

/** A parsed subnet of a network. */
export interface Subnet {
  /** Canonical CIDR string. */
  cidr: string
  /** Family. */
  family: Family
  /** Prefix length. */
  prefix: number
  /** First address (number line). */
  first: bigint
  /** Last address (number line). */
  last: bigint
}

/** Family of a number-line address. */
export function familyOf (n: bigint): Family {
  return n >= V6_BASE ? 6 : 4
}

/** Format a number-line address in canonical form. */
export function formatAddress (n: bigint): string {
  if (n < V6_BASE) {
    const v = Number(n)
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`
  }
  let v = n - V6_BASE
  const groups: number[] = new Array<number>(8)
  for (let i = 7; i >= 0; i--) {
    groups[i] = Number(v & 0xffffn)
    v >>= 16n
  }
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first on ties
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':')
  if (bestStart < 0) return hex(groups)
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`
}

/**
 * Parse an address (IPv4 dotted quad without leading zeros, or IPv6 in any
 * valid notation) to the number line.
 * @throws InvalidAddressError naming `field`
 */
export function parseAddress (s: unknown, field: string): bigint {
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) {
    throw new InvalidAddressError(field, s, 'not an IPv4 or IPv6 address string')
  }
  const fast = parseCanonical(s)
  if (fast !== undefined) return fast
  if (s.includes(':')) {
    const [ok] = Validator.isValidIPv6String(s)
    if (!ok || s.includes('.') || s.includes('%')) throw new InvalidAddressError(field, s, 'not a valid IPv6 address')
    return V6_BASE + IPv6.fromString(s).getValue()
  }
  const [ok] = Validator.isValidIPv4String(s)
  if (!ok) throw new InvalidAddressError(field, s, 'not a valid IPv4 address')
  const n = IPv4.fromDecimalDottedString(s).getValue()
  if (formatAddress(n) !== s) throw new InvalidAddressError(field, s, 'not in canonical dotted-quad form (leading zeros?)')
  return n
}

/**
 * Fast path for the forms this package itself writes (dotted quad; lower-case
 * hex groups with at most one `::`). Anything else returns undefined and goes
 * through ip-num's validating parser.
 */
function parseCanonical (s: string): bigint | undefined {
  if (s.includes(':')) {
    const halves = s.split('::')
    if (halves.length > 2) return undefined
    const head = halves[0] === '' ? [] : halves[0].split(':')
    const tail = halves.length === 1 || halves[1] === '' ? [] : halves[1].split(':')
    const n = head.length + tail.length
    if (halves.length === 1 ? n !== 8 : n > 7) return undefined
    let v = 0n
    const push = (g: string): boolean => {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return false
      v = (v << 16n) | BigInt(parseInt(g, 16))
      return true
    }
    for (const g of head) if (!push(g)) return undefined
    for (let i = n; i < 8; i++) v <<= 16n
    for (const g of tail) if (!push(g)) return undefined
    return V6_BASE + v
  }
  const parts = s.split('.')
  if (parts.length !== 4) return undefined
  let v = 0
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const o = Number(p)
    if (o > 255) return undefined
    v = v * 256 + o
  }
  return BigInt(v)
}

/**
 * Parse one subnet in CIDR notation.
 * @throws InvalidCidrError | HostBitsSetError | SubnetTooSmallError naming `field`
 */
export function parseSubnet (s: unknown, field: string): Subnet {
  if (typeof s !== 'string' || s.length > 50) throw new InvalidCidrError(field, s, 'not a CIDR string')
  const slash = s.indexOf('/')
  if (slash < 0) throw new InvalidCidrError(field, s, 'missing /prefix')
  const addrPart = s.slice(0, slash)
  const prefixPart = s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixPart)) throw new InvalidCidrError(field, s, 'prefix is not a number')
  const prefix = Number(prefixPart)
  let n: bigint
  try {
    n = parseAddress(addrPart, field)
  } catch {
    throw new InvalidCidrError(field, s, 'address part is not a valid IP address')
  }
  const family = familyOf(n)
  const bits = family === 4 ? 32 : 128
  if (prefix > bits) throw new InvalidCidrError(field, s, `prefix longer than ${bits}`)
  const maxPrefix = family === 4 ? MAX_SUBNET_PREFIX_V4 : MAX_SUBNET_PREFIX_V6
  const cidr = `${formatAddress(n)}/${prefix}`
  const valid = family === 4 ? Validator.isValidIPv4CidrRange(cidr) : Validator.isValidIPv6CidrRange(cidr)
  if (!valid[0]) throw new HostBitsSetError(field, s, `host bits set after /${prefix}`)
  if (prefix > maxPrefix) {
    throw new SubnetTooSmallError(field, s, `prefix /${prefix} leaves fewer than 2 usable addresses (longest allowed /${maxPrefix})`)
  }
  const base = family === 4 ? 0n : V6_BASE
  const range = family === 4 ? IPv4CidrRange.fromCidr(cidr) : IPv6CidrRange.fromCidr(cidr)
  return { cidr, family, prefix, first: base + range.getFirst().getValue(), last: base + range.getLast().getValue() }
}

/**
 * Parse a network's subnets: at least one, at most MAX_SUBNETS_PER_NETWORK,
 * none overlapping. Returned sorted by address.
 * @throws InvalidCidrError | HostBitsSetError | SubnetTooSmallError | OverlappingSubnetsError
 */
export function parseSubnets (list: unknown, field = 'subnets'): Subnet[] {
  if (!Array.isArray(list) || list.length === 0) throw new InvalidCidrError(field, list, 'need a non-empty array of CIDR strings')
  if (list.length > MAX_SUBNETS_PER_NETWORK) throw new InvalidCidrError(field, list.length, `more than ${MAX_SUBNETS_PER_NETWORK} subnets`)
  const parsed = list.map((s, i) => parseSubnet(s, `${field}[${i}]`))
  for (let i = 0; i < parsed.length; i++) {
    for (let j = i + 1; j < parsed.length; j++) {
      const a = parsed[i]
      const b = parsed[j]
      if (a.first <= b.last && b.first <= a.last) {
        throw new OverlappingSubnetsError(`${field}[${j}]`, list[j], `overlaps ${field}[${i}] ${a.cidr}`)
      }
    }
  }
  return parsed.sort((a, b) => (a.first < b.first ? -1 : 1))
}

/** True if `n` is reserved in its subnet: the network address, and the IPv4 broadcast address. */
export function isReserved (subnets: readonly Subnet[], n: bigint): boolean {
  for (const s of subnets) {
    if (n === s.first) return true
    if (s.family === 4 && n === s.last) return true
  }
  return false
}

/** The subnet containing `n`, or undefined. */
export function subnetOf (subnets: readonly Subnet[], n: bigint): Subnet | undefined {
  for (const s of subnets) if (n >= s.first && n <= s.last) return s
  return undefined
}
