import type { Entry, Gossip } from '@scalelb/gossip'
import {
  TABLE_ENDPOINTS, TABLE_NETWORKS, TABLE_NODES, TABLE_SERVICES, checkEndpoint, checkNetwork, checkNode, checkService,
  networkScope, type Checked, type NetworkValue, type NodeValue, type ServiceValue
} from './tables.js'
import type { DesiredInput, EndpointRecord } from './desired.js'

/** Counts entries rejected by validation, by table (exported as a metric). */
export type InvalidCounter = (table: string, reason: string) => void

/** Typed, validated read access to the agent's gossip tables. */
export interface TablesView {
  networks(): Map<string, NetworkValue>
  services(): Map<string, ServiceValue>
  nodes(): Map<string, NodeValue>
  /** Endpoints of a network scope (only populated while this node joined it). */
  endpoints(networkId: string): EndpointRecord[]
  /** Find a network by id or name. */
  findNetwork(ref: string): { id: string, value: NetworkValue } | undefined
  /** Find a service by id or name. */
  findService(ref: string): { id: string, value: ServiceValue } | undefined
  /** Everything the desired-state function needs, for the networks this node joined. */
  desiredInput(self: string, localUnderlay: string): DesiredInput
}

/**
 * Read the agent's tables from gossip, validating every value (other nodes'
 * values are untrusted). Config tables (networks, services, nodes) keep
 * suspended entries: a network does not vanish because its creator died.
 */
export function createTablesView (gossip: Gossip, onInvalid: InvalidCounter = () => {}): TablesView {
  function readTable<V> (table: string, check: (v: unknown, origin: string) => Checked<V>): Map<string, V> {
    const out = new Map<string, V>()
    for (const e of gossip.entries<unknown>('cluster', table)) {
      if (e.status === 'deleted' || e.deleted) continue
      const c = check(e.value, e.origin)
      if (!c.ok) {
        onInvalid(table, c.reason)
        continue
      }
      out.set(e.key, c.value)
    }
    return out
  }
  const view: TablesView = {
    networks: () => readTable(TABLE_NETWORKS, checkNetwork),
    services: () => readTable(TABLE_SERVICES, checkService),
    nodes: () => readTable(TABLE_NODES, checkNode),
    endpoints (networkId) {
      const out: EndpointRecord[] = []
      for (const e of gossip.entries<unknown>(networkScope(networkId), TABLE_ENDPOINTS)) {
        const r = toEndpointRecord(e)
        if (typeof r === 'string') {
          onInvalid(TABLE_ENDPOINTS, r)
          continue
        }
        if (r !== undefined) out.push(r)
      }
      return out
    },
    findNetwork (ref) {
      const nets = view.networks()
      const byId = nets.get(ref)
      if (byId !== undefined) return { id: ref, value: byId }
      for (const [id, value] of nets) if (value.name === ref) return { id, value }
      return undefined
    },
    findService (ref) {
      const svcs = view.services()
      const byId = svcs.get(ref)
      if (byId !== undefined) return { id: ref, value: byId }
      for (const [id, value] of svcs) if (value.name === ref) return { id, value }
      return undefined
    },
    desiredInput (self, localUnderlay) {
      const endpoints = new Map<string, EndpointRecord[]>()
      for (const scope of gossip.scopes()) {
        if (!scope.startsWith('network:')) continue
        const id = scope.slice('network:'.length)
        endpoints.set(id, view.endpoints(id))
      }
      return { self, localUnderlay, networks: view.networks(), services: view.services(), nodes: view.nodes(), endpoints }
    }
  }
  return view
}

/** Validate one endpoint entry; undefined for tombstones, a reason string when invalid. */
export function toEndpointRecord (e: Entry<unknown>): EndpointRecord | string | undefined {
  if (e.deleted || e.status === 'deleted' || e.value === undefined) return undefined
  const c = checkEndpoint(e.value, e.origin)
  if (!c.ok) return c.reason
  return { key: e.key, value: c.value, status: e.status }
}
