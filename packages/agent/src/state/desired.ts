import type { BackendSpec, NetworkDesired, OverlaySpec, RemoteEndpointSpec, SandboxSpec, ServiceSpec } from '../dataplane/spec/types.js'
import { isIP } from 'node:net'
import type { EndpointValue, NetworkValue, NodeValue, ServiceValue } from './tables.js'
import { withPrefix } from './addr.js'
import { networkConflicts } from './conflicts.js'
import { isDsr, isInternal } from './publish.js'
import { DEFAULT_MTU_POLICY, networkMtu, type MtuPolicy } from '../dataplane/overlay/mtu.js'

export type { NetworkDesired }

/** One validated endpoint entry as read from a network scope. */
export interface EndpointRecord {
  key: string
  value: EndpointValue
  /** Entry status from gossip; only `live` counts. */
  status: 'live' | 'deleted' | 'suspended'
}

/** Validated tables (see state/tables.ts) as the desired-state function reads them. */
export interface DesiredInput {
  /** This node's ID. */
  self: string
  /** This node's underlay IP (VXLAN source). */
  localUnderlay: string
  networks: ReadonlyMap<string, NetworkValue>
  services: ReadonlyMap<string, ServiceValue>
  nodes: ReadonlyMap<string, NodeValue>
  /** Network id -> endpoints of that network scope. */
  endpoints: ReadonlyMap<string, readonly EndpointRecord[]>
  /** This node's overlay MTU settings (a network's own `mtu` option wins). @default DEFAULT_MTU_POLICY */
  mtu?: MtuPolicy
}

/** Why a network with local tasks got no desired state (for logs and status). */
export interface DesiredSkip {
  networkId: string
  reason: 'no-lb-endpoint' | 'lb-ip-outside-subnets' | 'subnet-conflict'
}

/** Output of {@link computeDesired}. */
export interface DesiredResult {
  desired: Map<string, NetworkDesired>
  skipped: DesiredSkip[]
}

function byString<T> (key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const ka = key(a)
    const kb = key(b)
    return ka < kb ? -1 : ka > kb ? 1 : 0
  }
}

/** A service's VIP on a network (own keys only: a network id like `constructor` is not inherited). */
export function vipOn (svc: ServiceValue, networkId: string): string | undefined {
  return Object.hasOwn(svc.vips, networkId) ? svc.vips[networkId] : undefined
}

/** A service's IPv6 VIP on a dual-stack network. */
export function vip6On (svc: ServiceValue, networkId: string): string | undefined {
  return svc.vips6 !== undefined && Object.hasOwn(svc.vips6, networkId) ? svc.vips6[networkId] : undefined
}

/**
 * The LB addresses (with their subnets' prefix) of this node's LB endpoint:
 * its `ip`, and its `ip6` on a dual-stack network; undefined when `ip` is
 * outside the subnets. An `ip6` outside them (or missing: an older agent's
 * entry) leaves the network IPv4-only here.
 */
export function lbAddressesOf (lb: EndpointValue, subnets: readonly string[]): string[] | undefined {
  const first = withPrefix(lb.ip, subnets)
  if (first === undefined) return undefined
  const six = lb.ip6 === undefined ? undefined : withPrefix(lb.ip6, subnets)
  return six === undefined ? [first] : [first, six]
}

/** A task endpoint as a backend; `dual`: with its IPv6 address, if it has one. */
export function backendOf (v: EndpointValue, dual: boolean): BackendSpec {
  const b: BackendSpec = { ip: v.ip, weight: v.weight ?? 1, draining: v.state === 'draining' }
  if (dual && v.ip6 !== undefined) b.ip6 = v.ip6
  if (v.dsr === true) b.dsr = true
  return b
}

/** A remote endpoint of the overlay (its IPv6 address too on a dual-stack network). */
export function remoteOf (v: EndpointValue, underlay: string): RemoteEndpointSpec {
  return v.ip6 === undefined ? { ip: v.ip, mac: v.mac, underlay } : { ip: v.ip, ip6: v.ip6, mac: v.mac, underlay }
}

/**
 * Whether a remote node's underlay can be a VXLAN destination of this node's:
 * a known address (not the single-host `0.0.0.0` / `::`) of the same family
 * (one VXLAN device has one underlay family).
 */
export function sameUnderlayFamily (remote: string, local: string): boolean {
  if (remote === '0.0.0.0' || remote === '::') return false
  return local === '' || isIP(remote) === isIP(local)
}

/**
 * Total order of backends: by IP, then weight, then non-draining first, so the
 * one kept for a duplicated IP does not depend on the order entries were read.
 */
export function compareBackends (a: BackendSpec, b: BackendSpec): number {
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1
  if (a.weight !== b.weight) return a.weight - b.weight
  return a.draining === b.draining ? 0 : a.draining ? 1 : -1
}

/** Total order of remote endpoints: by `ip|mac` (as before), then underlay. */
export function compareRemotes (a: RemoteEndpointSpec, b: RemoteEndpointSpec): number {
  const ka = `${a.ip}|${a.mac}`
  const kb = `${b.ip}|${b.mac}`
  if (ka !== kb) return ka < kb ? -1 : 1
  return a.underlay < b.underlay ? -1 : a.underlay > b.underlay ? 1 : 0
}

/** This node's LB endpoint among candidates (normally one, `lb:<self>`): the smallest key, independent of read order. */
export function pickSelfLb<T extends { key: string }> (candidates: Iterable<T>): T | undefined {
  let best: T | undefined
  for (const c of candidates) if (best === undefined || c.key < best.key) best = c
  return best
}

/**
 * Tables -> desired kernel state, for the networks where this node has at
 * least one live local task. Pure and deterministic (sorted output, the same
 * for any order of the input entries). This is the from-scratch reference;
 * the agent runs the incremental one (state/incremental-desired.ts), which
 * gives the same result.
 *
 * - Sandbox: this node's LB endpoint (address with the subnet prefix, MAC),
 *   every service with a VIP on the network, its backends = live task
 *   endpoints of the service anywhere in the cluster (suspended origins and
 *   deleted entries excluded); `draining` endpoints stay as draining backends.
 * - Overlay: VNI + subnets of the network, this node's underlay, its MTU
 *   here (overlay/mtu.ts), and every live remote endpoint (tasks and LB
 *   sandboxes of other nodes) whose node has a known underlay.
 * - A network whose subnets overlap an earlier network's (state/conflicts.ts)
 *   gets nothing: it is reported as skipped (`subnet-conflict`).
 */
export function computeDesired (input: DesiredInput): DesiredResult {
  const desired = new Map<string, NetworkDesired>()
  const skipped: DesiredSkip[] = []
  const networkIds = [...input.endpoints.keys()].sort()
  const conflicts = networkConflicts(input.networks)
  for (const networkId of networkIds) {
    const net = input.networks.get(networkId)
    if (net === undefined) continue
    const eps = (input.endpoints.get(networkId) ?? []).filter((e) => e.status === 'live')
    const localTasks = eps.filter((e) => e.value.kind === 'task' && e.value.node === input.self)
    if (localTasks.length === 0) continue
    if (conflicts.has(networkId)) {
      skipped.push({ networkId, reason: 'subnet-conflict' })
      continue
    }
    const lb = pickSelfLb(eps.filter((e) => e.value.kind === 'lb' && e.value.node === input.self))
    if (lb === undefined) {
      skipped.push({ networkId, reason: 'no-lb-endpoint' })
      continue
    }
    const lbAddresses = lbAddressesOf(lb.value, net.subnets)
    if (lbAddresses === undefined) {
      skipped.push({ networkId, reason: 'lb-ip-outside-subnets' })
      continue
    }

    // task endpoints grouped by service once: O(endpoints + services) per network, not their product
    const tasksBySvc = new Map<string, EndpointRecord[]>()
    for (const e of eps) {
      // an endpoint-only task (no service) is a backend of nothing
      const sid = e.value.kind === 'task' ? e.value.service : undefined
      if (sid === undefined) continue
      const list = tasksBySvc.get(sid)
      if (list === undefined) tasksBySvc.set(sid, [e])
      else list.push(e)
    }
    const services: ServiceSpec[] = []
    const dualStack = lbAddresses.length === 2
    const serviceIds = [...input.services.keys()].sort()
    for (const sid of serviceIds) {
      const svc = input.services.get(sid) as ServiceValue
      const vip = vipOn(svc, networkId)
      if (vip === undefined) continue
      const vip6 = dualStack ? vip6On(svc, networkId) : undefined
      const backends: BackendSpec[] = (tasksBySvc.get(sid) ?? [])
        .filter((e) => e.value.ip !== vip)
        .map((e) => backendOf(e.value, vip6 !== undefined))
        .sort(compareBackends)
      // one backend per IP: a duplicate IP (renumbering in flight) must not get twice the slots
      const unique = backends.filter((b, i) => i === 0 || backends[i - 1]?.ip !== b.ip)
      services.push({ id: sid, vip, ...(vip6 === undefined ? {} : { vip6 }), ports: svc.ports, backends: unique })
    }

    const remotes: RemoteEndpointSpec[] = []
    for (const e of eps) {
      if (e.value.node === input.self) continue
      const node = input.nodes.get(e.value.node)
      // unknown node, or a node without an underlay (single-host agent): no VXLAN destination
      if (node === undefined || !sameUnderlayFamily(node.underlay, input.localUnderlay)) continue
      remotes.push(remoteOf(e.value, node.underlay))
    }
    remotes.sort(compareRemotes)
    const dedupRemotes = remotes.filter((r, i) => i === 0 || remotes[i - 1]?.ip !== r.ip)

    const sandbox: SandboxSpec = { networkId, lbAddresses, lbMac: lb.value.mac, services, ...(isInternal(net.options) ? { internal: true } : {}), ...(isDsr(net.options) ? { dsr: true } : {}) }
    const mtu = networkMtu(net.options, input.mtu ?? DEFAULT_MTU_POLICY).mtu
    const overlay: OverlaySpec = { networkId, vni: net.vni, subnets: [...net.subnets], localUnderlay: input.localUnderlay, remotes: dedupRemotes, mtu }
    const localTaskNetns = [...new Set(localTasks.map((e) => e.value.netns).filter((p): p is string => p !== undefined))].sort()
    desired.set(networkId, { sandbox, overlay, localTaskNetns })
  }
  return { desired, skipped }
}

/**
 * Warm-up after a restart: until the tables are synced again, keep what the
 * previous run programmed for networks that still have local tasks, so a
 * restart neither removes a sandbox nor withdraws FDB entries of flows in
 * progress. Networks, services, backends and remote endpoints missing from
 * `computed` are taken from `previous`; what `computed` has wins. Pure.
 */
export function mergeWarmup (computed: ReadonlyMap<string, NetworkDesired>, previous: ReadonlyMap<string, NetworkDesired>, localNetworks: ReadonlySet<string>): Map<string, NetworkDesired> {
  const out = new Map(computed)
  for (const [id, prev] of previous) {
    if (!localNetworks.has(id)) continue
    const cur = computed.get(id)
    if (cur === undefined) {
      out.set(id, prev)
      continue
    }
    const services = new Map(cur.sandbox.services.map((s) => [s.id, s]))
    for (const s of prev.sandbox.services) {
      const c = services.get(s.id)
      if (c === undefined) services.set(s.id, s)
      else {
        const ips = new Set(c.backends.map((b) => b.ip))
        const backends = [...c.backends, ...s.backends.filter((b) => !ips.has(b.ip))].sort(byString((b) => b.ip))
        services.set(s.id, { ...c, backends })
      }
    }
    const remoteIps = new Set(cur.overlay.remotes.map((r) => r.ip))
    const remotes = [...cur.overlay.remotes, ...prev.overlay.remotes.filter((r) => !remoteIps.has(r.ip))].sort(byString((r) => `${r.ip}|${r.mac}`))
    out.set(id, {
      ...cur,
      sandbox: { ...cur.sandbox, services: [...services.values()].sort(byString((s) => s.id)) },
      overlay: { ...cur.overlay, remotes }
    })
  }
  return out
}
