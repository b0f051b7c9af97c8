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

/**
 * A host route: a VIP into its sandbox's uplink (`ip/32 dev su<hash>`), or
 * a local `mode=host` task straight onto its network's bridge (`ip/32 dev
 * sb<hash>` with a permanent neighbour entry for `mac`), bypassing the sandbox.
 */
export interface IngressRoute {
  ip: string
  networkId: string
  /** Set for a task on the bridge: its MAC. */
  mac?: string
}

/** Desired north-south state of this node's host namespace. A pure function of the tables and the sandboxes desired here. */
export interface IngressSpec {
  /** Networks whose sandbox here has an uplink (sorted); none = no egress masquerade needed yet. */
  uplinks: string[]
  /** Sorted by protocol, then port. */
  rules: IngressRule[]
  /** Sorted by IP. */
  routes: IngressRoute[]
  /**
   * Per network: `ip . proto . port` of local `mode=host` targets (sorted).
   * Their replies go through the sandbox (the tasks' gateway) untracked
   * there, so it neither drops nor masquerades them.
   */
  hostPorts: Map<string, string[]>
}

/** An empty spec: nothing published, no uplink. */
export function emptyIngress (): IngressSpec {
  return { uplinks: [], rules: [], routes: [], hostPorts: new Map() }
}
