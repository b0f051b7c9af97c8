/**
 * `--family 4|6|dual` of the data-plane benchmarks (bench:scale, bench:lb):
 * the same layout measured as IPv4, IPv6 (every address its twin in
 * fd00:80::/64) or dual-stack (both), and the suffix of each family's keys in
 * the JSON line.
 */
import type { BackendSpec, ServiceSpec } from '../src/dataplane/programmer/index.js'
import { BenchUsageError } from './common.js'

/** Address families a run measures: IPv4, IPv6, dual-stack. */
export type Family = '4' | '6' | 'dual'

/** Every family, in the order a run measures them. */
export const FAMILIES: readonly Family[] = ['4', '6', 'dual']

/** The IPv6 benchmark subnet: the twins of the IPv4 addresses (they exist only inside a run's own namespaces). */
export const SUBNET6 = 'fd00:80::/64'

/** `--family`: comma-separated families (default IPv4 only); throws {@link BenchUsageError} naming the flag. */
export function familiesFlag (raw: string | undefined): Family[] {
  const families = (raw ?? '4').split(',')
  for (const f of families) if (!FAMILIES.includes(f as Family)) throw new BenchUsageError(`--family: expected 4, 6 or dual (comma-separated for several in one run), got ${JSON.stringify(f)}`)
  if (new Set(families).size !== families.length) throw new BenchUsageError(`--family: each family once, got ${JSON.stringify(raw)}`)
  return families as Family[]
}

/** Suffix of a family's keys in the JSON line: none for IPv4 (the keys from before), `_v6`, `_dual`. */
export function familySuffix (fam: Family): '' | '_v6' | '_dual' {
  return fam === '4' ? '' : fam === '6' ? '_v6' : '_dual'
}

/** A family as tables and progress lines name it: `IPv4`, `IPv6`, `dual-stack`. */
export function familyLabel (fam: Family): string {
  return fam === 'dual' ? 'dual-stack' : `IPv${fam}`
}

/** The IPv6 twin of benchmark address `idx`, in canonical text (as the kernel reads it back). */
export function ip6Of (idx: number): string {
  return new URL(`http://[fd00:80::${(idx >> 16).toString(16)}:${(idx & 0xffff).toString(16)}]/`).hostname.slice(1, -1)
}

/** What a family lists of an IPv4 thing and its IPv6 twin (LB addresses, subnets): `[v4]`, `[v6]` or `[v4, v6]`. */
export function byFamily<T> (fam: Family, v4: T, v6: T): T[] {
  return fam === '4' ? [v4] : fam === '6' ? [v6] : [v4, v6]
}

/** A backend of the IPv4 layout (`ip` the address of index `idx`) in `fam`. */
export function backendInFamily (b: BackendSpec, fam: Family, idx: number): BackendSpec {
  if (fam === '4') return b
  return fam === '6' ? { ...b, ip: ip6Of(idx) } : { ...b, ip6: ip6Of(idx) }
}

/** A service of the IPv4 layout in `fam` (`vipIdx`, `backendIdx`: the address indexes of its VIP and backends). */
export function inFamily (svc: ServiceSpec, fam: Family, vipIdx: number, backendIdx: readonly number[]): ServiceSpec {
  const backends = svc.backends.map((b, i) => backendInFamily(b, fam, backendIdx[i] as number))
  if (fam === '4') return svc
  return fam === '6' ? { ...svc, vip: ip6Of(vipIdx), backends } : { ...svc, vip6: ip6Of(vipIdx), backends }
}
