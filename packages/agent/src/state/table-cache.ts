import { SCOPES_TABLE, type Entry, type EntryEvent } from '@scalelb/gossip'
import {
  TABLE_ENDPOINTS, TABLE_NETWORKS, TABLE_NODES, TABLE_SERVICES, checkEndpoint, checkNetwork, checkNode, checkService,
  networkScope, type Checked, type EndpointValue, type NetworkValue, type NodeValue, type ServiceValue
} from './tables.js'
import type { EndpointRecord } from './desired.js'
import { networkConflicts, type NetworkConflict } from './conflicts.js'
import { scopeNetworkId, type InvalidCounter, type TableSource } from './full-read.js'

/**
 * Validated view of the agent's gossip tables, kept up to date from entry
 * events: a value is validated once per entry version (origin, lamport, seq),
 * not once per read, and a bad version is counted once. Reads return the
 * same as the from-scratch read (state/full-read.ts): config tables keep
 * suspended entries, endpoints carry their status, deleted entries and
 * invalid values are left out. Config tables are held here; endpoints are
 * read through to gossip's records ({@link EndpointRecords}), so the cache
 * subscribes to gossip before any reader of it does (createTablesView, at
 * the agent's start): a reader handling an event sees its version validated.
 */

/** What changed in the cache; a listener sees each change once, after the cache applied it. */
export interface TableChangeListener {
  /** A `networks` value appeared, changed or went away. */
  network?(id: string, prev: NetworkValue | undefined, next: NetworkValue | undefined): void
  /** A `services` value appeared, changed or went away. */
  service?(id: string, prev: ServiceValue | undefined, next: ServiceValue | undefined): void
  /** A `nodes` value appeared, changed or went away. */
  node?(id: string, prev: NodeValue | undefined, next: NodeValue | undefined): void
  /** An endpoint record of a joined network scope appeared, changed (value or status) or went away. */
  endpoint?(networkId: string, key: string, prev: EndpointRecord | undefined, next: EndpointRecord | undefined): void
  /** This node joined a network scope; its endpoints are loaded (read them with {@link TableCache.endpoints}). */
  scopeJoined?(networkId: string): void
  /** This node left a network scope: its endpoints are gone from the cache. */
  scopeLeft?(networkId: string): void
}

/** Read access to the validated tables. Maps are the cache's own: do not mutate. */
export interface TableCache {
  networks(): ReadonlyMap<string, NetworkValue>
  services(): ReadonlyMap<string, ServiceValue>
  nodes(): ReadonlyMap<string, NodeValue>
  /**
   * Networks whose subnets overlap an earlier network's (state/conflicts.ts),
   * computed once per change of the networks table: the same map object
   * until the table changes.
   */
  networkConflicts(): ReadonlyMap<string, NetworkConflict>
  /** Network ids of the joined network scopes, sorted. */
  networkScopes(): readonly string[]
  /** Endpoint records of a joined network scope by key; undefined when not joined. */
  endpoints(networkId: string): EndpointRecords | undefined
  /** Receive changes; returns a function that unsubscribes. */
  subscribe(listener: TableChangeListener): () => void
  /** Compare the joined scopes with gossip's (also done on every change of this node's `scopes` entry). */
  syncScopes(): void
  /**
   * Bumped when the cache was rebuilt from scratch because applying an event
   * failed (a bug, or a listener that threw): state derived from the cache
   * through listeners must then be rebuilt from it.
   */
  generation(): number
  /** Stop following gossip events. */
  close(): void
}

/** Result of applying one entry to a config table: the valid value before and after. */
interface Applied<V> { prev: V | undefined, next: V | undefined, changed: boolean }

const UNCHANGED: Applied<never> = { prev: undefined, next: undefined, changed: false }

/**
 * One cluster config table: the valid values handed to readers, and no
 * version slot per entry (10k services held 1 MiB of slots and their map,
 * bench:memory). A version is known by its value object, as an endpoint's
 * ({@link EndpointRecords}): `raw` holds the gossip value only where the stored
 * one differs (a version that failed validation, or one validation copied).
 * A status change of the same version changes nothing here.
 */
class ConfigTable<V> {
  readonly values = new Map<string, V>()
  /** Each key of `values` by itself (one shared copy of the id for the entries that name it). */
  readonly ids = new Map<string, string>()
  private readonly raw = new Map<string, unknown>()
  constructor (readonly table: string, readonly check: (v: unknown, origin: string) => Checked<V>) {}

  apply (e: Entry<unknown>, onInvalid: InvalidCounter): Applied<V> {
    const cur = this.values.get(e.key)
    if (e.deleted || e.status === 'deleted' || e.value === undefined) {
      this.raw.delete(e.key)
      if (cur === undefined) return UNCHANGED
      this.values.delete(e.key)
      this.ids.delete(e.key)
      return { prev: cur, next: undefined, changed: true }
    }
    const seen = this.raw.has(e.key) ? this.raw.get(e.key) : cur
    if (seen === e.value) return UNCHANGED
    const c = this.check(e.value, e.origin)
    if (!c.ok) onInvalid(this.table, c.reason)
    const next = c.ok ? c.value : undefined
    if (next === e.value) this.raw.delete(e.key)
    else this.raw.set(e.key, e.value)
    if (next === undefined) {
      if (cur === undefined) return UNCHANGED
      this.values.delete(e.key)
      this.ids.delete(e.key)
    } else {
      this.values.set(e.key, next)
      this.ids.set(e.key, e.key)
    }
    return { prev: cur, next, changed: true }
  }

  clear (): void {
    this.values.clear()
    this.ids.clear()
    this.raw.clear()
  }
}

/**
 * What the cache knows of one endpoint version beyond gossip's record: its
 * gossip value and the validated value handed out for it (undefined: the
 * version failed validation and is left out).
 */
type Over = readonly [raw: unknown, value: EndpointValue | undefined]

/**
 * The endpoint records of one joined scope, read through to gossip's
 * records: the cache keeps no copy and no map entry per endpoint (a map of
 * the validated values held 3.5 MiB at 100k endpoints, bench:memory). A
 * value is validated once per version, on its event; what validation found
 * is kept only where the handed-out value is not gossip's own, in
 * {@link over}: a version that failed validation (left out, counted once)
 * or one validation copied. A record's status is gossip's. The order is
 * gossip's, as the from-scratch read's (state/full-read.ts).
 */
export class EndpointRecords implements ReadonlyMap<string, EndpointRecord> {
  /** @internal Where the handed-out value is not gossip's: key -> (gossip value, validated value). */
  readonly over = new Map<string, Over>()
  /** @internal Valid, not deleted entries. */
  count = 0
  /** @internal */
  constructor (private readonly source: TableSource, private readonly scope: `network:${string}`) {}

  get size (): number { return this.count }

  /** The validated value of a gossip entry (of any status); undefined for a tombstone or a version that failed validation. */
  private validated (e: Entry<unknown>): EndpointValue | undefined {
    if (e.deleted || e.status === 'deleted' || e.value === undefined) return undefined
    const o = this.over.get(e.key)
    return o !== undefined && o[0] === e.value ? o[1] : e.value as EndpointValue
  }

  has (key: string): boolean { return this.value(key) !== undefined }
  get (key: string): EndpointRecord | undefined {
    const e = this.source.get<unknown>(this.scope, TABLE_ENDPOINTS, key)
    const value = e === undefined ? undefined : this.validated(e)
    return e === undefined || value === undefined ? undefined : { key, value, status: e.status }
  }

  /** The validated value of `key` (whatever its status), without making a record. */
  value (key: string): EndpointValue | undefined {
    const e = this.source.get<unknown>(this.scope, TABLE_ENDPOINTS, key)
    return e === undefined ? undefined : this.validated(e)
  }

  * keys (): MapIterator<string> {
    for (const [k] of this.entries()) yield k
  }

  * entries (): MapIterator<[string, EndpointRecord]> {
    for (const e of this.source.entries<unknown>(this.scope, TABLE_ENDPOINTS)) {
      const value = this.validated(e)
      if (value !== undefined) yield [e.key, { key: e.key, value, status: e.status }]
    }
  }

  * values (): MapIterator<EndpointRecord> {
    for (const [, r] of this.entries()) yield r
  }

  [Symbol.iterator] (): MapIterator<[string, EndpointRecord]> { return this.entries() }
  forEach (fn: (value: EndpointRecord, key: string, map: ReadonlyMap<string, EndpointRecord>) => void, thisArg?: unknown): void {
    for (const [k, r] of this.entries()) fn.call(thisArg, r, k, this)
  }
}

/**
 * A task's `service` is pointed at `serviceIds`' copy of the id (equal
 * strings: the value encodes and validates the same), so 100k tasks of 10k
 * services hold 10k id strings, not 100k (2.3 MiB, bench:memory).
 */
function shareServiceId (value: EndpointValue, serviceIds: ReadonlyMap<string, string>): void {
  const sid = value.service === undefined ? undefined : serviceIds.get(value.service)
  // always set: equal strings compare equal whether or not they are one copy. Reflect.set: a frozen value (none of gossip's) is left as it is
  if (sid !== undefined) Reflect.set(value, 'service', sid)
}

/**
 * Create the cache and start following `source`'s entry events. It loads the
 * current tables once; afterwards each event costs the validation of that
 * one entry version.
 */
export function createTableCache (source: TableSource, onInvalid: InvalidCounter = () => {}, onError: (err: Error) => void = () => {}): TableCache {
  const networks = new ConfigTable<NetworkValue>(TABLE_NETWORKS, checkNetwork)
  const services = new ConfigTable<ServiceValue>(TABLE_SERVICES, checkService)
  const nodes = new ConfigTable<NodeValue>(TABLE_NODES, checkNode)
  const config = new Map<string, ConfigTable<NetworkValue> | ConfigTable<ServiceValue> | ConfigTable<NodeValue>>([
    [TABLE_NETWORKS, networks], [TABLE_SERVICES, services], [TABLE_NODES, nodes]
  ])
  const scopes = new Map<string, EndpointRecords>()
  let sortedScopes: string[] = []
  const listeners = new Set<TableChangeListener>()
  let gen = 0
  let failed = false
  let conflicts: Map<string, NetworkConflict> | undefined

  /**
   * Validate a version not validated before (its event, or a scope's load):
   * the value handed out for it, recorded in `sc.over` where it is not
   * gossip's. Undefined when it failed validation (counted).
   */
  function validate (sc: EndpointRecords, e: Entry<unknown>): EndpointValue | undefined {
    const c = checkEndpoint(e.value, e.origin, e.key)
    if (!c.ok) {
      onInvalid(TABLE_ENDPOINTS, c.reason)
      sc.over.set(e.key, [e.value, undefined])
      return undefined
    }
    if (c.value === e.value) sc.over.delete(e.key)
    else sc.over.set(e.key, [e.value, c.value])
    shareServiceId(c.value, services.ids)
    return c.value
  }

  /**
   * Apply one endpoint event to `sc`: validation only for a version not
   * validated before. Returns the record before and after, or undefined when
   * nothing a reader sees changed.
   */
  function applyEndpointEntry (sc: EndpointRecords, ev: EntryEvent): { prev: EndpointRecord | undefined, next: EndpointRecord | undefined } | undefined {
    const e = ev.entry
    const ps = ev.previousStatus
    const pv = ev.previousValue
    // the previous version was handed out (validated on its own event, or at the scope's load) unless deleted or hidden
    const shown = ps !== undefined && ps !== 'deleted' && pv !== undefined
    const o = sc.over.get(e.key)
    const prevValue = !shown ? undefined : o !== undefined && o[0] === pv ? o[1] : pv as EndpointValue
    const prev: EndpointRecord | undefined = prevValue === undefined || ps === undefined ? undefined : { key: e.key, value: prevValue, status: ps }
    let next: EndpointRecord | undefined
    if (e.deleted || e.status === 'deleted' || e.value === undefined) {
      sc.over.delete(e.key)
    } else {
      // the same version shown before (a status change): as validated then; else (new, or shown again after hidden) validate
      const value = shown && e.value === pv ? prevValue : validate(sc, e)
      if (value !== undefined) next = { key: e.key, value, status: e.status }
    }
    if (prev === undefined && next === undefined) return undefined
    if (prev !== undefined && next !== undefined && prev.value === next.value && prev.status === next.status) return undefined
    sc.count += (next === undefined ? 0 : 1) - (prev === undefined ? 0 : 1)
    return { prev, next }
  }

  function applyEndpoint (networkId: string, sc: EndpointRecords, ev: EntryEvent): void {
    const a = applyEndpointEntry(sc, ev)
    if (a === undefined) return
    for (const l of listeners) l.endpoint?.(networkId, ev.entry.key, a.prev, a.next)
  }

  function loadScope (networkId: string): void {
    const scope = networkScope(networkId)
    const sc = new EndpointRecords(source, scope)
    scopes.set(networkId, sc)
    for (const e of source.entries<unknown>(scope, TABLE_ENDPOINTS)) {
      if (e.deleted || e.status === 'deleted' || e.value === undefined) continue
      if (validate(sc, e) !== undefined) sc.count++
    }
  }

  function syncScopes (): void {
    const joined = new Set<string>()
    for (const s of source.scopes()) {
      const id = scopeNetworkId(s)
      if (id !== undefined) joined.add(id)
    }
    const left = [...scopes.keys()].filter((id) => !joined.has(id))
    const added = [...joined].filter((id) => !scopes.has(id))
    if (left.length === 0 && added.length === 0) return
    for (const id of left) scopes.delete(id)
    for (const id of added) loadScope(id)
    sortedScopes = [...scopes.keys()].sort()
    for (const id of left) for (const l of listeners) l.scopeLeft?.(id)
    for (const id of added) for (const l of listeners) l.scopeJoined?.(id)
  }

  function onEvent (ev: EntryEvent): void {
    if (failed) return
    try {
      applyEvent(ev)
    } catch (err) {
      // the cache (or a listener's state) may now miss this change: rebuild everything on the next read
      failed = true
      onError(err as Error)
    }
  }

  function applyEvent (ev: EntryEvent): void {
    const e = ev.entry
    if (e.scope === 'cluster') {
      if (e.table === SCOPES_TABLE) {
        if (e.key === source.id) syncScopes()
        return
      }
      const t = config.get(e.table)
      if (t === undefined) return
      const a = t.apply(e, onInvalid)
      if (!a.changed) return
      if (t === networks) conflicts = undefined
      for (const l of listeners) {
        if (t === networks) l.network?.(e.key, a.prev as NetworkValue | undefined, a.next as NetworkValue | undefined)
        else if (t === services) l.service?.(e.key, a.prev as ServiceValue | undefined, a.next as ServiceValue | undefined)
        else l.node?.(e.key, a.prev as NodeValue | undefined, a.next as NodeValue | undefined)
      }
      return
    }
    if (e.table !== TABLE_ENDPOINTS) return
    const id = scopeNetworkId(e.scope)
    if (id === undefined) return
    const sc = scopes.get(id)
    if (sc !== undefined) {
      applyEndpoint(id, sc, ev)
      return
    }
    // an event of a scope we have not loaded: loading reads this entry too; a scope not joined is ignored
    syncScopes()
  }

  /** Read everything from scratch (no listener calls: they rebuild on the new generation). */
  function load (): void {
    conflicts = undefined
    for (const t of config.values()) {
      t.clear()
      for (const e of source.entries<unknown>('cluster', t.table)) t.apply(e, onInvalid)
    }
    scopes.clear()
    for (const s of source.scopes()) {
      const id = scopeNetworkId(s)
      if (id !== undefined) loadScope(id)
    }
    sortedScopes = [...scopes.keys()].sort()
  }
  function ensure (): void {
    if (!failed) return
    failed = false
    gen++
    load()
  }

  load()
  const unsubscribe = source.onEntry(onEvent)

  return {
    networks: () => { ensure(); return networks.values },
    services: () => { ensure(); return services.values },
    nodes: () => { ensure(); return nodes.values },
    networkConflicts () {
      ensure()
      conflicts ??= networkConflicts(networks.values)
      return conflicts
    },
    networkScopes: () => { ensure(); return sortedScopes },
    endpoints: (networkId) => { ensure(); return scopes.get(networkId) },
    subscribe (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    syncScopes () {
      ensure()
      syncScopes()
    },
    generation () {
      ensure()
      return gen
    },
    close: unsubscribe
  }
}
