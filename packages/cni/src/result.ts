import { isIPv4 } from 'node:net'
import type { CniDns, CniInterface, CniIpConfig, CniResult, CniRoute } from './types.js'

/** An IPv4 address as a 32-bit unsigned number. */
function v4 (ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0)
}

/** The subnet of `subnets` (CIDRs) that holds `ip`, or undefined (IPv4 only, as the agent's data plane). */
export function subnetOf (ip: string, subnets: readonly string[]): string | undefined {
  if (!isIPv4(ip)) return undefined
  const n = v4(ip)
  return subnets.find((s) => {
    const [base, bits] = s.split('/') as [string, string]
    if (!isIPv4(base)) return false
    const size = 2 ** (32 - Number(bits))
    return Math.floor(n / size) === Math.floor(v4(base) / size)
  })
}

/** What the plugin attached: one interface in the container's namespace with one address. */
export interface Attachment {
  ifname: string
  mac: string
  /**
   * The host end of the container's veth, when the agent tells it: chained
   * plugins (bandwidth) look for it. Listed with no `sandbox` also when it is
   * in the agent's overlay netns: runtimes read an interface with a sandbox
   * as the container's (Podman refuses one without a MAC).
   */
  hostIfName?: string
  /** Path of the container's namespace. */
  netns: string
  /** Address with prefix length (`10.20.0.5/24`). */
  address: string
  /** This node's LB sandbox address on the network (the network's router on this node), when known. */
  gateway?: string
  dns?: CniDns
}

/** Versions whose IP entries carry `version` (dropped in 1.0.0). */
function ipsCarryVersion (cniVersion: string): boolean {
  return cniVersion.startsWith('0.')
}

/** Union of two lists, first ones first. */
function union (a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  if (a === undefined && b === undefined) return undefined
  return [...new Set([...(a ?? []), ...(b ?? [])])]
}

/** DNS of a chained result: ours, and what the earlier plugins gave (their entries kept, ours added). */
export function mergeDns (prev: CniDns | undefined, ours: CniDns | undefined): CniDns | undefined {
  if (ours === undefined) return prev
  if (prev === undefined) return ours
  const out: CniDns = {}
  const nameservers = union(prev.nameservers, ours.nameservers)
  if (nameservers !== undefined) out.nameservers = nameservers
  const domain = ours.domain ?? prev.domain
  if (domain !== undefined) out.domain = domain
  const search = union(prev.search, ours.search)
  if (search !== undefined) out.search = search
  const options = union(prev.options, ours.options)
  if (options !== undefined) out.options = options
  return out
}

/**
 * The ADD result in `cniVersion`: the entries of `prev` (the plugins before
 * this one in a chain) kept, this plugin's interfaces (the host end of the
 * veth, then the container's) and address added (its address points at the
 * container's interface by index). No route: the subnet is
 * on-link and the VIPs are in it; `gateway` tells the LB sandbox address,
 * which the plugin does not install as a default route.
 */
export function buildResult (cniVersion: string, a: Attachment, prev?: CniResult): CniResult {
  const interfaces: CniInterface[] = [...(prev?.interfaces ?? [])]
  if (a.hostIfName !== undefined) interfaces.push({ name: a.hostIfName })
  interfaces.push({ name: a.ifname, mac: a.mac, sandbox: a.netns })
  const ip: CniIpConfig = { address: a.address, interface: interfaces.length - 1 }
  if (a.gateway !== undefined) ip.gateway = a.gateway
  if (ipsCarryVersion(cniVersion)) ip.version = '4'
  const routes: CniRoute[] = [...(prev?.routes ?? [])]
  // an empty dns object when nobody gave one, as the reference plugins write it
  return { cniVersion, interfaces, ips: [...(prev?.ips ?? []), ip], routes, dns: mergeDns(prev?.dns, a.dns) ?? {} }
}
