import type { L4Proto } from './types.js'

/**
 * Contract between the agent's state (published ports in the `services`
 * table) and the host's ingress programmer (dataplane/ingress/host.ts). IPv4
 * only: published ports land on the node's IPv4 underlay address.
 */

/** Where a published port's connections go from this node. */
export interface IngressTarget {
  ip: string
  port: number
}

/** One published port on this node. */
export interface IngressRule {
  proto: L4Proto
  /** Port on the node's own addresses. */
  port: number
  /** The network whose sandbox uplink carries it. */
  networkId: string
  /**
   * `ingress`: one target, the service's VIP and VIP port: the sandbox
   * balances over every task and SNATs (as a task's VIP connection).
   * `host`: this node's ready tasks of the service, spread here without SNAT.
   */
  mode: 'ingress' | 'host'
  to: IngressTarget[]
}

/** A host route into a sandbox: `ip/32 dev su<hash of networkId>`. */
export interface IngressRoute {
  ip: string
  networkId: string
}

/** Desired north-south state of this node's host namespace. A pure function of the tables and the sandboxes desired here. */
export interface IngressSpec {
  /** Networks whose sandbox here has an uplink (sorted); none = no egress masquerade needed yet. */
  uplinks: string[]
  /** Sorted by protocol, then port. */
  rules: IngressRule[]
  /** Sorted by IP. */
  routes: IngressRoute[]
  /** Per network: `ip . proto . port` of local `mode=host` targets, let in from the uplink by the sandbox's filter (sorted). */
  hostPorts: Map<string, string[]>
}

/** An empty spec: nothing published, no uplink. */
export function emptyIngress (): IngressSpec {
  return { uplinks: [], rules: [], routes: [], hostPorts: new Map() }
}
