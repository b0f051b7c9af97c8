import { DEFAULT_OVERLAY_MTU_BYTES, MAX_LINK_MTU_BYTES } from '../spec/constants.js'
import { ProgrammerInputError } from '../spec/errors.js'
import type { OverlaySpec } from '../spec/types.js'
import { isMac, isNetworkId } from '../spec/validate.js'
import { IPV4, IPV6, familyOf } from '../spec/family.js'
import { OVERLAY_HOST_PORT_IFNAME } from '../kernel/names.js'

/** What one network's overlay holds on this node (in-memory copy or read back). */
export interface OverlayView {
  networkId: string
  /** MTU of the bridge and the VXLAN device (and of every port of the bridge: see mtu-links.ts). */
  mtu: number
  /** VXLAN device settings; undefined = bridge only (single host). */
  vxlan: { vni: number, local: string } | undefined
  /** Underlay IPs with a flooding entry (`00:00:00:00:00:00 dst <ip>`). */
  flood: Set<string>
  /** Remote MAC -> underlay IP (unicast FDB entries). */
  fdb: Map<string, string>
  /** Remote IP -> MAC (permanent neighbour entries of both families; answered by the VXLAN device's ARP / neighbour discovery proxy). */
  neigh: Map<string, string>
}

/** Largest VXLAN network identifier (24 bits). */
export const VNI_MAX = 0xffffff

/** Desired overlay view of a spec (validated: throws ProgrammerInputError naming the field). */
export function overlayViewFromSpec (spec: OverlaySpec): OverlayView {
  if (!isNetworkId(spec.networkId)) throw new ProgrammerInputError('overlay.networkId', `expected 1..128 of [A-Za-z0-9_.:-], got ${JSON.stringify(spec.networkId)}`)
  const under = spec.localUnderlay === '' ? undefined : familyOf(spec.localUnderlay)
  if (spec.localUnderlay !== '' && under === undefined) throw new ProgrammerInputError('overlay.localUnderlay', `expected an IPv4 or IPv6 address or "", got ${JSON.stringify(spec.localUnderlay)}`)
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > VNI_MAX) throw new ProgrammerInputError('overlay.vni', `expected 1..${VNI_MAX}, got ${JSON.stringify(spec.vni)}`)
  const mtu = spec.mtu ?? DEFAULT_OVERLAY_MTU_BYTES
  // the kernel's bounds only (the minimum link MTU of the families on the network); the agent refuses smaller network MTUs at its edge
  const min = Array.isArray(spec.subnets) && spec.subnets.some(c => typeof c === 'string' && c.includes(':')) ? IPV6.minLinkMtu : IPV4.minLinkMtu
  if (!Number.isInteger(mtu) || mtu < min || mtu > MAX_LINK_MTU_BYTES) throw new ProgrammerInputError('overlay.mtu', `expected ${min}..${MAX_LINK_MTU_BYTES}, got ${JSON.stringify(spec.mtu)}`)
  const view: OverlayView = { networkId: spec.networkId, mtu, vxlan: undefined, flood: new Set(), fdb: new Map(), neigh: new Map() }
  if (spec.localUnderlay === '') return view
  view.vxlan = { vni: spec.vni, local: spec.localUnderlay }
  const uf = under as NonNullable<typeof under>
  spec.remotes.forEach((r, i) => {
    if (familyOf(r.ip) === undefined) throw new ProgrammerInputError(`overlay.remotes[${i}].ip`, `expected an IPv4 or IPv6 address, got ${JSON.stringify(r.ip)}`)
    if (r.ip6 !== undefined && !IPV6.isAddress(r.ip6)) throw new ProgrammerInputError(`overlay.remotes[${i}].ip6`, `expected an IPv6 address, got ${JSON.stringify(r.ip6)}`)
    if (!isMac(r.mac)) throw new ProgrammerInputError(`overlay.remotes[${i}].mac`, `expected a MAC address, got ${JSON.stringify(r.mac)}`)
    // one VXLAN device has one underlay family: the local one's
    if (!uf.isAddress(r.underlay)) throw new ProgrammerInputError(`overlay.remotes[${i}].underlay`, `expected an ${uf.label} address (the local underlay's family), got ${JSON.stringify(r.underlay)}`)
    if (r.underlay === spec.localUnderlay) return // a local endpoint: the bridge reaches it
    const mac = r.mac.toLowerCase()
    view.flood.add(r.underlay)
    view.fdb.set(mac, r.underlay)
    view.neigh.set(r.ip, mac)
    if (r.ip6 !== undefined) view.neigh.set(r.ip6, mac)
  })
  return view
}

/** Kernel objects of an overlay: bridge, VXLAN device, FDB and neighbour entries. */
export function overlayObjectCount (v: OverlayView): number {
  return 1 + (v.vxlan === undefined ? 0 : 1 + v.flood.size + v.fdb.size + v.neigh.size)
}

/** Whether two overlay views are the same kernel state. */
export function sameOverlay (a: OverlayView, b: OverlayView): boolean {
  const sameM = (x: Map<string, string>, y: Map<string, string>): boolean => x.size === y.size && [...x].every(([k, v]) => y.get(k) === v)
  return a.mtu === b.mtu && a.vxlan?.vni === b.vxlan?.vni && a.vxlan?.local === b.vxlan?.local &&
    a.flood.size === b.flood.size && [...a.flood].every(u => b.flood.has(u)) && sameM(a.fdb, b.fdb) && sameM(a.neigh, b.neigh)
}

/** Names of a network's overlay links, and the netns holding them (`--overlay-netns`; undefined = the host's own). */
export interface OverlayNames {
  bridge: string
  vxlan: string
  /** Netns of the bridge and the VXLAN device; undefined = the base netns (the host). */
  netns?: string
  /** With `netns`: the host's veth into the bridge (its peer is `host0` there). @default bridge */
  host?: string
  /**
   * With `netns`: a second name of that netns (a bind mount), the LB
   * sandbox's: the overlay netns is the sandbox, and the bridge is its `lb0`.
   */
  sandbox?: string
}

/** Link, FDB and neighbour changes taking an overlay from `old` (undefined = absent) to `next`. */
export interface OverlayBatches {
  /**
   * With an overlay netns: `ip -batch` lines run in the base netns between
   * `pre` and `ip` (the VXLAN device is made there, so its UDP socket stays on
   * the underlay, then moved; the host's veth into the bridge). Empty otherwise.
   */
  host: string[]
  /** With an overlay netns: lines run there before `host` (bridge, MTU, VXLAN removal). Empty otherwise. */
  pre: string[]
  /** `ip -batch` lines run (in the overlay's netns) before the FDB (links, then neighbours). */
  ip: string[]
  /** `bridge -batch` lines. */
  bridge: string[]
}

/** Compute the `ip -batch` / `bridge -batch` lines of an overlay change. */
export function overlayDiff (names: OverlayNames, old: OverlayView | undefined, next: OverlayView): OverlayBatches {
  const ns = names.netns
  const ip: string[] = []
  const bridge: string[] = []
  const host: string[] = []
  // without an overlay netns every link line is in `ip`, in this order
  const pre = ns === undefined ? ip : []
  const { bridge: br, vxlan: vx } = names
  // an explicit bridge MTU stays put (no auto-adjust to its smallest port)
  if (old === undefined) pre.push(`link add ${br} mtu ${next.mtu} type bridge`, `link set ${br} alias ${next.networkId}`, `link set ${br} up`)
  else if (old.mtu !== next.mtu) pre.push(`link set ${br} mtu ${next.mtu}`)
  if (old === undefined && ns !== undefined) {
    // the host keeps a link named as the bridge was (routes of mode=host ports, the host table's rules), a veth into it
    const hv = names.host ?? br
    host.push(`link add ${hv} mtu ${next.mtu} type veth peer name ${OVERLAY_HOST_PORT_IFNAME} mtu ${next.mtu} netns ${ns}`, `link set ${hv} up`)
    ip.push(`link set ${OVERLAY_HOST_PORT_IFNAME} master ${br}`, `link set ${OVERLAY_HOST_PORT_IFNAME} up`)
  }
  const vxChanged = old?.vxlan?.vni !== next.vxlan?.vni || old?.vxlan?.local !== next.vxlan?.local
  const prev: OverlayView = vxChanged || old === undefined
    ? { networkId: next.networkId, mtu: next.mtu, vxlan: undefined, flood: new Set(), fdb: new Map(), neigh: new Map() }
    : old
  if (vxChanged && old?.vxlan !== undefined) pre.push(`link del ${vx}`)
  if (!vxChanged && next.vxlan !== undefined && old !== undefined && old.mtu !== next.mtu) pre.push(`link set ${vx} mtu ${next.mtu}`)
  if (vxChanged && next.vxlan !== undefined) {
    const add = `link add ${vx} mtu ${next.mtu} type vxlan id ${next.vxlan.vni} local ${next.vxlan.local} dstport 4789 nolearning proxy`
    if (ns === undefined) ip.push(add)
    else host.push(add, `link set ${vx} netns ${ns}`)
    ip.push(`link set ${vx} master ${br}`, `link set ${vx} up`)
  }
  if (next.vxlan === undefined) return { host, pre: ns === undefined ? [] : pre, ip, bridge }
  for (const [addr, mac] of prev.neigh) if (next.neigh.get(addr) !== mac) ip.push(`neigh del ${addr} dev ${vx}`)
  for (const [addr, mac] of next.neigh) if (prev.neigh.get(addr) !== mac) ip.push(`neigh replace ${addr} lladdr ${mac} dev ${vx} nud permanent`)
  for (const [mac, u] of prev.fdb) if (next.fdb.get(mac) !== u) bridge.push(`fdb del ${mac} dev ${vx} dst ${u} self`)
  for (const u of prev.flood) if (!next.flood.has(u)) bridge.push(`fdb del 00:00:00:00:00:00 dev ${vx} dst ${u} self`)
  for (const u of next.flood) if (!prev.flood.has(u)) bridge.push(`fdb append 00:00:00:00:00:00 dev ${vx} dst ${u} self permanent`)
  for (const [mac, u] of next.fdb) if (prev.fdb.get(mac) !== u) bridge.push(`fdb replace ${mac} dev ${vx} dst ${u} self permanent`)
  return { host, pre: ns === undefined ? [] : pre, ip, bridge }
}
