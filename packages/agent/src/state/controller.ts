import { createHash, randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import type { Clock, Gossip } from '@scalelb/gossip'
import type { Logger } from '../logging/logger.js'
import { ID_HEX_LENGTH, VNI_MAX, VNI_MIN } from '../constants.js'
import { ConflictError, NotFoundError, ValidationError } from '../errors.js'
import type {
  NetworkCreateRequest, NetworkInfo, ServiceCreateRequest, ServiceInfo, TaskAddRequest, TaskInfo
} from '../types.js'
import { cidrFamily, macFor, subnetOf } from './addr.js'
import { findOverlap } from './conflicts.js'
import { ipHolder } from './ip-holder.js'
import type { Ipam } from './ipam.js'
import type { LocalEndpoint, LocalTask } from './local-tasks.js'
import {
  TABLE_ENDPOINTS, TABLE_IPAM, TABLE_NETWORKS, TABLE_SERVICES, lbEndpointKey, networkScope, parseEndpointKey, taskEndpointKey,
  type EndpointState, type EndpointValue, type NetworkValue, type ServiceValue
} from './tables.js'
import type { TablesView } from './view.js'
import { DEFAULT_MTU_POLICY, NETWORK_MTU_OPTION, mtuProblem, networkMtu, type MtuPolicy } from '../dataplane/overlay/mtu.js'

/** Plugs a task netns into a network (data plane `attachTaskNetns` / `detachTaskNetns`). */
export interface TaskPlumber {
  attach(init: { networkId: string, netnsPath: string, address: string, mac: string, ifName: string, mtu: number }): Promise<{ hostIfName: string }>
  detach(init: { networkId: string, netnsPath: string, ifName: string, hostIfName?: string }): Promise<void>
}

/** Options of {@link createController}. */
export interface ControllerInit {
  gossip: Gossip
  ipam: Ipam
  view: TablesView
  /** Wall clock: originMs of endpoint values. */
  wallClock: () => number
  clock: Clock
  logger: Logger
  plumber: TaskPlumber
  /** Local tasks restored from the data dir. */
  tasks?: LocalTask[]
  /** Called after every local change (persist). */
  onChange: () => void
  /** Resolves once the data plane applied the tables as they are now (the bridge a `--netns` task plugs into exists). */
  applied: (signal?: AbortSignal) => Promise<void>
  /** Why this node does not program a network it should (skipped or refused desired state), shown by inspect. @default none */
  programmingError?: (networkId: string) => string | undefined
  /** This node's overlay MTU settings (network create checks a network's `mtu` against them). @default DEFAULT_MTU_POLICY */
  mtu?: MtuPolicy
}

/** Options of a controller call that may wait (for a donation, for the data plane). */
export interface CallOptions {
  /** The caller gave up (API deadline): stop waiting and roll back. */
  signal?: AbortSignal
}

/** The agent's operations behind the control API. */
export interface Controller {
  createNetwork(req: NetworkCreateRequest): Promise<NetworkInfo>
  listNetworks(): NetworkInfo[]
  inspectNetwork(ref: string): NetworkInfo
  removeNetwork(ref: string, opts: { force: boolean }): Promise<void>
  createService(req: ServiceCreateRequest, opts?: CallOptions): Promise<ServiceInfo>
  listServices(): ServiceInfo[]
  inspectService(ref: string): ServiceInfo
  removeService(ref: string, opts: { force: boolean }): Promise<void>
  /** Add (or, if it exists, return) a local task. `created` is false for a repeated add. */
  addTask(req: TaskAddRequest, opts?: CallOptions): Promise<{ task: TaskInfo, created: boolean }>
  listTasks(opts?: { service?: string }): TaskInfo[]
  removeTask(id: string): Promise<void>
  setTaskState(id: string, state: EndpointState): TaskInfo
  /** Local tasks (persisted). */
  localTasks(): LocalTask[]
  /** Re-publish own endpoints (after a restart) and join the scopes of local tasks. */
  republish(): void
  /** A network was deleted (by anyone): drop local tasks on it. */
  networkDeleted(networkId: string): Promise<void>
  /** A service was deleted (by anyone): release VIPs this node allocated for it. */
  serviceDeleted(serviceId: string): void
  /** Release LB IPs whose grace ended; withdraw their endpoints and leave scopes without local tasks. */
  tickLbRelease(): void
  /** Withdraw every local endpoint and detach task netns (leave). */
  withdrawAll(): Promise<void>
}

function newId (): string {
  return randomBytes(ID_HEX_LENGTH / 2).toString('hex')
}

/** Create the controller. */
export function createController (init: ControllerInit): Controller {
  const { gossip, ipam, view, logger } = init
  const alloc = ipam.allocator
  const self = gossip.id
  const tasks = new Map<string, LocalTask>((init.tasks ?? []).map((t) => [t.id, t]))
  const mtuPolicy = init.mtu ?? DEFAULT_MTU_POLICY

  function networkInfo (id: string, v: NetworkValue): NetworkInfo {
    const info: NetworkInfo = { id, name: v.name, subnets: v.subnets, vni: v.vni, options: v.options, mtu: networkMtu(v.options, mtuPolicy).mtu, nodes: gossip.scopeMembers(networkScope(id)).sort(), lbIp: alloc.hasNetwork(id) ? alloc.lbIp(id) : undefined }
    const c = view.conflicts().get(id)
    if (c !== undefined) info.conflict = { with: c.withName, withId: c.with, subnet: c.subnet, ownSubnet: c.ownSubnet }
    const error = init.programmingError?.(id)
    if (error !== undefined) info.error = error
    return info
  }
  /**
   * Refuse what would give a network kernel state it cannot have: a subnet
   * conflict (it lost its subnets to an earlier network) or an IPv6 subnet
   * (the data plane is IPv4 only; such a network comes from an older agent).
   */
  function mustBeUsable (id: string, field: string): void {
    const n = view.networks().get(id)
    if (n === undefined) return
    const c = view.conflicts().get(id)
    if (c !== undefined) {
      throw new ConflictError(field, `network ${n.name} is in conflict: its subnet ${c.ownSubnet} overlaps ${c.subnet} of network ${c.withName}, created earlier; remove network ${n.name} and create it again with a free subnet`)
    }
    const v6 = n.subnets.find((x) => cidrFamily(x) === 6)
    if (v6 !== undefined) throw new ValidationError(field, `network ${n.name} has an IPv6 subnet (${v6}); IPv6 is not supported by the data plane yet`)
  }
  /** A repeated `task add` must ask for the task that exists: same service, IP, netns and networks. */
  function checkSameTask (t: LocalTask, req: TaskAddRequest, serviceId: string): void {
    const was = (x: string | undefined): string => x === undefined ? 'none' : x
    if (t.serviceId !== serviceId) throw new ConflictError('service', `task ${t.id} exists for service ${view.services().get(t.serviceId)?.name ?? t.serviceId}, not ${req.service}`)
    const ip = t.mode === 'ip' ? t.endpoints[0]?.ip : undefined
    // the field the request gives is the one named
    const fields: Array<[string, string | undefined, string | undefined]> = [['ip', req.ip, ip], ['netns', req.netns, t.netns]]
    if (req.ip === undefined) fields.reverse()
    for (const [field, asked, has] of fields) if (asked !== has) throw new ConflictError(field, `task ${t.id} exists with ${field} ${was(has)}, not ${was(asked)}`)
    if (req.networks !== undefined) {
      const wanted = req.networks.map((r, i) => mustNetwork(r, `networks[${i}]`).id).sort()
      const has = t.endpoints.map((e) => e.networkId).sort()
      if (wanted.join() !== has.join()) throw new ConflictError('networks', `task ${t.id} exists on networks ${has.map((n) => view.networks().get(n)?.name ?? n).join(', ')}, not ${req.networks.join(', ')}`)
    }
  }
  function serviceInfo (id: string, v: ServiceValue): ServiceInfo {
    const nets = view.networks()
    const vips = Object.entries(v.vips).map(([networkId, vip]) => ({ networkId, network: nets.get(networkId)?.name ?? networkId, vip }))
    vips.sort((a, b) => a.network < b.network ? -1 : 1)
    return { id, name: v.name, ports: v.ports, vips }
  }
  function mustNetwork (ref: string, field: string): { id: string, value: NetworkValue } {
    const n = view.findNetwork(ref)
    if (n === undefined) throw new NotFoundError(field, `unknown network ${JSON.stringify(ref)}`)
    return n
  }
  function mustService (ref: string, field: string): { id: string, value: ServiceValue } {
    const s = view.findService(ref)
    if (s === undefined) throw new NotFoundError(field, `unknown service ${JSON.stringify(ref)}`)
    return s
  }
  function endpointValue (t: LocalTask, ep: LocalEndpoint, ports: ServiceValue['ports'] | undefined): EndpointValue {
    const v: EndpointValue = { kind: 'task', service: t.serviceId, ip: ep.ip, mac: ep.mac, node: self, state: t.state, weight: t.weight, originMs: init.wallClock() }
    if (ports !== undefined) v.ports = ports
    if (t.netns !== undefined) v.netns = t.netns
    return v
  }
  function publishTask (t: LocalTask): void {
    const ports = view.services().get(t.serviceId)?.ports
    for (const ep of t.endpoints) {
      gossip.joinScope(networkScope(ep.networkId))
      gossip.set(networkScope(ep.networkId), TABLE_ENDPOINTS, taskEndpointKey(self, t.id), endpointValue(t, ep, ports))
    }
  }
  function publishLb (networkId: string, lbIp: string): void {
    gossip.joinScope(networkScope(networkId))
    const v: EndpointValue = { kind: 'lb', ip: lbIp, mac: macFor(networkId, lbIp), node: self, state: 'ready', originMs: init.wallClock() }
    gossip.set(networkScope(networkId), TABLE_ENDPOINTS, lbEndpointKey(self), v)
  }
  function taskInfoLocal (t: LocalTask): TaskInfo {
    const nets = view.networks()
    const info: TaskInfo = {
      id: t.id, serviceId: t.serviceId, service: view.services().get(t.serviceId)?.name ?? t.serviceId, node: self, state: t.state, status: 'live',
      endpoints: t.endpoints.map((e) => ({ networkId: e.networkId, network: nets.get(e.networkId)?.name ?? e.networkId, ip: e.ip, mac: e.mac }))
    }
    if (t.netns !== undefined) info.netns = t.netns
    return info
  }
  /** Delete an own endpoint entry; a scope this node already left holds nothing to delete. */
  function withdraw (networkId: string, key: string): void {
    if (gossip.scopes().includes(networkScope(networkId))) gossip.delete(networkScope(networkId), TABLE_ENDPOINTS, key)
  }
  function localTasksOn (networkId: string): LocalTask[] {
    return [...tasks.values()].filter((t) => t.endpoints.some((e) => e.networkId === networkId))
  }
  /** Withdraw and release one endpoint; `cooldown: false` for an address never published (a rolled-back add). */
  async function dropEndpoint (t: LocalTask, ep: LocalEndpoint, cooldown = true): Promise<void> {
    withdraw(ep.networkId, taskEndpointKey(self, t.id))
    if (t.mode === 'netns' && t.netns !== undefined && ep.ifName !== undefined) {
      try {
        await init.plumber.detach({ networkId: ep.networkId, netnsPath: t.netns, ifName: ep.ifName, hostIfName: ep.hostIfName })
      } catch (err) {
        logger.warn('detaching task netns failed', { task: t.id, networkId: ep.networkId, error: (err as Error).message })
      }
    }
    if (alloc.hasNetwork(ep.networkId)) {
      if (ep.allocated) {
        try { alloc.release(ep.networkId, ep.ip, init.clock.now(), { cooldown }) } catch (err) { logger.warn('releasing task address failed', { task: t.id, ip: ep.ip, error: (err as Error).message }) }
      }
      alloc.localTaskRemoved(ep.networkId, t.id, init.clock.now())
    }
  }

  const ctl: Controller = {
    async createNetwork (req) {
      if (view.findNetwork(req.name) !== undefined) throw new ConflictError('name', `a network named ${JSON.stringify(req.name)} exists`)
      const nets = view.networks()
      const used = new Set([...nets.values()].map((n) => n.vni))
      let vni = req.vni
      if (vni !== undefined && used.has(vni)) throw new ConflictError('vni', `VNI ${vni} is used by another network`)
      if (vni === undefined) {
        for (let v = VNI_MIN; v <= VNI_MAX; v++) if (!used.has(v)) { vni = v; break }
      }
      if (vni === undefined) throw new ConflictError('vni', 'no free VNI')
      const overlap = findOverlap(req.subnets, nets)
      if (overlap !== undefined) {
        throw new ConflictError(`subnets[${req.subnets.indexOf(overlap.ownSubnet)}]`, `${overlap.ownSubnet} overlaps subnet ${overlap.subnet} of network ${overlap.name} (${overlap.id})`)
      }
      if (req.mtu !== undefined) {
        const problem = mtuProblem(req.mtu, mtuPolicy.max)
        if (problem !== undefined) throw new ValidationError('mtu', problem)
      }
      const id = newId()
      let tokens
      try {
        tokens = alloc.createNetwork(id, req.subnets, init.clock.now())
      } catch (err) {
        const e = err as Error & { field?: string }
        if (['InvalidCidrError', 'HostBitsSetError', 'OverlappingSubnetsError', 'SubnetTooSmallError', 'InvalidInputError'].includes(e.name)) {
          throw new ValidationError(e.field !== undefined && e.field.startsWith('subnets') ? e.field : 'subnets', e.message)
        }
        throw err
      }
      const options = { ...req.options }
      if (req.mtu !== undefined) options[NETWORK_MTU_OPTION] = String(req.mtu)
      const value: NetworkValue = { name: req.name, subnets: alloc.ownedBy(id).subnets, vni, options, createdMs: init.wallClock() }
      gossip.set('cluster', TABLE_NETWORKS, id, value)
      ipam.publishTokens(id, tokens)
      init.onChange()
      logger.info('network created', { networkId: id, name: req.name, subnets: value.subnets, vni, mtu: networkMtu(options, mtuPolicy).mtu })
      return networkInfo(id, value)
    },
    listNetworks () {
      return [...view.networks()].map(([id, v]) => networkInfo(id, v)).sort((a, b) => a.name < b.name ? -1 : 1)
    },
    inspectNetwork (ref) {
      const n = mustNetwork(ref, 'network')
      return networkInfo(n.id, n.value)
    },
    async removeNetwork (ref, opts) {
      const n = mustNetwork(ref, 'network')
      const members = gossip.scopeMembers(networkScope(n.id)).filter((m) => m !== self)
      const local = localTasksOn(n.id)
      if (!opts.force && (members.length > 0 || local.length > 0)) {
        throw new ConflictError('network', `network ${n.value.name} still has tasks (${local.length} here, nodes ${members.length > 0 ? members.join(', ') : 'none other'}); remove them or use --force`)
      }
      gossip.delete('cluster', TABLE_NETWORKS, n.id)
      for (const e of gossip.entries('cluster', TABLE_IPAM)) {
        if (!e.deleted && e.key.startsWith(`${n.id}/`)) gossip.delete('cluster', TABLE_IPAM, e.key)
      }
      await ctl.networkDeleted(n.id)
      logger.info('network removed', { networkId: n.id, name: n.value.name, force: opts.force })
    },
    async createService (req, opts = {}) {
      if (view.findService(req.name) !== undefined) throw new ConflictError('name', `a service named ${JSON.stringify(req.name)} exists`)
      const nets = req.networks.map((r, i) => mustNetwork(r, `networks[${i}]`))
      if (new Set(nets.map((n) => n.id)).size !== nets.length) throw new ValidationError('networks', 'a network is listed twice')
      nets.forEach((n, i) => mustBeUsable(n.id, `networks[${i}]`))
      const id = newId()
      const vips: Record<string, string> = {}
      try {
        for (const n of nets) {
          if (!alloc.hasNetwork(n.id)) alloc.addNetwork(n.id, n.value.subnets)
          ipam.syncNetwork(n.id)
          vips[n.id] = await ipam.allocate(n.id, 'vip', id, opts)
        }
      } catch (err) {
        for (const [nid, ip] of Object.entries(vips)) { try { alloc.release(nid, ip, init.clock.now(), { cooldown: false }) } catch { /* already gone */ } }
        init.onChange()
        throw err
      }
      const value: ServiceValue = { name: req.name, ports: req.ports, vips }
      gossip.set('cluster', TABLE_SERVICES, id, value)
      init.onChange()
      logger.info('service created', { serviceId: id, name: req.name, vips })
      return serviceInfo(id, value)
    },
    listServices () {
      return [...view.services()].map(([id, v]) => serviceInfo(id, v)).sort((a, b) => a.name < b.name ? -1 : 1)
    },
    inspectService (ref) {
      const s = mustService(ref, 'service')
      return serviceInfo(s.id, s.value)
    },
    async removeService (ref, opts) {
      const s = mustService(ref, 'service')
      const users = ctl.listTasks({ service: s.id })
      if (users.length > 0 && !opts.force) throw new ConflictError('service', `service ${s.value.name} still has ${users.length} task(s); remove them or use --force`)
      for (const t of [...tasks.values()]) if (t.serviceId === s.id) await ctl.removeTask(t.id)
      gossip.delete('cluster', TABLE_SERVICES, s.id)
      ctl.serviceDeleted(s.id)
      logger.info('service removed', { serviceId: s.id, name: s.value.name })
    },
    async addTask (req, opts = {}) {
      const s = mustService(req.service, 'service')
      const state = req.state ?? 'ready'
      const weight = req.weight ?? 1
      const id = req.id ?? createHash('sha256').update(`${s.id}\n${req.netns ?? ''}\n${req.ip ?? ''}`).digest('hex').slice(0, ID_HEX_LENGTH)
      const existing = tasks.get(id)
      if (existing !== undefined) {
        checkSameTask(existing, req, s.id)
        return { task: taskInfoLocal(existing), created: false }
      }
      let netIds = Object.keys(s.value.vips)
      if (req.networks !== undefined) {
        const wanted = req.networks.map((r, i) => mustNetwork(r, `networks[${i}]`).id)
        for (const [i, w] of wanted.entries()) if (!netIds.includes(w)) throw new ValidationError(`networks[${i}]`, `service ${s.value.name} is not attached to network ${req.networks[i]}`)
        netIds = wanted
      }
      if (netIds.length === 0) throw new ValidationError('service', `service ${s.value.name} is attached to no network`)
      const nets = view.networks()
      const task: LocalTask = { id, serviceId: s.id, mode: req.netns !== undefined ? 'netns' : 'ip', state, weight, endpoints: [] }
      if (req.netns !== undefined) task.netns = req.netns
      if (req.ip !== undefined) {
        const nid = netIds.find((n) => subnetOf(req.ip as string, nets.get(n)?.subnets ?? []) !== undefined)
        if (nid === undefined) throw new ValidationError('ip', `${req.ip} is in no subnet of the service's networks`)
        netIds = [nid]
      }
      for (const nid of netIds) mustBeUsable(nid, req.networks === undefined ? 'service' : 'networks')
      let published = false
      try {
        for (const nid of netIds) {
          const net = nets.get(nid)
          if (net === undefined) throw new NotFoundError('service', `network ${nid} of service ${s.value.name} is not known on this node yet`)
          if (!alloc.hasNetwork(nid)) alloc.addNetwork(nid, net.subnets)
          ipam.syncNetwork(nid)
          let ip: string
          let allocated = false
          if (req.ip !== undefined) {
            ip = req.ip
            const holder = ipHolder(view, nid, ip)
            if (holder !== undefined) throw new ConflictError('ip', `${ip} is in use on network ${net.name}: ${holder}`)
            try {
              alloc.allocateSpecific(nid, ip, 'task', init.clock.now(), id)
              allocated = true
            } catch (err) {
              const e = err as Error & { reason?: string }
              if (e.name === 'AddressUnavailableError' && e.reason === 'in-use') throw new ConflictError('ip', `${ip} is in use on network ${net.name}`)
              if (e.name === 'AddressUnavailableError' && e.reason === 'reserved') throw new ValidationError('ip', `${ip} is reserved (network or broadcast address)`)
              logger.warn('publishing a task address this node does not own', { task: id, ip, reason: e.message })
            }
          } else {
            ip = await ipam.allocate(nid, 'task', id, opts)
            allocated = true
          }
          const ep: LocalEndpoint = { networkId: nid, ip, mac: macFor(nid, ip), allocated }
          task.endpoints.push(ep)
          const { lbIp, allocated: lbNew } = await ipam.localTaskAdded(nid, id, opts)
          if (lbNew || gossip.get(networkScope(nid), TABLE_ENDPOINTS, lbEndpointKey(self))?.deleted !== false) publishLb(nid, lbIp)
        }
        if (task.mode === 'netns' && task.netns !== undefined) {
          // publish as draining first (0 slots: no connection is sent to it yet), so the data
          // plane builds the network's bridge and sandbox; then plug the netns in
          publishTask({ ...task, state: 'draining' })
          published = true
          await init.applied(opts.signal)
          for (const [i, ep] of task.endpoints.entries()) {
            const net = nets.get(ep.networkId) as NetworkValue
            ep.ifName = `eth${i}`
            const prefix = subnetOf(ep.ip, net.subnets)?.split('/')[1] ?? (isIP(ep.ip) === 4 ? '32' : '128')
            const mtu = networkMtu(net.options, mtuPolicy).mtu
            const r = await init.plumber.attach({ networkId: ep.networkId, netnsPath: task.netns, address: `${ep.ip}/${prefix}`, mac: ep.mac, ifName: ep.ifName, mtu })
            ep.hostIfName = r.hostIfName
          }
        }
      } catch (err) {
        for (const ep of task.endpoints) await dropEndpoint(task, ep, published)
        init.onChange()
        throw err
      }
      tasks.set(id, task)
      publishTask(task)
      init.onChange()
      logger.info('task added', { task: id, service: s.value.name, mode: task.mode, endpoints: task.endpoints.map((e) => e.ip) })
      return { task: taskInfoLocal(task), created: true }
    },
    listTasks (opts = {}) {
      const sid = opts.service === undefined ? undefined : mustService(opts.service, 'service').id
      // by endpoint key: task IDs are unique per node only
      const out = new Map<string, TaskInfo>()
      for (const t of tasks.values()) out.set(taskEndpointKey(self, t.id), taskInfoLocal(t))
      const nets = view.networks()
      const svcs = view.services()
      for (const scope of gossip.scopes()) {
        if (!scope.startsWith('network:')) continue
        const nid = scope.slice('network:'.length)
        for (const r of view.endpoints(nid)) {
          if (r.value.kind !== 'task' || r.value.node === self || r.status === 'deleted') continue
          const k = parseEndpointKey(r.key)
          if (k?.kind !== 'task') continue
          const sv = r.value.service as string
          let info = out.get(r.key)
          if (info === undefined) {
            info = { id: k.taskId, serviceId: sv, service: svcs.get(sv)?.name ?? sv, node: r.value.node, state: r.value.state, status: r.status === 'suspended' ? 'suspended' : 'live', endpoints: [] }
            out.set(r.key, info)
          }
          info.endpoints.push({ networkId: nid, network: nets.get(nid)?.name ?? nid, ip: r.value.ip, mac: r.value.mac })
        }
      }
      return [...out.values()].filter((t) => sid === undefined || t.serviceId === sid).sort((a, b) => a.id !== b.id ? (a.id < b.id ? -1 : 1) : a.node < b.node ? -1 : 1)
    },
    async removeTask (id) {
      const t = tasks.get(id)
      if (t === undefined) throw new NotFoundError('task', `no local task ${JSON.stringify(id)} on this node`)
      for (const ep of t.endpoints) await dropEndpoint(t, ep)
      tasks.delete(id)
      init.onChange()
      logger.info('task removed', { task: id })
    },
    setTaskState (id, state) {
      const t = tasks.get(id)
      if (t === undefined) throw new NotFoundError('task', `no local task ${JSON.stringify(id)} on this node`)
      t.state = state
      publishTask(t)
      init.onChange()
      logger.info('task state changed', { task: id, state })
      return taskInfoLocal(t)
    },
    localTasks: () => [...tasks.values()],
    republish () {
      for (const t of tasks.values()) {
        for (const ep of t.endpoints) {
          if (!alloc.hasNetwork(ep.networkId)) continue
          const lb = alloc.lbIp(ep.networkId)
          if (lb !== undefined) publishLb(ep.networkId, lb)
        }
        publishTask(t)
      }
    },
    async networkDeleted (networkId) {
      for (const t of localTasksOn(networkId)) {
        const ips = t.endpoints.filter((e) => e.networkId === networkId).map((e) => e.ip)
        logger.warn('network deleted: local task taken off it', { networkId, task: t.id, serviceId: t.serviceId, ips, taskRemoved: t.endpoints.every((e) => e.networkId === networkId) })
        for (const ep of t.endpoints.filter((e) => e.networkId === networkId)) await dropEndpoint(t, ep)
        t.endpoints = t.endpoints.filter((e) => e.networkId !== networkId)
        if (t.endpoints.length === 0) tasks.delete(t.id)
      }
      withdraw(networkId, lbEndpointKey(self))
      if (gossip.scopes().includes(networkScope(networkId))) gossip.leaveScope(networkScope(networkId))
      if (alloc.hasNetwork(networkId)) alloc.deleteNetwork(networkId)
      init.onChange()
    },
    serviceDeleted (serviceId) {
      for (const nid of alloc.networks()) {
        for (const a of alloc.allocations(nid)) {
          if (a.kind === 'vip' && a.owner === serviceId) {
            try { alloc.release(nid, a.address, init.clock.now()) } catch { /* already released */ }
          }
        }
      }
      init.onChange()
    },
    tickLbRelease () {
      const released = alloc.tick(init.clock.now())
      for (const r of released) {
        withdraw(r.networkId, lbEndpointKey(self))
        if (localTasksOn(r.networkId).length === 0 && gossip.scopes().includes(networkScope(r.networkId))) gossip.leaveScope(networkScope(r.networkId))
        logger.info('LB IP released', { networkId: r.networkId, ip: r.ip })
      }
      if (released.length > 0) init.onChange()
    },
    async withdrawAll () {
      for (const t of [...tasks.values()]) await ctl.removeTask(t.id)
      for (const nid of alloc.networks()) withdraw(nid, lbEndpointKey(self))
    }
  }
  return ctl
}
