import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import { ID_HEX_LENGTH } from '../../constants.js'
import { networkMtu } from '../../dataplane/overlay/mtu.js'
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js'
import type { TaskAddRequest, TaskInfo } from '../../types.js'
import type { TaskPlumber } from '../controller.js'
import { cidrFamily, isDualStack, macFor, primaryFamily, subnetOf, withPrefix } from '../addr.js'
import { ipHolder } from '../ip-holder.js'
import { isDsr, isInternal } from '../publish.js'
import { dsrPorts } from '../../dataplane/lb/dsr.js'
import type { TaskDsr } from '../../dataplane/plumber/index.js'
import type { LocalEndpoint, LocalTask } from '../local-tasks.js'
import {
  TABLE_ENDPOINTS, lbEndpointKey, networkScope, parseEndpointKey, taskEndpointKey,
  type EndpointState, type EndpointValue, type NetworkValue, type ServiceValue
} from '../tables.js'
import type { CallOptions } from '../controller.js'
import { localTasksOn, mustBeUsable, mustNetwork, mustService, withdraw, type ControllerContext } from './context.js'

/** The controller's task operations: local tasks, their endpoints and this node's LB endpoints. */
export class TaskOps {
  constructor (private readonly ctx: ControllerContext) {}

  /** Add (or, if it exists with the same parameters, return) a local task; without a service, an endpoint-only task. */
  async add (req: TaskAddRequest, opts: CallOptions = {}): Promise<{ task: TaskInfo, created: boolean }> {
    const { ctx } = this
    const s = req.service === undefined ? undefined : mustService(ctx, req.service, 'service')
    const id = req.id ?? this.derivedId(req, s?.id)
    const existing = ctx.tasks.get(id)
    if (existing !== undefined) {
      this.checkSameTask(existing, req, s?.id)
      return { task: this.info(existing), created: false }
    }
    const netIds = this.taskNetworks(req, s?.value)
    if (req.ifname !== undefined && netIds.length > 1) throw new ValidationError('ifname', `names the interface of a task on one network; this one gets ${netIds.length} (eth0..eth${netIds.length - 1})`)
    const task: LocalTask = { id, mode: req.netns !== undefined ? 'netns' : 'ip', state: req.state ?? 'ready', weight: req.weight ?? 1, endpoints: [] }
    if (s !== undefined) task.serviceId = s.id
    if (req.netns !== undefined) task.netns = req.netns
    if (req.dns !== undefined) task.dns = req.dns
    const nets = ctx.view.networks()
    const what = s === undefined ? 'the task' : `service ${s.value.name}`
    let published = false
    try {
      for (const nid of netIds) await this.addEndpoint(task, nets, nid, req.ip, what, opts)
      if (task.mode === 'netns' && task.netns !== undefined) {
        // publish as draining first (0 slots: no connection is sent to it yet), so the data
        // plane builds the network's bridge and sandbox; then plug the netns in
        this.publish({ ...task, state: 'draining' })
        published = true
        await ctx.init.applied(opts.signal)
        await this.plug(task, nets, task.netns, req.ifname)
      }
    } catch (err) {
      for (const ep of task.endpoints) await this.dropEndpoint(task, ep, published)
      ctx.init.onChange()
      throw err
    }
    ctx.tasks.set(id, task)
    this.publish(task)
    ctx.init.onChange()
    await this.configureDns(task)
    ctx.init.logger.info('task added', { task: id, service: s?.value.name, mode: task.mode, endpoints: task.endpoints.map((e) => e.ip) })
    return { task: this.info(task), created: true }
  }

  /** The id of a task added without one: a hash of what it is (service, or the networks of an endpoint-only task, and netns/ip). */
  private derivedId (req: TaskAddRequest, serviceId: string | undefined): string {
    const what = serviceId ?? `endpoint\n${(req.networks ?? []).map((r, i) => mustNetwork(this.ctx, r, `networks[${i}]`).id).sort().join(',')}`
    return createHash('sha256').update(`${what}\n${req.netns ?? ''}\n${req.ip ?? ''}`).digest('hex').slice(0, ID_HEX_LENGTH)
  }

  /**
   * The networks a new task gets an endpoint on: the service's, those asked
   * for (which must be the service's, if it has one), or the one `req.ip` is in.
   */
  private taskNetworks (req: TaskAddRequest, s: ServiceValue | undefined): string[] {
    const { ctx } = this
    let netIds = s === undefined ? [] : s.endpointMode === 'dnsrr' ? [...(s.networks ?? [])] : Object.keys(s.vips)
    if (req.networks !== undefined) {
      const wanted = req.networks.map((r, i) => mustNetwork(ctx, r, `networks[${i}]`).id)
      if (s !== undefined) for (const [i, w] of wanted.entries()) if (!netIds.includes(w)) throw new ValidationError(`networks[${i}]`, `service ${s.name} is not attached to network ${req.networks[i]}`)
      netIds = [...new Set(wanted)]
    }
    if (netIds.length === 0) throw new ValidationError(s === undefined ? 'networks' : 'service', s === undefined ? 'required for a task without a service' : `service ${s.name} is attached to no network`)
    if (req.ip !== undefined) {
      const nets = ctx.view.networks()
      const nid = netIds.find((n) => subnetOf(req.ip as string, nets.get(n)?.subnets ?? []) !== undefined)
      if (nid === undefined) {
        const fam = isIP(req.ip)
        const famless = netIds.every((n) => !(nets.get(n)?.subnets ?? []).some((c) => cidrFamily(c) === fam))
        if (famless) throw new ValidationError('ip', `${req.ip} is an IPv${fam} address but the ${s === undefined ? 'given' : 'service\'s'} networks have no IPv${fam} subnet`)
        throw new ValidationError('ip', `${req.ip} is in no subnet of the ${s === undefined ? 'given' : 'service\'s'} networks`)
      }
      netIds = [nid]
    }
    for (const nid of netIds) mustBeUsable(ctx, nid, req.networks === undefined ? 'service' : 'networks')
    return netIds
  }

  /** Give `task` an address on `networkId` (the one asked for, or one from IPAM) and publish this node's LB endpoint there if new. */
  private async addEndpoint (task: LocalTask, nets: ReadonlyMap<string, NetworkValue>, networkId: string, askedIp: string | undefined, what: string, opts: CallOptions): Promise<void> {
    const { ctx } = this
    const net = nets.get(networkId)
    if (net === undefined) throw new NotFoundError(task.serviceId === undefined ? 'networks' : 'service', `network ${networkId} of ${what} is not known on this node yet`)
    if (!ctx.alloc.hasNetwork(networkId)) ctx.alloc.addNetwork(networkId, net.subnets)
    ctx.ipam.syncNetwork(networkId)
    let ip: string
    let allocated = true
    if (askedIp !== undefined) {
      ip = askedIp
      allocated = this.takeAddress(task.id, networkId, net, ip)
    } else ip = await ctx.ipam.allocate(networkId, 'task', task.id, { ...opts, family: primaryFamily(net.subnets) })
    const ep: LocalEndpoint = { networkId, ip, mac: macFor(networkId, ip), allocated }
    task.endpoints.push(ep)
    // a dual-stack network: an IPv6 address beside the IPv4 one (a `--ip` task is plugged already: only what it names)
    if (askedIp === undefined && isDualStack(net.subnets)) ep.ip6 = await ctx.ipam.allocate(networkId, 'task', task.id, { ...opts, family: 6 })
    const { lbIp, lbIp6, allocated: lbNew } = await ctx.ipam.localTaskAdded(networkId, task.id, opts)
    if (lbNew || ctx.gossip.get(networkScope(networkId), TABLE_ENDPOINTS, lbEndpointKey(ctx.self))?.deleted !== false) this.publishLb(networkId, lbIp, lbIp6)
  }

  /** Take the address a task asked for; false when this node does not own it (it is published anyway). */
  private takeAddress (taskId: string, networkId: string, net: NetworkValue, ip: string): boolean {
    const { ctx } = this
    const holder = ipHolder(ctx.view, networkId, ip)
    if (holder !== undefined) throw new ConflictError('ip', `${ip} is in use on network ${net.name}: ${holder}`)
    try {
      ctx.alloc.allocateSpecific(networkId, ip, 'task', ctx.init.clock.now(), taskId)
      return true
    } catch (err) {
      const e = err as Error & { reason?: string }
      if (e.name === 'AddressUnavailableError' && e.reason === 'in-use') throw new ConflictError('ip', `${ip} is in use on network ${net.name}`)
      if (e.name === 'AddressUnavailableError' && e.reason === 'reserved') throw new ValidationError('ip', `${ip} is reserved (network or broadcast address)`)
      ctx.init.logger.warn('publishing a task address this node does not own', { task: taskId, ip, reason: e.message })
      return false
    }
  }

  /** Plug the task's netns into each of its networks (the data plane built their bridges): `ifName`, else eth0, eth1, ... */
  private async plug (task: LocalTask, nets: ReadonlyMap<string, NetworkValue>, netnsPath: string, ifName: string | undefined): Promise<void> {
    // the default route: through this node's sandbox of the first network that has a way out (IPv4: the
    // uplink and the host's masquerade are IPv4 only, so an IPv6-only network gives no default route)
    const out = task.endpoints.find((e) => {
      const n = nets.get(e.networkId)
      return n !== undefined && !isInternal(n.options) && primaryFamily(n.subnets) === 4
    })
    for (const [i, ep] of task.endpoints.entries()) {
      const net = nets.get(ep.networkId) as NetworkValue
      ep.ifName = ifName ?? `eth${i}`
      const prefix = subnetOf(ep.ip, net.subnets)?.split('/')[1] ?? (isIP(ep.ip) === 4 ? '32' : '128')
      const mtu = networkMtu(net.options, this.ctx.mtu).mtu
      const gateway = ep === out ? this.ctx.alloc.lbIp(ep.networkId) : undefined
      const address6 = ep.ip6 === undefined ? undefined : withPrefix(ep.ip6, net.subnets)
      const dsr = this.dsrOf(task, net, ep.networkId)
      const r = await this.ctx.init.plumber.attach({ networkId: ep.networkId, netnsPath, address: `${ep.ip}/${prefix}`, ...(address6 === undefined ? {} : { address6 }), mac: ep.mac, ifName: ep.ifName, mtu, ...(gateway === undefined ? {} : { gateway }), ...(dsr === undefined ? {} : { dsr }) })
      ep.hostIfName = r.hostIfName
      if (dsr !== undefined && r.dsr === true) ep.dsrVip = dsr.vip
      else if (dsr !== undefined) this.ctx.init.logger.warn('direct server return not plumbed: the task is reached through its sandboxes\' NAT', { task: task.id, networkId: ep.networkId, ifName: ep.ifName })
    }
  }

  /** What a task's netns needs for direct server return on a `dsr=true` network: its service's IPv4 VIP there and its ports; undefined = none. */
  private dsrOf (task: LocalTask, net: NetworkValue, networkId: string): TaskDsr | undefined {
    if (!isDsr(net.options) || task.serviceId === undefined) return undefined
    const svc = this.ctx.view.services().get(task.serviceId)
    const vip = svc?.vips[networkId]
    if (svc === undefined || vip === undefined || isIP(vip) !== 4) return undefined
    return { vip, ports: dsrPorts(svc) }
  }

  /**
   * A repeated `task add` must ask for the task that exists: same service
   * (or none), IP, netns, interface name and networks; else a ConflictError
   * naming the first field that differs.
   */
  private checkSameTask (t: LocalTask, req: TaskAddRequest, serviceId: string | undefined): void {
    const { ctx } = this
    const was = (x: string | undefined): string => x === undefined ? 'none' : x
    const svcName = (sid: string | undefined): string | undefined => sid === undefined ? undefined : ctx.view.services().get(sid)?.name ?? sid
    if (t.serviceId !== serviceId) throw new ConflictError('service', `task ${t.id} exists for service ${was(svcName(t.serviceId))}, not ${was(req.service)}`)
    const ip = t.mode === 'ip' ? t.endpoints[0]?.ip : undefined
    // the field the request gives is the one named
    const fields: Array<[string, string | undefined, string | undefined]> = [['ip', req.ip, ip], ['netns', req.netns, t.netns]]
    if (req.ip === undefined) fields.reverse()
    for (const [field, asked, has] of fields) if (asked !== has) throw new ConflictError(field, `task ${t.id} exists with ${field} ${was(has)}, not ${was(asked)}`)
    if (req.networks !== undefined) {
      const wanted = [...new Set(req.networks.map((r, i) => mustNetwork(ctx, r, `networks[${i}]`).id))].sort()
      const has = t.endpoints.map((e) => e.networkId).sort()
      if (wanted.join() !== has.join()) throw new ConflictError('networks', `task ${t.id} exists on networks ${has.map((n) => ctx.view.networks().get(n)?.name ?? n).join(', ')}, not ${req.networks.join(', ')}`)
    }
    if (req.ifname !== undefined && t.mode === 'netns') {
      const has = t.endpoints.map((e) => e.ifName).join(',')
      if (has !== req.ifname) throw new ConflictError('ifname', `task ${t.id} exists with interface ${has}, not ${req.ifname}`)
    }
  }

  /** Local tasks and those other nodes publish on the networks this node is in. */
  list (opts: { service?: string } = {}): TaskInfo[] {
    const { ctx } = this
    const sid = opts.service === undefined ? undefined : mustService(ctx, opts.service, 'service').id
    // by endpoint key: task IDs are unique per node only
    const out = new Map<string, TaskInfo>()
    for (const t of ctx.tasks.values()) out.set(taskEndpointKey(ctx.self, t.id), this.info(t))
    for (const scope of ctx.gossip.scopes()) {
      if (scope.startsWith('network:')) this.addRemote(out, scope.slice('network:'.length))
    }
    return [...out.values()].filter((t) => sid === undefined || t.serviceId === sid).sort((a, b) => a.id !== b.id ? (a.id < b.id ? -1 : 1) : a.node < b.node ? -1 : 1)
  }

  /** Add other nodes' task endpoints on `networkId` to `out` (by endpoint key). */
  private addRemote (out: Map<string, TaskInfo>, networkId: string): void {
    const { ctx } = this
    const nets = ctx.view.networks()
    const svcs = ctx.view.services()
    for (const r of ctx.view.endpoints(networkId)) {
      if (r.value.kind !== 'task' || r.value.node === ctx.self || r.status === 'deleted') continue
      const k = parseEndpointKey(r.key)
      if (k?.kind !== 'task') continue
      const sv = r.value.service
      let info = out.get(r.key)
      if (info === undefined) {
        info = { id: k.taskId, ...(sv === undefined ? {} : { serviceId: sv, service: svcs.get(sv)?.name ?? sv }), node: r.value.node, state: r.value.state, status: r.status === 'suspended' ? 'suspended' : 'live', endpoints: [] }
        out.set(r.key, info)
      }
      info.endpoints.push({ networkId, network: nets.get(networkId)?.name ?? networkId, ip: r.value.ip, ...(r.value.ip6 === undefined ? {} : { ip6: r.value.ip6 }), mac: r.value.mac })
    }
  }

  /** A local task as the API shows it. */
  inspect (id: string): TaskInfo {
    return this.info(this.mustLocal(id))
  }

  /** The local task `id`, else NotFoundError on field `task`. */
  private mustLocal (id: string): LocalTask {
    const t = this.ctx.tasks.get(id)
    if (t === undefined) throw new NotFoundError('task', `no local task ${JSON.stringify(id)} on this node`)
    return t
  }

  async remove (id: string): Promise<void> {
    const t = this.mustLocal(id)
    for (const ep of t.endpoints) await this.dropEndpoint(t, ep)
    await this.dropDns(t)
    this.ctx.tasks.delete(id)
    this.ctx.init.onChange()
    this.ctx.init.logger.info('task removed', { task: id })
  }

  setState (id: string, state: EndpointState): TaskInfo {
    const t = this.mustLocal(id)
    t.state = state
    this.publish(t)
    this.ctx.init.onChange()
    this.ctx.init.logger.info('task state changed', { task: id, state })
    return this.info(t)
  }

  /**
   * Make a local task a backend of `service` (every network of the task must
   * be one of the service's), or with undefined an endpoint only: its
   * address, MAC and plumbing stay, its endpoints are re-published.
   */
  setService (id: string, service: string | undefined): TaskInfo {
    const { ctx } = this
    const t = ctx.tasks.get(id)
    if (t === undefined) throw new NotFoundError('task', `no local task ${JSON.stringify(id)} on this node`)
    const s = service === undefined ? undefined : mustService(ctx, service, 'service')
    if (s !== undefined) {
      const missing = t.endpoints.find((e) => s.value.vips[e.networkId] === undefined)
      if (missing !== undefined) throw new ValidationError('service', `service ${s.value.name} is not attached to network ${ctx.view.networks().get(missing.networkId)?.name ?? missing.networkId} of task ${id}`)
    }
    if (t.serviceId === s?.id) return this.info(t)
    if (s === undefined) delete t.serviceId
    else t.serviceId = s.id
    this.publish(t)
    ctx.init.onChange()
    ctx.init.logger.info('task service changed', { task: id, service: s?.value.name })
    return this.info(t)
  }

  /** Re-publish own endpoints (after a restart) and join the scopes of local tasks. */
  republish (): void {
    const { alloc } = this.ctx
    for (const t of this.ctx.tasks.values()) {
      for (const ep of t.endpoints) {
        if (!alloc.hasNetwork(ep.networkId)) continue
        const [lb, lb6] = alloc.lbIps(ep.networkId)
        if (lb !== undefined) this.publishLb(ep.networkId, lb, lb6)
      }
      this.publish(t)
    }
  }

  /** A network was deleted: take local tasks off it (a task left on no network is removed). */
  async networkDeleted (networkId: string): Promise<void> {
    for (const t of localTasksOn(this.ctx, networkId)) {
      const ips = t.endpoints.filter((e) => e.networkId === networkId).map((e) => e.ip)
      this.ctx.init.logger.warn('network deleted: local task taken off it', { networkId, task: t.id, serviceId: t.serviceId, ips, taskRemoved: t.endpoints.every((e) => e.networkId === networkId) })
      for (const ep of t.endpoints.filter((e) => e.networkId === networkId)) await this.dropEndpoint(t, ep)
      t.endpoints = t.endpoints.filter((e) => e.networkId !== networkId)
      if (t.endpoints.length === 0) {
        this.ctx.tasks.delete(t.id)
        await this.dropDns(t)
      } else await this.writeDns(t, this.dnsOf(t)) // its first network may have changed: the nameserver with it
    }
  }

  /** Release LB IPs whose grace ended; withdraw their endpoints and leave scopes without local tasks. */
  tickLbRelease (): void {
    const { ctx } = this
    const released = ctx.alloc.tick(ctx.init.clock.now())
    for (const r of released) {
      withdraw(ctx, r.networkId, lbEndpointKey(ctx.self))
      if (localTasksOn(ctx, r.networkId).length === 0 && ctx.gossip.scopes().includes(networkScope(r.networkId))) ctx.gossip.leaveScope(networkScope(r.networkId))
      ctx.init.logger.info('LB IP released', { networkId: r.networkId, ip: r.ip })
    }
    if (released.length > 0) ctx.init.onChange()
  }

  /** Withdraw every local endpoint and detach task netns (leave). */
  async withdrawAll (): Promise<void> {
    for (const t of [...this.ctx.tasks.values()]) await this.remove(t.id)
    for (const nid of this.ctx.alloc.networks()) withdraw(this.ctx, nid, lbEndpointKey(this.ctx.self))
  }

  /** A local task as the API shows it. */
  info (t: LocalTask): TaskInfo {
    const { ctx } = this
    const nets = ctx.view.networks()
    const info: TaskInfo = {
      id: t.id, node: ctx.self, state: t.state, status: 'live',
      endpoints: t.endpoints.map((e) => ({ networkId: e.networkId, network: nets.get(e.networkId)?.name ?? e.networkId, ip: e.ip, ...(e.ip6 === undefined ? {} : { ip6: e.ip6 }), mac: e.mac, ...(e.ifName === undefined ? {} : { ifName: e.ifName }), ...(e.hostIfName === undefined ? {} : { hostIfName: e.hostIfName, ...hostNetnsOf(ctx.init.plumber, e.networkId) }) }))
    }
    if (t.serviceId !== undefined) {
      info.serviceId = t.serviceId
      info.service = ctx.view.services().get(t.serviceId)?.name ?? t.serviceId
    }
    if (t.netns !== undefined) info.netns = t.netns
    const dns = this.dnsOf(t)
    if (dns !== undefined) info.dns = dns
    return info
  }

  /** The resolver configuration of a local task: this node's resolver on its first network (unless `--dns none`). */
  private dnsOf (t: LocalTask): TaskInfo['dns'] {
    const first = t.endpoints[0]
    if (this.ctx.init.dns === undefined || t.dns === 'none' || first === undefined) return undefined
    const lb = this.ctx.gossip.get(networkScope(first.networkId), TABLE_ENDPOINTS, lbEndpointKey(this.ctx.self))
    const ip = lb === undefined || lb.deleted ? undefined : (lb.value as Partial<EndpointValue> | undefined)?.ip
    return typeof ip === 'string' ? this.ctx.init.dns.taskDns(ip) : undefined
  }

  /**
   * A new task's resolver: wait until it answers on the task's first network
   * (bounded; a late resolver is logged, not an error), then write the
   * task's resolv.conf.
   */
  private async configureDns (t: LocalTask): Promise<void> {
    const dns = this.dnsOf(t)
    const first = t.endpoints[0]
    if (dns === undefined || first === undefined) return
    if (await this.ctx.init.dns?.ready(first.networkId) === false) {
      this.ctx.init.logger.warn('the resolver does not serve the task\'s network yet: its first lookups may be refused', { task: t.id, networkId: first.networkId })
    }
    await this.writeDns(t, dns)
  }

  /** Remove a `--netns` task's resolv.conf (task gone; a failure is logged). */
  private async dropDns (t: LocalTask): Promise<void> {
    if (t.netns === undefined || t.dns !== undefined) return
    await this.ctx.init.dns?.removeTaskConf(t.netns).catch((err: unknown) => this.ctx.init.logger.warn('cannot remove a task\'s resolv.conf', { task: t.id, netns: t.netns, error: (err as Error).message }))
  }

  /** Write a `--netns` task's resolv.conf with `dns` (a failure is logged: the task runs, with the host's resolv.conf). */
  private async writeDns (t: LocalTask, dns: TaskInfo['dns']): Promise<void> {
    if (dns === undefined || t.netns === undefined) return
    try {
      const file = await this.ctx.init.dns?.writeTaskConf(t.netns, dns)
      if (file !== undefined) this.ctx.init.logger.info('task resolver configured', { task: t.id, file, nameservers: dns.nameservers })
    } catch (err) {
      this.ctx.init.logger.warn('cannot write a task\'s resolv.conf', { task: t.id, netns: t.netns, error: (err as Error).message })
    }
  }

  private publish (t: LocalTask): void {
    const { ctx } = this
    const ports = t.serviceId === undefined ? undefined : ctx.view.services().get(t.serviceId)?.ports
    for (const ep of t.endpoints) {
      ctx.gossip.joinScope(networkScope(ep.networkId))
      ctx.gossip.set(networkScope(ep.networkId), TABLE_ENDPOINTS, taskEndpointKey(ctx.self, t.id), this.endpointValue(t, ep, ports))
    }
  }

  private endpointValue (t: LocalTask, ep: LocalEndpoint, ports: ServiceValue['ports'] | undefined): EndpointValue {
    const v: EndpointValue = { kind: 'task', ...(t.serviceId === undefined ? {} : { service: t.serviceId }), ip: ep.ip, ...(ep.ip6 === undefined ? {} : { ip6: ep.ip6 }), mac: ep.mac, node: this.ctx.self, state: t.state, weight: t.weight, originMs: this.ctx.init.wallClock() }
    if (ports !== undefined) v.ports = ports
    if (t.netns !== undefined) v.netns = t.netns
    // the VIP plumbed is the task's service's on this network (a task given another service keeps the NAT path)
    if (ep.dsrVip !== undefined && t.serviceId !== undefined && this.ctx.view.services().get(t.serviceId)?.vips[ep.networkId] === ep.dsrVip) v.dsr = true
    return v
  }

  private publishLb (networkId: string, lbIp: string, lbIp6: string | undefined): void {
    const { ctx } = this
    ctx.gossip.joinScope(networkScope(networkId))
    const v: EndpointValue = { kind: 'lb', ip: lbIp, ...(lbIp6 === undefined ? {} : { ip6: lbIp6 }), mac: macFor(networkId, lbIp), node: ctx.self, state: 'ready', originMs: ctx.init.wallClock() }
    ctx.gossip.set(networkScope(networkId), TABLE_ENDPOINTS, lbEndpointKey(ctx.self), v)
  }

  /** Withdraw and release one endpoint; `cooldown: false` for an address never published (a rolled-back add). */
  private async dropEndpoint (t: LocalTask, ep: LocalEndpoint, cooldown = true): Promise<void> {
    const { ctx } = this
    withdraw(ctx, ep.networkId, taskEndpointKey(ctx.self, t.id))
    if (t.mode === 'netns' && t.netns !== undefined && ep.ifName !== undefined) {
      try {
        await ctx.init.plumber.detach({ networkId: ep.networkId, netnsPath: t.netns, ifName: ep.ifName, hostIfName: ep.hostIfName, ...(ep.dsrVip === undefined ? {} : { dsrVip: ep.dsrVip }) })
      } catch (err) {
        ctx.init.logger.warn('detaching task netns failed', { task: t.id, networkId: ep.networkId, error: (err as Error).message })
      }
    }
    if (!ctx.alloc.hasNetwork(ep.networkId)) return
    if (ep.allocated) {
      for (const ip of ep.ip6 === undefined ? [ep.ip] : [ep.ip, ep.ip6]) {
        try { ctx.alloc.release(ep.networkId, ip, ctx.init.clock.now(), { cooldown }) } catch (err) { ctx.init.logger.warn('releasing task address failed', { task: t.id, ip, error: (err as Error).message }) }
      }
    }
    ctx.alloc.localTaskRemoved(ep.networkId, t.id, ctx.init.clock.now())
  }
}

/** `hostNetns` of an endpoint's view: where its veth's host end is, when not in the agent's netns. */
function hostNetnsOf (plumber: TaskPlumber, networkId: string): { hostNetns?: string } {
  const ns = plumber.hostNetns?.(networkId)
  return ns === undefined ? {} : { hostNetns: ns }
}
