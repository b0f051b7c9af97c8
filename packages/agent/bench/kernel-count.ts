/**
 * Count what a namespace holds, read back from the kernel (not from a
 * programmer's in-memory copy): nft rules, map/set elements, addresses.
 */
import { sh } from './common.js'

/** Kernel objects of one netns. */
export interface NetnsObjects {
  rules: number
  elements: number
  addresses: number
}

/** `nsenter --net=<path>` argv for a netns path or name. */
function inNs (netns: string, cmd: string, args: string[]): [string, string[]] {
  const path = netns.includes('/') ? netns : `/run/netns/${netns}`
  return ['nsenter', [`--net=${path}`, '--', cmd, ...args]]
}

/**
 * nft rules and map/set elements of every table in `netns`, and the IPv4
 * addresses on `addrDev` (none counted when undefined: a task's own address
 * is there in either LB mode and is not LB state).
 */
export async function countNetns (netns: string, addrDev?: string): Promise<NetnsObjects> {
  const [f, a] = inNs(netns, 'nft', ['-j', 'list', 'ruleset'])
  const parsed = JSON.parse(await sh(f, a)) as { nftables?: Array<Record<string, { elem?: unknown[] } | undefined>> }
  let rules = 0
  let elements = 0
  for (const e of parsed.nftables ?? []) {
    if (e.rule !== undefined) rules++
    const elems = e.map?.elem ?? e.set?.elem
    if (Array.isArray(elems)) elements += elems.length
  }
  let addresses = 0
  if (addrDev !== undefined) {
    // both families; not the kernel's own IPv6 link-local address
    const [g, b] = inNs(netns, 'ip', ['-j', 'addr', 'show', 'dev', addrDev])
    const links = JSON.parse(await sh(g, b)) as Array<{ addr_info?: Array<{ scope?: string }> }>
    for (const l of links) addresses += (l.addr_info ?? []).filter((a) => a.scope !== 'link').length
  }
  return { rules, elements, addresses }
}

/** Sum of {@link NetnsObjects} over namespaces. */
export function sumObjects (xs: readonly NetnsObjects[]): NetnsObjects & { total: number } {
  const s = { rules: 0, elements: 0, addresses: 0 }
  for (const x of xs) {
    s.rules += x.rules
    s.elements += x.elements
    s.addresses += x.addresses
  }
  return { ...s, total: s.rules + s.elements + s.addresses }
}
