import { isIP } from 'node:net'
import { vip6On, vipOn, type EndpointRecord } from '../state/desired.js'

/** Suffix of the index key of an endpoint's IPv6 address (a dual-stack endpoint has two addresses under one entry key). */
const IP6_ENTRY_SUFFIX = '#6'
import { parseEndpointKey, type NetworkValue, type ServiceValue } from '../state/tables.js'
import type { TableChangeListener } from '../state/table-cache.js'

/**
 * The names a task can resolve, indexed per network from the replicated
 * tables (pure: no I/O). Kept up to date from table-cache change events, so
 * a lookup costs a few map reads whatever the number of services (its
 * slow twin, a scan of the tables, is the reference in tests).
 *
 * Names, for a query from network N (lower-cased; names of other networks
 * are not visible):
 * - `<service>`, `<service>.<N>`: the service's VIP on N, or for a `dnsrr`
 *   service (no VIP) its task IPs;
 * - `tasks.<service>`, `tasks.<service>.<N>`: IPs of its live, ready tasks on N;
 * - `<task id>`, `<task id>.<N>`: the task's IP on N;
 * - PTR of a VIP (`<service>.<N>`) and of a task IP (`<task id>.<N>`).
 */

/** What the tables read (a subset of the table cache). */
export interface NameSource {
  networks(): ReadonlyMap<string, NetworkValue>
  services(): ReadonlyMap<string, ServiceValue>
  /** Endpoint records of a joined network scope; undefined when not joined. */
  endpoints(networkId: string): ReadonlyMap<string, EndpointRecord> | undefined
  /** Joined network scopes. */
  networkScopes(): readonly string[]
  /** Bumped when the source was rebuilt without change events: the index then reads it again. @default never */
  generation?(): number
}

/** Result of a forward lookup. */
export type NameResult =
  /** A cluster name: its addresses (possibly none of the asked family). */
  | { kind: 'found', addrs: string[] }
  /** Under the cluster's own names but unknown: NXDOMAIN. */
  | { kind: 'nxdomain' }
  /** Not a cluster name: forward upstream. */
  | { kind: 'external' }

/** Result of a reverse lookup: the names of an address, or not a cluster address. */
export type PtrResult = { kind: 'found', names: string[] } | { kind: 'external' }

/** Name lookups over the tables, kept current by the change listener. */
export interface NameIndex {
  /** Resolve `name` (any case, no trailing dot) for a query from `networkId`. */
  lookup(networkId: string, name: string): NameResult
  /** Names of `ip` on `networkId`. */
  reverse(networkId: string, ip: string): PtrResult
  /** The name of a network (for the SOA of its names), if known. */
  networkName(networkId: string): string | undefined
  /** Feed this to the table cache's `subscribe`. */
  readonly listener: TableChangeListener
  /** Forget everything and read the source again (the cache was rebuilt). */
  rebuild(): void
}

/** Per joined network: its live task endpoints, indexed. */
interface NetIndex {
  /** Service id -> endpoint key -> IP, live and ready tasks only. */
  readyBySvc: Map<string, Map<string, string>>
  /** Lower-cased task id -> endpoint key -> IP, live tasks. */
  byTaskId: Map<string, Map<string, string>>
  /** Task IP -> endpoint key -> task id (lower-cased). */
  ptr: Map<string, Map<string, string>>
}

function addTo<K, V> (m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k)
  if (s === undefined) m.set(k, s = new Set())
  s.add(v)
}
function removeFrom<K, V> (m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k)
  if (s === undefined) return
  s.delete(v)
  if (s.size === 0) m.delete(k)
}
function putIn<K> (m: Map<K, Map<string, string>>, k: K, key: string, ip: string): void {
  let inner = m.get(k)
  if (inner === undefined) m.set(k, inner = new Map())
  inner.set(key, ip)
}
function dropIn<K> (m: Map<K, Map<string, string>>, k: K, key: string): void {
  const inner = m.get(k)
  if (inner === undefined) return
  inner.delete(key)
  if (inner.size === 0) m.delete(k)
}

/** Prefix of the names of a service's tasks. */
export const TASKS_PREFIX = 'tasks.'

class Index implements NameIndex {
  /** Lower-cased service name -> service ids (names are not unique in the tables). */
  private readonly svcByName = new Map<string, Set<string>>()
  /** Network id -> VIP -> service ids. */
  private readonly vipPtr = new Map<string, Map<string, Set<string>>>()
  /** Lower-cased network name -> network ids. */
  private readonly netByName = new Map<string, Set<string>>()
  private readonly nets = new Map<string, NetIndex>()
  private gen: number | undefined
  readonly listener: TableChangeListener

  constructor (private readonly src: NameSource) {
    this.listener = {
      network: (id, prev, next) => {
        if (prev !== undefined) removeFrom(this.netByName, prev.name.toLowerCase(), id)
        if (next !== undefined) addTo(this.netByName, next.name.toLowerCase(), id)
      },
      service: (id, prev, next) => {
        if (prev !== undefined) this.indexService(id, prev, false)
        if (next !== undefined) this.indexService(id, next, true)
      },
      endpoint: (networkId, key, prev, next) => {
        const n = this.nets.get(networkId)
        if (n === undefined) return
        if (prev !== undefined) this.indexEndpoint(n, key, prev, false)
        if (next !== undefined) this.indexEndpoint(n, key, next, true)
      },
      scopeJoined: (networkId) => { this.loadNet(networkId) },
      scopeLeft: (networkId) => { this.nets.delete(networkId) }
    }
    this.rebuild()
  }

  rebuild (): void {
    this.gen = this.src.generation?.()
    this.svcByName.clear()
    this.vipPtr.clear()
    this.netByName.clear()
    this.nets.clear()
    for (const [id, n] of this.src.networks()) addTo(this.netByName, n.name.toLowerCase(), id)
    for (const [id, s] of this.src.services()) this.indexService(id, s, true)
    for (const id of this.src.networkScopes()) this.loadNet(id)
  }

  private loadNet (networkId: string): void {
    const n: NetIndex = { readyBySvc: new Map(), byTaskId: new Map(), ptr: new Map() }
    this.nets.set(networkId, n)
    for (const [key, r] of this.src.endpoints(networkId) ?? []) this.indexEndpoint(n, key, r, true)
  }

  private indexService (id: string, s: ServiceValue, add: boolean): void {
    if (add) addTo(this.svcByName, s.name.toLowerCase(), id)
    else removeFrom(this.svcByName, s.name.toLowerCase(), id)
    for (const [nid, vip] of [...Object.entries(s.vips), ...Object.entries(s.vips6 ?? {})]) {
      let m = this.vipPtr.get(nid)
      if (m === undefined) {
        if (!add) continue
        this.vipPtr.set(nid, m = new Map())
      }
      if (add) addTo(m, vip, id)
      else {
        removeFrom(m, vip, id)
        if (m.size === 0) this.vipPtr.delete(nid)
      }
    }
  }

  private indexEndpoint (n: NetIndex, key: string, r: EndpointRecord, add: boolean): void {
    const v = r.value
    if (v.kind !== 'task' || r.status !== 'live') return
    const k = parseEndpointKey(key)
    if (k?.kind !== 'task') return
    const tid = k.taskId.toLowerCase()
    // a dual-stack endpoint: its IPv6 address under a second entry key (AAAA beside A, and its PTR)
    for (const [ek, ip] of v.ip6 === undefined ? [[key, v.ip]] : [[key, v.ip], [`${key}${IP6_ENTRY_SUFFIX}`, v.ip6]]) {
      if (add) {
        putIn(n.byTaskId, tid, ek, ip)
        putIn(n.ptr, ip, ek, tid)
        if (v.state === 'ready' && v.service !== undefined) putIn(n.readyBySvc, v.service, ek, ip)
      } else {
        dropIn(n.byTaskId, tid, ek)
        dropIn(n.ptr, ip, ek)
        if (v.service !== undefined) dropIn(n.readyBySvc, v.service, ek)
      }
    }
  }

  networkName (networkId: string): string | undefined {
    return this.src.networks().get(networkId)?.name
  }

  /** Services of `name` attached to `networkId` (a VIP there, or dnsrr with tasks there). */
  private serviceOn (networkId: string, name: string): { id: string, vips: string[] | undefined } | undefined {
    const ids = this.svcByName.get(name)
    if (ids === undefined) return undefined
    const services = this.src.services()
    let found: { id: string, vips: string[] | undefined } | undefined
    // the lowest id wins when two services share a name, whatever the event order
    for (const id of ids) {
      const s = services.get(id)
      if (s === undefined || (found !== undefined && found.id < id)) continue
      const vip = vipOn(s, networkId)
      const vip6 = vip6On(s, networkId)
      if (vip !== undefined) found = { id, vips: vip6 === undefined ? [vip] : [vip, vip6] }
      else if (s.endpointMode === 'dnsrr' && s.networks?.includes(networkId) === true) found = { id, vips: undefined }
    }
    return found
  }

  /** A single name without the network suffix: service, then task id. */
  private resolveBare (networkId: string, n: NetIndex | undefined, name: string): string[] | undefined {
    const svc = this.serviceOn(networkId, name)
    if (svc !== undefined) return svc.vips !== undefined ? svc.vips : [...(n?.readyBySvc.get(svc.id)?.values() ?? [])]
    if (name.startsWith(TASKS_PREFIX)) {
      const t = this.serviceOn(networkId, name.slice(TASKS_PREFIX.length))
      if (t !== undefined) return [...(n?.readyBySvc.get(t.id)?.values() ?? [])]
    }
    const task = n?.byTaskId.get(name)
    if (task !== undefined) return [...new Set(task.values())]
    return undefined
  }

  /** Read the source again if it was rebuilt behind the listener's back. */
  private current (): void {
    if (this.src.generation !== undefined && this.src.generation() !== this.gen) this.rebuild()
  }

  lookup (networkId: string, name: string): NameResult {
    this.current()
    const lname = name.toLowerCase()
    const n = this.nets.get(networkId)
    const direct = this.resolveBare(networkId, n, lname)
    if (direct !== undefined) return { kind: 'found', addrs: direct }
    const netName = this.networkName(networkId)?.toLowerCase()
    const suffix = netName === undefined ? undefined : `.${netName}`
    if (suffix !== undefined && lname.endsWith(suffix) && lname.length > suffix.length) {
      const under = this.resolveBare(networkId, n, lname.slice(0, -suffix.length))
      if (under !== undefined) return { kind: 'found', addrs: under }
      return { kind: 'nxdomain' }
    }
    if (!lname.includes('.') || lname.startsWith(TASKS_PREFIX)) return { kind: 'nxdomain' }
    return { kind: 'external' }
  }

  reverse (networkId: string, ip: string): PtrResult {
    this.current()
    const names: string[] = []
    const netName = this.networkName(networkId)
    if (netName === undefined || isIP(ip) === 0) return { kind: 'external' }
    const services = this.src.services()
    for (const id of this.vipPtr.get(networkId)?.get(ip) ?? []) {
      const s = services.get(id)
      if (s !== undefined) names.push(`${s.name}.${netName}`)
    }
    for (const tid of new Set(this.nets.get(networkId)?.ptr.get(ip)?.values())) names.push(`${tid}.${netName}`)
    return names.length === 0 ? { kind: 'external' } : { kind: 'found', names: names.sort() }
  }
}

/** Create the index over `src` (subscribe its `listener` to the cache to keep it current). */
export function createNameIndex (src: NameSource): NameIndex {
  return new Index(src)
}
