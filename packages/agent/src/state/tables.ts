import { isIP, isIPv4, isIPv6 } from 'node:net'
import { PORT_RANGE, isPort, type PortSpec } from '../dataplane/spec/types.js'
import { checkPublishValue, type PublishSpec } from './publish.js'
import { MAX_NAME_LENGTH, MAX_PORTS_PER_SERVICE, MAX_SUBNETS_PER_NETWORK, VNI_MAX } from '../constants.js'

/**
 * Gossip tables of the agent (DESIGN.md "Tables it uses") and validators for
 * their values. Values from other nodes are untrusted input: every read goes
 * through a validator, and a bad value is ignored (and counted), never thrown.
 */

/** Cluster scope: node -> {@link NodeValue}. */
export const TABLE_NODES = 'nodes'
/** Cluster scope: network id -> {@link NetworkValue}. */
export const TABLE_NETWORKS = 'networks'
/** Cluster scope: service id -> {@link ServiceValue}. */
export const TABLE_SERVICES = 'services'
/** Cluster scope: `${networkId}/${start}` -> allocator ring token. */
export const TABLE_IPAM = 'ipam'
/** Cluster scope: `${networkId}/${requester}` -> {@link DonationRequest}. */
export const TABLE_IPAM_REQUESTS = 'ipam-requests'
/** Cluster scope: `${networkId}/${node}` -> free space of an owner (see state/ipam-space.ts). */
export const TABLE_IPAM_USAGE = 'ipam-usage'
/**
 * Cluster scope: node ID -> {@link RevokedValue}: members the cluster's
 * managers revoked (written with the manager key). Every node refuses a
 * revoked member's traffic and entries while its key is here.
 */
export const TABLE_REVOKED = 'revoked'
/**
 * Network scope: endpoint key -> {@link EndpointValue}. A key names the node
 * that owns it ({@link taskEndpointKey}, {@link lbEndpointKey}), so only that
 * node may write or delete it (state/authority.ts).
 */
export const TABLE_ENDPOINTS = 'endpoints'

/** Gossip scope of a network. */
export function networkScope (networkId: string): `network:${string}` {
  return `network:${networkId}`
}

/** Prefix of the endpoint key of a node's LB sandbox. */
const LB_KEY_PREFIX = 'lb:'

/** Endpoint key of a node's LB sandbox: `lb:<node>`. */
export function lbEndpointKey (nodeId: string): string {
  return `${LB_KEY_PREFIX}${nodeId}`
}

/** Endpoint key of a task: `<node>/<task id>` (task IDs are unique per node only). */
export function taskEndpointKey (nodeId: string, taskId: string): string {
  return `${nodeId}/${taskId}`
}

/** What an endpoint key names: the owning node, and the task ID of a task's key. */
export type EndpointKey = { kind: 'task', node: string, taskId: string } | { kind: 'lb', node: string }

/** Parse an endpoint key; undefined for a key of neither shape (e.g. a bare task ID of an older agent). */
export function parseEndpointKey (key: string): EndpointKey | undefined {
  if (key.startsWith(LB_KEY_PREFIX)) {
    const node = key.slice(LB_KEY_PREFIX.length)
    return node === '' || node.includes('/') ? undefined : { kind: 'lb', node }
  }
  const slash = key.indexOf('/')
  if (slash <= 0) return undefined
  const taskId = key.slice(slash + 1)
  return taskId === '' || taskId.includes('/') ? undefined : { kind: 'task', node: key.slice(0, slash), taskId }
}

/** `nodes` table value. */
export interface NodeValue {
  /** Underlay IP: VXLAN destination for this node's endpoints. */
  underlay: string
  /** Agent version. */
  version: string
}

/** `networks` table value. */
export interface NetworkValue {
  name: string
  /** Canonical CIDRs. */
  subnets: string[]
  vni: number
  /** Free-form options (string -> string). */
  options: Record<string, string>
  /**
   * Creator's wall clock (ms) at creation: of two networks whose subnets
   * overlap, the earlier keeps them (state/conflicts.ts). Absent in values of
   * older agents (counts as 0).
   */
  createdMs?: number
}

/** `services` table value. */
export interface ServiceValue {
  name: string
  ports: PortSpec[]
  /** Network id -> VIP on that network: IPv4, or IPv6 on an IPv6-only network. */
  vips: Record<string, string>
  /** Network id -> IPv6 VIP on a dual-stack network (absent in values of older agents). */
  vips6?: Record<string, string>
  /** `dnsrr`: no VIP, the name resolves to the task IPs (absent = `vip`, as older agents wrote). */
  endpointMode?: 'vip' | 'dnsrr'
  /** Networks of a `dnsrr` service (it has no VIPs to list them). */
  networks?: string[]
  /** Ports published on every node's underlay address (state/publish.ts); absent = none. */
  publish?: PublishSpec[]
}

/** Endpoint readiness. */
export type EndpointState = 'ready' | 'draining'

/** `endpoints` table value (network scope). */
export interface EndpointValue {
  /** A task's endpoint or a node's LB sandbox address. */
  kind: 'task' | 'lb'
  /** Service id (tasks only; absent for an endpoint-only task, a backend of no service). */
  service?: string
  /** IPv4, or IPv6 on an IPv6-only network. */
  ip: string
  /** Its IPv6 address on a dual-stack network (beside the IPv4 `ip`; absent in values of older agents). */
  ip6?: string
  mac: string
  /** Node hosting it; must equal the entry's origin. */
  node: string
  /** Ports the task serves (copied from the service at add time). */
  ports?: PortSpec[]
  state: EndpointState
  /** Relative weight (tasks). @default 1 */
  weight?: number
  /** Origin's wall clock (ms) when this state was written: programming latency is measured from it. */
  originMs: number
  /** Path of the task's netns (`task add --netns` on the origin node only). */
  netns?: string
  /** Its node holds the service's VIP in the task's netns for direct server return (absent = no; older agents never write it). */
  dsr?: boolean
}

/** `ipam-requests` table value: `requester` asks `donor` for space in `networkId`. */
export interface DonationRequest {
  networkId: string
  requester: string
  donor: string
  /** Requester's wall clock (ms) at the request; a newer request re-asks. */
  atMs: number
  /** Address family of the space asked for (a dual-stack network); absent = any (older agents). */
  family?: 4 | 6
}

/** Result of validating an untrusted value. */
export type Checked<T> = { ok: true, value: T } | { ok: false, reason: string }

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/
const ID_RE = /^[0-9a-zA-Z_.:-]{1,128}$/

function isObj (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** True for a name usable for networks and services. */
export function isValidName (s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_NAME_LENGTH && NAME_RE.test(s)
}

/** True for a CIDR string `a.b.c.d/n` or `v6/n` with prefix in range. */
export function isCidrText (s: unknown): s is string {
  if (typeof s !== 'string') return false
  const i = s.indexOf('/')
  if (i < 0) return false
  const fam = isIP(s.slice(0, i))
  const p = s.slice(i + 1)
  if (fam === 0 || !/^\d{1,3}$/.test(p)) return false
  return Number(p) <= (fam === 4 ? 32 : 128)
}

// the one port check of the agent lives with the data plane's spec (the lowest layer)
export { PORT_RANGE, isPort } from '../dataplane/spec/types.js'

/** Validate one port spec. */
export function checkPort (v: unknown, field = 'port'): Checked<PortSpec> {
  if (!isObj(v)) return { ok: false, reason: `${field}: not an object` }
  const { proto, port, targetPort } = v
  if (proto !== 'tcp' && proto !== 'udp') return { ok: false, reason: `${field}.proto: must be tcp or udp` }
  if (!isPort(port)) return { ok: false, reason: `${field}.port: must be ${PORT_RANGE}` }
  if (!isPort(targetPort)) return { ok: false, reason: `${field}.targetPort: must be ${PORT_RANGE}` }
  return { ok: true, value: { proto, port, targetPort } }
}

/** Validate a `nodes` value. */
export function checkNode (v: unknown): Checked<NodeValue> {
  if (!isObj(v)) return { ok: false, reason: 'node: not an object' }
  if (typeof v.underlay !== 'string' || isIP(v.underlay) === 0) return { ok: false, reason: 'node.underlay: not an IP' }
  if (typeof v.version !== 'string' || v.version.length > 64) return { ok: false, reason: 'node.version: not a string' }
  return { ok: true, value: { underlay: v.underlay, version: v.version } }
}

/** Validate a `networks` value. */
export function checkNetwork (v: unknown): Checked<NetworkValue> {
  if (!isObj(v)) return { ok: false, reason: 'network: not an object' }
  if (!isValidName(v.name)) return { ok: false, reason: 'network.name: invalid' }
  if (!Array.isArray(v.subnets) || v.subnets.length === 0 || v.subnets.length > MAX_SUBNETS_PER_NETWORK || !v.subnets.every(isCidrText)) {
    return { ok: false, reason: 'network.subnets: invalid' }
  }
  if (!Number.isInteger(v.vni) || (v.vni as number) < 1 || (v.vni as number) > VNI_MAX) return { ok: false, reason: 'network.vni: out of range' }
  const options: Record<string, string> = {}
  if (v.options !== undefined) {
    if (!isObj(v.options)) return { ok: false, reason: 'network.options: not an object' }
    for (const [k, o] of Object.entries(v.options)) {
      if (typeof o !== 'string') return { ok: false, reason: `network.options.${k}: not a string` }
      options[k] = o
    }
  }
  const value: NetworkValue = { name: v.name, subnets: [...v.subnets] as string[], vni: v.vni as number, options }
  if (v.createdMs !== undefined) {
    if (typeof v.createdMs !== 'number' || !Number.isFinite(v.createdMs) || v.createdMs < 0) return { ok: false, reason: 'network.createdMs: not a time' }
    value.createdMs = v.createdMs
  }
  return { ok: true, value }
}

/** Validate a `services` value. */
export function checkService (v: unknown): Checked<ServiceValue> {
  if (!isObj(v)) return { ok: false, reason: 'service: not an object' }
  if (!isValidName(v.name)) return { ok: false, reason: 'service.name: invalid' }
  if (!Array.isArray(v.ports) || v.ports.length > MAX_PORTS_PER_SERVICE) return { ok: false, reason: 'service.ports: invalid' }
  const ports: PortSpec[] = []
  for (const [i, p] of v.ports.entries()) {
    const c = checkPort(p, `service.ports[${i}]`)
    if (!c.ok) return c
    ports.push(c.value)
  }
  if (!isObj(v.vips)) return { ok: false, reason: 'service.vips: not an object' }
  const vips: Record<string, string> = {}
  for (const [n, ip] of Object.entries(v.vips)) {
    if (!ID_RE.test(n) || typeof ip !== 'string' || isIP(ip) === 0) return { ok: false, reason: `service.vips.${n}: invalid` }
    vips[n] = ip
  }
  const value: ServiceValue = { name: v.name, ports, vips }
  if (v.vips6 !== undefined) {
    if (!isObj(v.vips6)) return { ok: false, reason: 'service.vips6: not an object' }
    const vips6: Record<string, string> = {}
    for (const [n, ip] of Object.entries(v.vips6)) {
      if (!ID_RE.test(n) || typeof ip !== 'string' || !isIPv6(ip)) return { ok: false, reason: `service.vips6.${n}: not an IPv6 address` }
      if (vips[n] === undefined || !isIPv4(vips[n])) return { ok: false, reason: `service.vips6.${n}: the network has no IPv4 VIP beside it` }
      vips6[n] = ip
    }
    value.vips6 = vips6
  }
  if (v.endpointMode !== undefined) {
    if (v.endpointMode !== 'vip' && v.endpointMode !== 'dnsrr') return { ok: false, reason: 'service.endpointMode: invalid' }
    value.endpointMode = v.endpointMode
  }
  if (v.networks !== undefined) {
    if (!Array.isArray(v.networks) || v.networks.length > MAX_SUBNETS_PER_NETWORK * 16 || !v.networks.every((n) => typeof n === 'string' && ID_RE.test(n))) return { ok: false, reason: 'service.networks: invalid' }
    value.networks = v.networks as string[]
  }
  if (v.publish !== undefined) {
    const c = checkPublishValue(v.publish)
    if (!c.ok) return c
    if (c.value.length > 0) value.publish = c.value
  }
  // a value holding nothing but what validation keeps is returned itself: the cache then keeps one copy of
  // each service (gossip's decoded one), not two (2 MiB at 10k services, bench:memory)
  return { ok: true, value: keepsOnly(v, value) ? v as unknown as ServiceValue : value }
}

/** Fields of a service value that {@link checkService} copies as they are (arrays and maps checked member by member). */
const SERVICE_FIELDS = new Set(['name', 'ports', 'vips', 'vips6', 'endpointMode', 'networks'])
const PORT_FIELDS = 3

/**
 * Whether `v` (a service value that passed validation) holds exactly what
 * its validated copy `c` holds: no field validation drops or rewrites (unknown
 * fields, an empty or rewritten `publish`, extra port fields).
 */
function keepsOnly (v: Record<string, unknown>, c: ServiceValue): boolean {
  if (v.publish !== undefined) return false
  let n = 0
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue
    if (!SERVICE_FIELDS.has(k) || v[k] === undefined) return false
    n++
  }
  if (n !== Object.keys(c).length) return false
  for (const p of v.ports as unknown[]) if (Object.keys(p as object).length !== PORT_FIELDS) return false
  return Object.keys(v.vips as object).length === Object.keys(c.vips).length &&
    (v.vips6 === undefined || Object.keys(v.vips6 as object).length === Object.keys(c.vips6 ?? {}).length)
}

/**
 * Validate an `endpoints` entry: `origin` is the entry's origin (the node
 * field must match it) and `key` its key, which must name that node and the
 * value's kind.
 */
export function checkEndpoint (v: unknown, origin: string, key: string): Checked<EndpointValue> {
  if (!isObj(v)) return { ok: false, reason: 'endpoint: not an object' }
  if (v.kind !== 'task' && v.kind !== 'lb') return { ok: false, reason: 'endpoint.kind: must be task or lb' }
  const k = parseEndpointKey(key)
  if (k === undefined) return { ok: false, reason: 'endpoint key: must be <node>/<task> or lb:<node>' }
  if (k.node !== origin) return { ok: false, reason: 'endpoint key: names another node than the entry origin' }
  if (k.kind !== v.kind) return { ok: false, reason: `endpoint key: a ${k.kind} key with a ${v.kind} value` }
  if (typeof v.ip !== 'string' || isIP(v.ip) === 0) return { ok: false, reason: 'endpoint.ip: not an IP' }
  if (typeof v.mac !== 'string' || !MAC_RE.test(v.mac)) return { ok: false, reason: 'endpoint.mac: invalid' }
  if (v.node !== origin) return { ok: false, reason: 'endpoint.node: differs from the entry origin' }
  if (v.state !== 'ready' && v.state !== 'draining') return { ok: false, reason: 'endpoint.state: must be ready or draining' }
  if (typeof v.originMs !== 'number' || !Number.isFinite(v.originMs)) return { ok: false, reason: 'endpoint.originMs: not a number' }
  // this module's literals for the two enum fields, not each decoded value's own copy of "task" / "ready"
  const out: EndpointValue = { kind: v.kind === 'task' ? 'task' : 'lb', ip: v.ip, mac: v.mac, node: origin, state: v.state === 'ready' ? 'ready' : 'draining', originMs: v.originMs }
  if (v.ip6 !== undefined) {
    if (typeof v.ip6 !== 'string' || !isIPv6(v.ip6)) return { ok: false, reason: 'endpoint.ip6: not an IPv6 address' }
    if (!isIPv4(v.ip)) return { ok: false, reason: 'endpoint.ip6: beside an IPv6 ip (ip6 is the second address of a dual-stack endpoint)' }
    out.ip6 = v.ip6
  }
  if (v.kind === 'task' && v.service !== undefined) {
    if (typeof v.service !== 'string' || !ID_RE.test(v.service)) return { ok: false, reason: 'endpoint.service: invalid' }
    out.service = v.service
  }
  if (v.weight !== undefined) {
    if (!Number.isInteger(v.weight) || (v.weight as number) < 0 || (v.weight as number) > 1000) return { ok: false, reason: 'endpoint.weight: must be 0..1000' }
    out.weight = v.weight as number
  }
  if (v.ports !== undefined) {
    if (!Array.isArray(v.ports) || v.ports.length > MAX_PORTS_PER_SERVICE) return { ok: false, reason: 'endpoint.ports: invalid' }
    const ports: PortSpec[] = []
    for (const [i, p] of v.ports.entries()) {
      const c = checkPort(p, `endpoint.ports[${i}]`)
      if (!c.ok) return c
      ports.push(c.value)
    }
    out.ports = ports
  }
  if (v.netns !== undefined) {
    if (typeof v.netns !== 'string' || !v.netns.startsWith('/') || v.netns.length > 4096) return { ok: false, reason: 'endpoint.netns: invalid' }
    out.netns = v.netns
  }
  if (v.dsr !== undefined) {
    if (typeof v.dsr !== 'boolean') return { ok: false, reason: 'endpoint.dsr: not a boolean' }
    if (v.dsr) out.dsr = true
  }
  // the value as it came when it holds nothing more than the copy: one object per entry, not two (bench:memory)
  if (!sameFields(v, out)) return { ok: true, value: out }
  if (!Object.isFrozen(v)) {
    // the same strings, shared: 100k tasks held 100k copies each of "task" and "ready" (4.6 MiB); the encoding, so the signature, is unchanged
    v.kind = out.kind
    v.state = out.state
  }
  return { ok: true, value: v as unknown as EndpointValue }
}

/** True if `v` has exactly the fields of `out` (nested: ports), with the same primitive values. */
function sameFields (v: Record<string, unknown>, out: object): boolean {
  const o = out as Record<string, unknown>
  let n = 0
  for (const k in v) {
    if (!Object.hasOwn(o, k)) return false
    const a = v[k]
    const b = o[k]
    if (a !== b && !(Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => isObj(x) && sameFields(x, b[i] as object)))) return false
    n++
  }
  return n === Object.keys(o).length
}

/** A revocation: when a manager made it (ms since the epoch) and why. */
export interface RevokedValue {
  atMs: number
  reason?: string
}

/** Longest reason of a revocation. */
export const MAX_REVOKE_REASON = 200

/** Validate a `revoked` value. */
export function checkRevoked (v: unknown): Checked<RevokedValue> {
  if (!isObj(v)) return { ok: false, reason: 'revoked: not an object' }
  if (typeof v.atMs !== 'number' || !Number.isFinite(v.atMs)) return { ok: false, reason: 'revoked.atMs: not a number' }
  if (v.reason !== undefined && (typeof v.reason !== 'string' || v.reason.length > MAX_REVOKE_REASON)) return { ok: false, reason: `revoked.reason: not a string of at most ${MAX_REVOKE_REASON} characters` }
  return { ok: true, value: { atMs: v.atMs, ...(v.reason === undefined ? {} : { reason: v.reason }) } }
}

/**
 * The cluster tables only the cluster's managers write (state/authority.ts),
 * each with the check of its values: what `scalelb manager resign` signs again.
 */
export const MANAGER_TABLES: ReadonlyMap<string, (v: unknown) => Checked<unknown>> = new Map<string, (v: unknown) => Checked<unknown>>([
  [TABLE_NETWORKS, checkNetwork],
  [TABLE_SERVICES, checkService],
  [TABLE_REVOKED, checkRevoked]
])

/** Validate an `ipam-requests` value; the requester must be the entry's origin. */
export function checkDonationRequest (v: unknown, origin: string): Checked<DonationRequest> {
  if (!isObj(v)) return { ok: false, reason: 'request: not an object' }
  if (typeof v.networkId !== 'string' || !ID_RE.test(v.networkId)) return { ok: false, reason: 'request.networkId: invalid' }
  if (v.requester !== origin) return { ok: false, reason: 'request.requester: differs from the entry origin' }
  if (typeof v.donor !== 'string' || !ID_RE.test(v.donor)) return { ok: false, reason: 'request.donor: invalid' }
  if (typeof v.atMs !== 'number' || !Number.isFinite(v.atMs)) return { ok: false, reason: 'request.atMs: not a number' }
  if (v.family !== undefined && v.family !== 4 && v.family !== 6) return { ok: false, reason: 'request.family: must be 4 or 6' }
  return { ok: true, value: { networkId: v.networkId, requester: origin, donor: v.donor, atMs: v.atMs, ...(v.family === undefined ? {} : { family: v.family }) } }
}
