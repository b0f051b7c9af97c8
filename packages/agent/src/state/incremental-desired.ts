import type { BackendSpec, NetworkDesired, RemoteEndpointSpec, ServiceSpec } from '../dataplane/spec/types.js'
import { isDsr, isInternal } from './publish.js'
import type { NetworkConflict } from './conflicts.js'
import { backendOf, compareBackends, compareRemotes, lbAddressesOf, pickSelfLb, remoteOf, sameUnderlayFamily, vip6On, vipOn, type DesiredResult, type DesiredSkip, type EndpointRecord } from './desired.js'
import { findSorted, sameBackends, sameStrings, updateSortedOutputs } from './sorted.js'
import { RemoteIndex, type IpKeys } from './remote-index.js'
import { bagAdd, bagDelete, type KeyBag } from './key-bag.js'
import type { TableCache } from './table-cache.js'
import type { EndpointValue, NetworkValue, ServiceValue } from './tables.js'
import { DEFAULT_MTU_POLICY, networkMtu, type MtuPolicy } from '../dataplane/overlay/mtu.js'

/**
 * Desired state kept up to date from table changes: a change costs work for
 * the networks it touches only, and inside a network for the services and
 * remote IPs it touches only. Unchanged services, remotes, sandboxes,
 * overlays and networks keep their object identity from one result to the
 * next, so the reconciler's comparison short-circuits on `===`. The result
 * equals `computeDesired` over the same tables (the reference).
 */
export interface IncrementalDesired {
  /** Desired state of the current tables. Objects of a result are never mutated afterwards. */
  compute(): DesiredResult
  /** Stop following the cache. */
  close(): void
}

/** Inputs of {@link createIncrementalDesired}. */
export interface IncrementalDesiredInit {
  cache: TableCache
  /** This node's ID. */
  self: string
  /** This node's underlay IP (VXLAN source); '' on a single host. */
  localUnderlay: string
  /** This node's overlay MTU settings. @default DEFAULT_MTU_POLICY */
  mtu?: MtuPolicy
}

/** Indices and outputs of one joined network scope. */
interface NetState {
  readonly id: string
  /** Keys of the live task endpoints of each service id (their values: the cache's). */
  readonly tasksBySvc: Map<string, KeyBag>
  /** Live task endpoints of this node, by key. */
  readonly local: Map<string, EndpointValue>
  /** Live LB endpoints of this node, by key. */
  readonly selfLbs: Map<string, EndpointRecord>
  /**
   * Live endpoints of other nodes by IP, kept inside the sorted list of their
   * remote specs (no map by IP beside it: {@link RemoteIndex}); `remotes.list`
   * is the overlay's `remotes`.
   */
  readonly remotes: RemoteIndex
  /** Other nodes -> number of their live endpoints here. */
  readonly remoteNodes: Map<string, number>
  /** Outputs are stale as a whole (just joined, or the network was not programmed): rebuild from the indices. */
  full: boolean
  /** The remote list is stale as a whole (a node's underlay changed). */
  remotesFull: boolean
  readonly dirtySvcs: Set<string>
  readonly dirtyIps: Set<string>
  /** Service specs sorted by id (no map by id beside it: a spec is found by binary search). */
  services: ServiceSpec[]
  result: NetworkDesired | undefined
  skip: DesiredSkip | undefined
  /** Dual-stack here (this node's LB endpoint has an IPv6 address beside the IPv4 one): services get their `vip6`. */
  dual: boolean
}

function newNetState (id: string): NetState {
  return {
    id, tasksBySvc: new Map(), local: new Map(), selfLbs: new Map(), remotes: new RemoteIndex(), remoteNodes: new Map(),
    full: true, remotesFull: false, dirtySvcs: new Set(), dirtyIps: new Set(), services: [],
    result: undefined, skip: undefined, dual: false
  }
}

const serviceKey = (s: ServiceSpec): string => s.id

/** Follow `init.cache` and compute desired state incrementally. */
export function createIncrementalDesired (init: IncrementalDesiredInit): IncrementalDesired {
  const { cache, self, localUnderlay } = init
  const mtuPolicy = init.mtu ?? DEFAULT_MTU_POLICY
  const states = new Map<string, NetState>()
  /** Network id -> ids of services with a VIP on it. */
  const svcByNet = new Map<string, Set<string>>()
  const touched = new Set<string>()
  let generation = -1
  /** The cache's conflict map as of the last compute (the cache hands out a new map when it changes). */
  let conflicts: ReadonlyMap<string, NetworkConflict> = new Map()

  function vipNetworks (v: ServiceValue | undefined): string[] {
    return v === undefined ? [] : Object.keys(v.vips)
  }

  function addVipNetworks (sid: string, v: ServiceValue | undefined): void {
    for (const n of vipNetworks(v)) {
      let set = svcByNet.get(n)
      if (set === undefined) svcByNet.set(n, set = new Set())
      set.add(sid)
    }
  }

  function markSvc (st: NetState, sid: string): void {
    touched.add(st.id)
    if (!st.full) st.dirtySvcs.add(sid)
  }
  function markIp (st: NetState, ip: string): void {
    touched.add(st.id)
    if (!st.full && !st.remotesFull) st.dirtyIps.add(ip)
  }

  function index (st: NetState, key: string, r: EndpointRecord, add: boolean): void {
    if (r.status !== 'live') return
    const v = r.value
    if (v.node === self) {
      if (v.kind === 'lb') {
        if (add) st.selfLbs.set(key, r)
        else st.selfLbs.delete(key)
        touched.add(st.id)
        return
      }
      if (add) st.local.set(key, v)
      else st.local.delete(key)
      touched.add(st.id)
    } else {
      if (add) st.remotes.add(v.ip, key)
      else st.remotes.delete(v.ip, key)
      const n = (st.remoteNodes.get(v.node) ?? 0) + (add ? 1 : -1)
      if (n > 0) st.remoteNodes.set(v.node, n)
      else st.remoteNodes.delete(v.node)
      markIp(st, v.ip)
    }
    // an endpoint-only task (no service) is a backend of nothing
    if (v.kind !== 'task' || v.service === undefined) return
    const sid = v.service
    const bag = st.tasksBySvc.get(sid)
    const next = add ? bagAdd(bag, key) : bagDelete(bag, key)
    if (next === undefined) st.tasksBySvc.delete(sid)
    else if (next !== bag) st.tasksBySvc.set(sid, next)
    markSvc(st, sid)
  }

  function joined (id: string): void {
    const st = newNetState(id)
    states.set(id, st)
    for (const [key, r] of cache.endpoints(id) ?? []) index(st, key, r, true)
    touched.add(id)
  }

  const unsubscribe = cache.subscribe({
    endpoint (networkId, key, prev, next) {
      const st = states.get(networkId)
      if (st === undefined) return
      if (prev !== undefined) index(st, key, prev, false)
      if (next !== undefined) index(st, key, next, true)
      touched.add(networkId)
    },
    service (sid, prev, next) {
      for (const n of vipNetworks(prev)) svcByNet.get(n)?.delete(sid)
      addVipNetworks(sid, next)
      for (const n of new Set([...vipNetworks(prev), ...vipNetworks(next)])) {
        const st = states.get(n)
        if (st !== undefined) markSvc(st, sid)
      }
    },
    network (id) {
      if (states.has(id)) touched.add(id)
    },
    node (nodeId) {
      for (const st of states.values()) {
        if (!st.remoteNodes.has(nodeId)) continue
        st.remotesFull = true
        st.dirtyIps.clear()
        touched.add(st.id)
      }
    },
    scopeJoined: joined,
    scopeLeft (id) {
      states.delete(id)
      touched.delete(id)
    }
  })
  /** (Re)build every index from the cache: at creation, and after the cache was rebuilt. */
  function rebuild (): void {
    generation = cache.generation()
    states.clear()
    svcByNet.clear()
    touched.clear()
    for (const [sid, v] of cache.services()) addVipNetworks(sid, v)
    for (const id of cache.networkScopes()) joined(id)
    conflicts = cache.networkConflicts()
  }
  rebuild()

  /** A network's conflict depends on every other network: touch those whose conflict state changed. */
  function followConflicts (): void {
    const next = cache.networkConflicts()
    if (next === conflicts) return
    for (const id of states.keys()) if (next.has(id) !== conflicts.has(id)) touched.add(id)
    conflicts = next
  }

  function buildSpec (st: NetState, sid: string): ServiceSpec | undefined {
    const svc = cache.services().get(sid)
    const vip = svc === undefined ? undefined : vipOn(svc, st.id)
    if (svc === undefined || vip === undefined) return undefined
    const vip6 = st.dual ? vip6On(svc, st.id) : undefined
    const backends: BackendSpec[] = []
    const records = cache.endpoints(st.id)
    for (const key of st.tasksBySvc.get(sid) ?? []) {
      const v = records?.value(key)
      if (v !== undefined && v.ip !== vip) backends.push(backendOf(v, vip6 !== undefined))
    }
    backends.sort(compareBackends)
    // slice: a list of the exact length (filter's has room for ~2x: 56 bytes more per 10 backends, bench:memory)
    const unique = backends.filter((b, i) => i === 0 || backends[i - 1]?.ip !== b.ip).slice()
    const prev = findSorted(st.services, serviceKey, sid)
    if (prev !== undefined && prev.vip === vip && prev.vip6 === vip6 && sameBackends(prev.backends, unique) && samePorts(prev, svc)) return prev
    return { id: sid, vip, ...(vip6 === undefined ? {} : { vip6 }), ports: svc.ports, backends: unique }
  }

  function buildRemote (st: NetState, keys: IpKeys | undefined, prev: RemoteEndpointSpec | undefined): RemoteEndpointSpec | undefined {
    let best: RemoteEndpointSpec | undefined
    const nodes = cache.nodes()
    const records = cache.endpoints(st.id)
    for (const key of keys === undefined ? [] : typeof keys === 'string' ? [keys] : keys) {
      const v = records?.value(key)
      if (v === undefined) continue
      const underlay = nodes.get(v.node)?.underlay
      if (underlay === undefined || !sameUnderlayFamily(underlay, localUnderlay)) continue
      const c = remoteOf(v, underlay)
      if (best === undefined || compareRemotes(c, best) < 0) best = c
    }
    if (best !== undefined && prev !== undefined && prev.mac === best.mac && prev.ip6 === best.ip6 && prev.underlay === best.underlay) return prev
    return best
  }

  function updateServices (st: NetState, sids: Iterable<string>): void {
    st.services = updateSortedOutputs(sids, st.services, (sid) => buildSpec(st, sid), serviceKey, (sid) => sid)
  }

  function updateRemotes (st: NetState, ips: Iterable<string>): void {
    st.remotes.update(ips, (_ip, keys, prev) => buildRemote(st, keys, prev))
  }

  /** Forget the outputs of a network that is not programmed: they are rebuilt when it is again. */
  function park (st: NetState, skip: DesiredSkip | undefined): void {
    st.result = undefined
    st.skip = skip
    st.full = true
    st.remotesFull = false
    st.dirtySvcs.clear()
    st.dirtyIps.clear()
    st.services = []
    st.remotes.clearList()
  }

  function recomputeNetwork (st: NetState): void {
    const net: NetworkValue | undefined = cache.networks().get(st.id)
    if (net === undefined || st.local.size === 0) return park(st, undefined)
    if (conflicts.has(st.id)) return park(st, { networkId: st.id, reason: 'subnet-conflict' })
    const lb = pickSelfLb(st.selfLbs.values())
    if (lb === undefined) return park(st, { networkId: st.id, reason: 'no-lb-endpoint' })
    const lbAddresses = lbAddressesOf(lb.value, net.subnets)
    if (lbAddresses === undefined) return park(st, { networkId: st.id, reason: 'lb-ip-outside-subnets' })
    st.skip = undefined
    if (st.dual !== (lbAddresses.length === 2)) {
      // the families served changed: every service's spec with them
      st.dual = lbAddresses.length === 2
      st.full = true
    }
    if (st.full) {
      st.services = []
      st.remotes.clearList()
      updateServices(st, svcByNet.get(st.id) ?? [])
      updateRemotes(st, st.remotes.ips())
    } else {
      updateServices(st, st.dirtySvcs)
      if (st.remotesFull) {
        updateRemotes(st, st.remotes.ips())
      } else updateRemotes(st, st.dirtyIps)
    }
    st.full = false
    st.remotesFull = false
    st.dirtySvcs.clear()
    st.dirtyIps.clear()

    const netns = [...new Set([...st.local.values()].map((v) => v.netns).filter((p): p is string => p !== undefined))].sort()
    const prev = st.result
    const ps = prev?.sandbox
    const internal = isInternal(net.options)
    const dsr = isDsr(net.options)
    const sandbox = ps !== undefined && sameStrings(ps.lbAddresses, lbAddresses) && ps.lbMac === lb.value.mac && ps.services === st.services && (ps.internal === true) === internal && (ps.dsr === true) === dsr
      ? ps
      : { networkId: st.id, lbAddresses, lbMac: lb.value.mac, services: st.services, ...(internal ? { internal: true } : {}), ...(dsr ? { dsr: true } : {}) }
    const po = prev?.overlay
    const mtu = networkMtu(net.options, mtuPolicy).mtu
    const overlay = po !== undefined && po.vni === net.vni && po.mtu === mtu && po.localUnderlay === localUnderlay && po.remotes === st.remotes.list && sameStrings(po.subnets, net.subnets)
      ? po
      : { networkId: st.id, vni: net.vni, subnets: [...net.subnets], localUnderlay, remotes: st.remotes.list, mtu }
    const localTaskNetns = prev !== undefined && sameStrings(prev.localTaskNetns, netns) ? prev.localTaskNetns : netns
    st.result = prev !== undefined && prev.sandbox === sandbox && prev.overlay === overlay && prev.localTaskNetns === localTaskNetns
      ? prev
      : { sandbox, overlay, localTaskNetns }
  }

  return {
    compute () {
      if (cache.generation() !== generation) rebuild()
      cache.syncScopes()
      followConflicts()
      for (const id of touched) {
        const st = states.get(id)
        if (st !== undefined) recomputeNetwork(st)
      }
      touched.clear()
      const desired = new Map<string, NetworkDesired>()
      const skipped: DesiredSkip[] = []
      for (const id of cache.networkScopes()) {
        const st = states.get(id)
        if (st?.result !== undefined) desired.set(id, st.result)
        else if (st?.skip !== undefined) skipped.push(st.skip)
      }
      return { desired, skipped }
    },
    close: unsubscribe
  }
}

function samePorts (spec: ServiceSpec, svc: ServiceValue): boolean {
  if (spec.ports.length !== svc.ports.length) return false
  for (let i = 0; i < spec.ports.length; i++) {
    const p = spec.ports[i] as ServiceSpec['ports'][number]
    const q = svc.ports[i] as ServiceValue['ports'][number]
    if (p.proto !== q.proto || p.port !== q.port || p.targetPort !== q.targetPort) return false
  }
  return true
}
