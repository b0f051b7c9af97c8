/** Public request/response shapes of the control API (HTTP+JSON) and the CLI. */
import type { PortSpec } from './dataplane/spec/types.js'
import type { EndpointState } from './state/tables.js'
import type { PublishSpec } from './state/publish.js'

/** POST /v1/networks body (validated). */
export interface NetworkCreateRequest {
  name: string
  /** CIDRs, e.g. `10.10.0.0/24`. */
  subnets: string[]
  /** VXLAN VNI; picked when absent. */
  vni?: number
  /** MTU of the network's interfaces on every node (stored as option `mtu`). @default each node's own (`--mtu`, else its underlay MTU - 50) */
  mtu?: number
  options?: Record<string, string>
}

/** A network as the API shows it. */
export interface NetworkInfo {
  id: string
  name: string
  subnets: string[]
  vni: number
  options: Record<string, string>
  /** MTU of the network's interfaces on this node (its `mtu` option, else this node's overlay MTU). */
  mtu: number
  /** Nodes with tasks on it (members of its gossip scope). */
  nodes: string[]
  /** This node's LB IP on it, if it has one. */
  lbIp: string | undefined
  /**
   * Set when its subnets overlap those of a network created earlier (two
   * nodes created them while partitioned): it gets no kernel state and no new
   * task until removed. `with` is the other network's name.
   */
  conflict?: { with: string, withId: string, subnet: string, ownSubnet: string }
  /** Why this node does not program it although it has local tasks here (skipped or refused desired state). */
  error?: string
}

/** POST /v1/services body (validated). */
export interface ServiceCreateRequest {
  name: string
  ports: PortSpec[]
  /** Network names or ids. */
  networks: string[]
  /** `dnsrr`: no VIP; the service's name resolves to its task IPs. @default 'vip' */
  endpointMode?: 'vip' | 'dnsrr'
  /** Ports published on every node's underlay address (north-south). @default none */
  publish?: PublishSpec[]
}

/** POST /v1/services/:ref/publish body (validated): published ports to add, and to remove by port (and protocol). */
export interface ServicePublishRequest {
  add: PublishSpec[]
  rm: Array<{ published: number, proto?: 'tcp' | 'udp' }>
}

/** A service as the API shows it. */
export interface ServiceInfo {
  id: string
  name: string
  ports: PortSpec[]
  /** VIP per network (by network name; id when unknown). */
  /** Per network: its VIP (IPv4, or IPv6 on an IPv6-only network) and, on a dual-stack network, its IPv6 VIP. */
  vips: Array<{ networkId: string, network: string, vip: string, vip6?: string }>
  /** Present for a `dnsrr` service (no VIPs): its networks. */
  dnsrr?: { networks: Array<{ networkId: string, network: string }> }
  /** Its published ports (absent: none). */
  publish?: PublishSpec[]
  /** Published ports that another service (a smaller id) published too: they go to that one (`8080/tcp`). */
  publishConflicts?: string[]
}

/**
 * POST /v1/tasks body (validated). Exactly one of `netns` / `ip`. Without a
 * `service` the task is an endpoint only (`networks` required): it gets an
 * address on those networks and reaches their VIPs through this node's LB
 * sandbox, but is a backend of no service.
 */
export interface TaskAddRequest {
  /** Service name or id; absent for an endpoint-only task. */
  service?: string
  /** Task id (e.g. a CNI container ID); derived from service, networks and netns/ip when absent. */
  id?: string
  /** `--netns` mode: path of the task's network namespace; the agent plugs it into every network of the service. */
  netns?: string
  /**
   * `--netns` mode, a task on one network: the interface name inside the
   * namespace (CNI_IFNAME). @default 'eth0' (eth0, eth1, ... for a task on several networks)
   */
  ifname?: string
  /** `--ip` mode: the task is already plugged with this IP; only published. */
  ip?: string
  /** Restrict to these networks (names or ids). */
  networks?: string[]
  /** @default 'ready' */
  state?: EndpointState
  /** Relative weight. @default 1 */
  weight?: number
  /** `none`: the agent writes no resolv.conf for the task and its answer carries no `dns`. @default the node's resolver */
  dns?: 'none'
}

/** One endpoint of a task. */
export interface TaskEndpointInfo {
  networkId: string
  network: string
  ip: string
  /** IPv6 address on a dual-stack network. */
  ip6?: string
  mac: string
  /** Interface name inside the task's netns (`--netns` tasks of this node). */
  ifName?: string
  /** Host-side end of its veth (`--netns` tasks of this node), in the agent's network namespace unless `hostNetns` says another. */
  hostIfName?: string
  /**
   * Netns holding `hostIfName` when it is not the agent's own (`/run/netns/<prefix>ov-<id>`:
   * `--overlay-netns`, where the veth's bridge end is in the network's overlay netns).
   */
  hostNetns?: string
}

/** A task as the API shows it. */
export interface TaskInfo {
  id: string
  /** Absent for an endpoint-only task (a backend of no service). */
  serviceId?: string
  /** Service name (its id when unknown here); absent for an endpoint-only task. */
  service?: string
  node: string
  state: EndpointState
  /** Entry status on this node: live, or suspended (its node failed). */
  status: 'live' | 'suspended'
  endpoints: TaskEndpointInfo[]
  netns?: string
  /** The task's resolver configuration (this node's resolver on the task's first network), for runtimes to apply; absent with `dns: 'none'` or when the node runs no resolver. */
  dns?: { nameservers: string[], search?: string[], options?: string[] }
}

/** A gossip member as the API shows it. */
export interface MemberInfo {
  id: string
  state: string
  addrs: string[]
  incarnation: number
  restarting: boolean
  self: boolean
  /** Set when the cluster's managers revoked this member (`scalelb member revoke`). */
  revoked?: { atMs: number, reason?: string }
}

/**
 * What this node may change in the cluster:
 * - `manager`: started with the cluster's manager key (`--manager-key-file`):
 *   creates and removes networks and services;
 * - `worker`: has the cluster key only: runs tasks, reads everything;
 * - `insecure`: no cluster key (`--insecure`): nothing is secret, every
 *   member may change networks and services.
 */
export type AgentRole = 'manager' | 'worker' | 'insecure'

/** GET /v1/status (also on the status server). */
export interface AgentStatus {
  node: string
  version: string
  ready: boolean
  /** What this node may change (not in the off-loopback summary: it would tell an attacker which hosts hold the manager key). */
  role: AgentRole
  /** `required`: the cluster key file admits only nodes a manager admitted; `open`: any holder of the cluster key. */
  admission: 'required' | 'open'
  reconciler: { synced: boolean, transactions: number, failures: number, kernelObjects: number, sandboxes: number, lastSyncDurationMs: number }
  gossip: { members: Record<string, number>, scopes: string[] }
  networks: number
  services: number
  localTasks: number
  /** Networks this node does not program as desired (subnet conflict, skipped or refused desired state), with why. */
  networkErrors: Array<{ networkId: string, network: string, error: string }>
  listen: string[]
}
