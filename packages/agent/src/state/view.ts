import type { DesiredResult, EndpointRecord } from './desired.js'
import { readEndpointsFull, type InvalidCounter, type TableSource } from './full-read.js'
import { createIncrementalDesired, type IncrementalDesired } from './incremental-desired.js'
import { createTableCache, type TableCache } from './table-cache.js'
import type { NetworkValue, NodeValue, ServiceValue } from './tables.js'
import type { NetworkConflict } from './conflicts.js'
import { DEFAULT_MTU_POLICY, type MtuPolicy } from '../dataplane/overlay/mtu.js'

export { toEndpointRecord, type InvalidCounter, type TableSource } from './full-read.js'

/** Typed, validated read access to the agent's gossip tables. Returned maps are the cache's own: read only. */
export interface TablesView {
  networks(): ReadonlyMap<string, NetworkValue>
  services(): ReadonlyMap<string, ServiceValue>
  nodes(): ReadonlyMap<string, NodeValue>
  /** Networks whose subnets overlap an earlier network's (network id -> conflict; state/conflicts.ts). */
  conflicts(): ReadonlyMap<string, NetworkConflict>
  /** Endpoints of a network scope (only populated while this node joined it). */
  endpoints(networkId: string): EndpointRecord[]
  /** Find a network by id or name. */
  findNetwork(ref: string): { id: string, value: NetworkValue } | undefined
  /** Find a service by id or name. */
  findService(ref: string): { id: string, value: ServiceValue } | undefined
  /**
   * Desired state of the current tables, updated incrementally: the cost of
   * a call is proportional to what changed since the previous one. Equals
   * `computeDesired(readDesiredInputFull(gossip, self, localUnderlay))`.
   * `mtu`: this node's overlay MTU settings (default {@link DEFAULT_MTU_POLICY}).
   */
  desired(self: string, localUnderlay: string, mtu?: MtuPolicy): DesiredResult
  /** The validated-table cache behind the view (for consumers that follow its change events: the resolver's names). */
  tableCache(): TableCache
  /** Stop following gossip. */
  close(): void
}

/** An entry found by id, else by its `name`. */
function findByRef<V extends { name: string }> (map: ReadonlyMap<string, V>, ref: string): { id: string, value: V } | undefined {
  const byId = map.get(ref)
  if (byId !== undefined) return { id: ref, value: byId }
  for (const [id, value] of map) if (value.name === ref) return { id, value }
  return undefined
}

/**
 * Read the agent's tables from gossip through a validated-table cache that
 * follows gossip's entry events (other nodes' values are untrusted: each
 * version is validated once, a bad one counted once). Config tables
 * (networks, services, nodes) keep suspended entries: a network does not
 * vanish because its creator died. `onError` hears of a failure while
 * applying an event (the cache is then rebuilt from scratch on the next read).
 */
export function createTablesView (gossip: TableSource, onInvalid: InvalidCounter = () => {}, onError?: (err: Error) => void): TablesView {
  const cache = createTableCache(gossip, onInvalid, onError)
  let inc: { self: string, localUnderlay: string, mtu: MtuPolicy, desired: IncrementalDesired } | undefined
  const view: TablesView = {
    networks: () => cache.networks(),
    services: () => cache.services(),
    nodes: () => cache.nodes(),
    conflicts: () => cache.networkConflicts(),
    endpoints (networkId) {
      const records = cache.endpoints(networkId)
      // a scope this node left but gossip still holds (it lingers a while): read it as before
      return records === undefined ? readEndpointsFull(gossip, networkId, onInvalid) : [...records.values()]
    },
    findNetwork: (ref) => findByRef(cache.networks(), ref),
    findService: (ref) => findByRef(cache.services(), ref),
    desired (self, localUnderlay, mtu = DEFAULT_MTU_POLICY) {
      if (inc === undefined || inc.self !== self || inc.localUnderlay !== localUnderlay || inc.mtu.mtu !== mtu.mtu || inc.mtu.max !== mtu.max) {
        inc?.desired.close()
        inc = { self, localUnderlay, mtu, desired: createIncrementalDesired({ cache, self, localUnderlay, mtu }) }
      }
      return inc.desired.compute()
    },
    tableCache: () => cache,
    close () {
      inc?.desired.close()
      cache.close()
    }
  }
  return view
}
