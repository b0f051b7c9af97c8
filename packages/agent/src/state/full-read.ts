import type { Entry, Gossip } from '@scalelb/gossip'
import {
  TABLE_ENDPOINTS, TABLE_NETWORKS, TABLE_NODES, TABLE_SERVICES, checkEndpoint, checkNetwork, checkNode, checkService,
  networkScope, type Checked
} from './tables.js'
import type { DesiredInput, EndpointRecord } from './desired.js'

/**
 * The from-scratch read of the agent's tables: every entry of the cluster
 * tables and of every joined network scope, validated on each call. The agent
 * reads through the validated-table cache (state/table-cache.ts) instead; this
 * stays as the reference the cache is tested and benchmarked against.
 */

/** Counts entries rejected by validation, by table (exported as a metric). */
export type InvalidCounter = (table: string, reason: string) => void

/** What the table readers need from gossip. */
export type TableSource = Pick<Gossip, 'id' | 'entries' | 'get' | 'scopes' | 'onEntry'>

/** Network id of a `network:<id>` scope name, undefined for other scopes. */
export function scopeNetworkId (scope: string): string | undefined {
  return scope.startsWith('network:') ? scope.slice('network:'.length) : undefined
}

/** Validate one endpoint entry; undefined for tombstones, a reason string when invalid. */
export function toEndpointRecord (e: Entry<unknown>): EndpointRecord | string | undefined {
  if (e.deleted || e.status === 'deleted' || e.value === undefined) return undefined
  const c = checkEndpoint(e.value, e.origin, e.key)
  if (!c.ok) return c.reason
  return { key: e.key, value: c.value, status: e.status }
}

/**
 * Read one cluster table, validating every value. Suspended entries are kept
 * (a network does not vanish because its creator died); invalid ones are
 * counted and skipped.
 */
export function readTableFull<V> (source: TableSource, table: string, check: (v: unknown, origin: string) => Checked<V>, onInvalid: InvalidCounter): Map<string, V> {
  const out = new Map<string, V>()
  for (const e of source.entries<unknown>('cluster', table)) {
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

/** Read and validate the endpoints of a network scope (live and suspended, with their status). */
export function readEndpointsFull (source: TableSource, networkId: string, onInvalid: InvalidCounter): EndpointRecord[] {
  const out: EndpointRecord[] = []
  for (const e of source.entries<unknown>(networkScope(networkId), TABLE_ENDPOINTS)) {
    const r = toEndpointRecord(e)
    if (typeof r === 'string') {
      onInvalid(TABLE_ENDPOINTS, r)
      continue
    }
    if (r !== undefined) out.push(r)
  }
  return out
}

/** Everything `computeDesired` needs, read from scratch, for the network scopes this node joined. */
export function readDesiredInputFull (source: TableSource, self: string, localUnderlay: string, onInvalid: InvalidCounter = () => {}): DesiredInput {
  const endpoints = new Map<string, EndpointRecord[]>()
  for (const scope of source.scopes()) {
    const id = scopeNetworkId(scope)
    if (id !== undefined) endpoints.set(id, readEndpointsFull(source, id, onInvalid))
  }
  return {
    self,
    localUnderlay,
    networks: readTableFull(source, TABLE_NETWORKS, checkNetwork, onInvalid),
    services: readTableFull(source, TABLE_SERVICES, checkService, onInvalid),
    nodes: readTableFull(source, TABLE_NODES, checkNode, onInvalid),
    endpoints
  }
}
