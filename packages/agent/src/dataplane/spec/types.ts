/**
 * Contract between the agent's state (tables -> desired) and the kernel
 * programmers (nft, ipvs, memory). Owned by the data-plane code; extend
 * without breaking.
 */

/** L4 protocol of a service port. */
export type L4Proto = 'tcp' | 'udp'

/** The range of a TCP/UDP port, as error messages name it. */
export const PORT_RANGE = '1..65535'

/** True for a TCP/UDP port number (an integer 1..65535): the one port check of the agent. */
export function isPort (v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535
}

/** One published port of a service: clients use `port` on the VIP; backends listen on `targetPort`. */
export interface PortSpec {
  proto: L4Proto
  port: number
  targetPort: number
}

/** One task endpoint behind a VIP. */
export interface BackendSpec {
  /** Task IP on this network: of its service's `vip` family. */
  ip: string
  /** Its IPv6 address on a dual-stack network: a backend of the service's `vip6` (one without is not). */
  ip6?: string
  /** Relative weight (default 1); slots are proportional. */
  weight: number
  /** Draining backends get no new connections (0 slots). */
  draining: boolean
  /**
   * Its node holds the service's VIP in the task's netns for direct server
   * return (plumber/dsr.ts): the sandbox may send it the client's packets
   * unchanged but for the port. @default false
   */
  dsr?: boolean
}

/** One service as seen on one network. */
export interface ServiceSpec {
  /** Service ID (stable, cluster-wide). */
  id: string
  /** Its VIP on this network: IPv4, or IPv6 on an IPv6-only network. */
  vip: string
  /** Its IPv6 VIP on a dual-stack network (beside the IPv4 `vip`), balanced over the backends' `ip6`. */
  vip6?: string
  ports: PortSpec[]
  /** Ready (or draining) backends; empty means: reject. */
  backends: BackendSpec[]
}

/** Desired state of one node's LB sandbox for one network. A pure function of the tables. */
export interface SandboxSpec {
  /** Full network ID. */
  networkId: string
  /**
   * The LB IPs with their subnet's prefix length, one per family of the
   * network, IPv4 first: `['10.10.0.5/24']`, `['fd00::5/64']`,
   * `['10.10.0.5/24', 'fd00::5/64']`. A VIP is served only in a family with
   * an LB IP (connections are SNATed to it).
   */
  lbAddresses: string[]
  /** MAC of the sandbox's interface on the network. */
  lbMac: string
  /**
   * Services attached to this network, sorted by id. Treat each ServiceSpec
   * as immutable once applied (pass a new object to change a service): the
   * nft programmer skips unchanged objects by identity, then compares
   * services of the same id field by field, so an apply costs work for the
   * changed services only.
   */
  services: ServiceSpec[]
  /**
   * An `--internal` network: the sandbox gets no uplink to the host, so its
   * tasks have no way out (and the network takes no published port).
   * @default false
   */
  internal?: boolean
  /**
   * Direct server return for the services that allow it (lb/dsr.ts): their
   * TCP requests leave the sandbox at `lb0`'s ingress hook, the replies go
   * from the backend to the client without entering it. @default false
   */
  dsr?: boolean
}

/** One remote endpoint on an overlay network: where to send frames for an IP. */
export interface RemoteEndpointSpec {
  ip: string
  /** Its IPv6 address on a dual-stack network (the same MAC). */
  ip6?: string
  mac: string
  /** Underlay IP of the node hosting it (VXLAN destination): IPv4 or IPv6, the family of `localUnderlay`. */
  underlay: string
}

/** Desired state of one network's overlay on this node (bridge + VXLAN). */
export interface OverlaySpec {
  networkId: string
  vni: number
  /** Subnets of the network (CIDR). */
  subnets: string[]
  /** This node's underlay address (VXLAN source): IPv4 or IPv6. */
  localUnderlay: string
  /** Endpoints on other nodes (tasks and LB sandboxes), for FDB + neighbour entries. */
  remotes: RemoteEndpointSpec[]
  /**
   * MTU of every interface of the network on this node (bridge, VXLAN device,
   * LB sandbox and task veths, both ends).
   * @default DEFAULT_OVERLAY_MTU_BYTES (1450: a 1500-byte underlay)
   */
  mtu?: number
}

/** Result of one kernel transaction. */
export interface ApplyResult {
  /** Kernel transactions issued (nft -f batches, ip -batch runs ...). */
  transactions: number
  /** Processes spawned. */
  spawns: number
  /** Kernel objects (rules + map elements + addresses) after the apply. */
  kernelObjects: number
}

/** Desired kernel state of one network on this node; an absent network = nothing local (sandbox and overlay removed). */
export interface NetworkDesired {
  sandbox: SandboxSpec
  /** Bridge + VXLAN of the network. `localUnderlay: ''` = single host: a bridge only, no VXLAN device. */
  overlay: OverlaySpec
  /** netns paths of local tasks (used by `--lb-mode per-container` only). */
  localTaskNetns: string[]
}

/** Which kernel programmer. */
export type ProgrammerKind = 'nft' | 'ipvs' | 'memory'

/**
 * `per-network` (default): one LB sandbox per network (scalelb's design).
 * `per-container`: the pre-2018 scheme, every local task netns holds every LB
 * rule of its networks; kept ONLY to measure against, never for production.
 */
export type LbMode = 'per-network' | 'per-container'

/** Options of a programmer call. */
export interface ProgramOptions {
  signal?: AbortSignal
}

/**
 * Programs one node's kernel for its networks (LB sandbox + overlay). Each
 * keeps an in-memory copy of what it programmed and changes only the
 * difference: one LB transaction per sandbox per {@link Programmer.apply}.
 */
export interface Programmer {
  readonly kind: ProgrammerKind
  readonly lbMode: LbMode
  /** Bring one network to `desired` (overlay, then sandbox). Throws typed errors; the in-memory copy is then stale: call {@link Programmer.adopt}. */
  apply(desired: NetworkDesired, opts?: ProgramOptions): Promise<ApplyResult>
  /** Remove everything of a network (sandbox, its addresses, nft table, overlay). Absent = no-op. */
  remove(networkId: string, opts?: ProgramOptions): Promise<ApplyResult>
  /**
   * Rebuild the in-memory copy from the kernel (restart, resync after a
   * failure). `hints` gives desired networks so per-container task netns can
   * be read. Returns the network IDs found.
   */
  adopt(hints?: ReadonlyMap<string, NetworkDesired>, opts?: ProgramOptions): Promise<string[]>
  /** Whether the kernel still matches the in-memory copy of a network. */
  verify(networkId: string, opts?: ProgramOptions): Promise<boolean>
  /** Networks with programmed state (in the in-memory copy). */
  networks(): string[]
  /** Kernel objects (rules, map/set elements, addresses, FDB/neighbour entries) of all networks. */
  kernelObjects(): number
  /** Totals since creation. */
  counters(): { transactions: number, spawns: number }
}
