import { ConflictError, ValidationError } from '../../errors.js'
import type { ServiceCreateRequest, ServiceInfo, ServicePublishRequest } from '../../types.js'
import type { PortSpec } from '../../dataplane/spec/types.js'
import { TABLE_SERVICES, type ServiceValue } from '../tables.js'
import { isInternal, portsForPublish, publishKey, publishOwners, type PublishSpec } from '../publish.js'
import type { CallOptions } from '../controller.js'
import { mustBeUsable, mustNetwork, mustService, newId, type ControllerContext } from './context.js'
import type { TaskOps } from './tasks.js'
import { isDualStack, primaryFamily } from '../addr.js'

/** The controller's service operations. */
export class ServiceOps {
  constructor (private readonly ctx: ControllerContext, private readonly tasks: TaskOps) {}

  async create (req: ServiceCreateRequest, opts: CallOptions = {}): Promise<ServiceInfo> {
    const { ctx } = this
    if (ctx.view.findService(req.name) !== undefined) throw new ConflictError('name', `a service named ${JSON.stringify(req.name)} exists`)
    const nets = req.networks.map((r, i) => mustNetwork(ctx, r, `networks[${i}]`))
    if (new Set(nets.map((n) => n.id)).size !== nets.length) throw new ValidationError('networks', 'a network is listed twice')
    nets.forEach((n, i) => mustBeUsable(ctx, n.id, `networks[${i}]`))
    const publish = req.publish ?? []
    const ports = await this.checkPublish(undefined, nets, req.endpointMode === 'dnsrr', req.ports, publish, 'publish')
    const id = newId()
    const vips: Record<string, string> = {}
    const vips6: Record<string, string> = {}
    const dnsrr = req.endpointMode === 'dnsrr'
    try {
      for (const n of dnsrr ? [] : nets) {
        if (!ctx.alloc.hasNetwork(n.id)) ctx.alloc.addNetwork(n.id, n.value.subnets)
        ctx.ipam.syncNetwork(n.id)
        vips[n.id] = await ctx.ipam.allocate(n.id, 'vip', id, { ...opts, family: primaryFamily(n.value.subnets) })
        // a dual-stack network: a VIP per family
        if (isDualStack(n.value.subnets)) vips6[n.id] = await ctx.ipam.allocate(n.id, 'vip', id, { ...opts, family: 6 })
      }
    } catch (err) {
      for (const [nid, ip] of [...Object.entries(vips), ...Object.entries(vips6)]) { try { ctx.alloc.release(nid, ip, ctx.init.clock.now(), { cooldown: false }) } catch { /* already gone */ } }
      ctx.init.onChange()
      throw err
    }
    const value: ServiceValue = dnsrr ? { name: req.name, ports, vips, endpointMode: 'dnsrr', networks: nets.map((n) => n.id) } : { name: req.name, ports, vips }
    if (Object.keys(vips6).length > 0) value.vips6 = vips6
    if (publish.length > 0) value.publish = publish
    ctx.gossip.set('cluster', TABLE_SERVICES, id, value)
    ctx.init.onChange()
    ctx.init.logger.info('service created', { serviceId: id, name: req.name, vips, vips6 })
    return this.info(id, value)
  }

  /**
   * Refuse a publication the data plane cannot honour, naming the field: an
   * `--internal` network, an IPv6-only network, a dnsrr service in mode=ingress (no VIP), a port
   * another service publishes, a port this host listens on. Answers the
   * service's ports with a VIP port for each published target.
   */
  private async checkPublish (self: string | undefined, nets: ReadonlyArray<{ id: string, value: { name: string, options: Record<string, string>, subnets: readonly string[] } }>, dnsrr: boolean, ports: readonly PortSpec[], publish: readonly PublishSpec[], field: string): Promise<PortSpec[]> {
    if (publish.length === 0) return [...ports]
    const { ctx } = this
    const internal = nets.find((n) => isInternal(n.value.options))
    if (internal !== undefined) throw new ValidationError(field, `network ${internal.value.name} is --internal: it takes no published port`)
    // the host side (ingress table, uplinks, mode=host routes) is IPv4 only for now
    const v6only = nets.find((n) => n.value.subnets.length > 0 && primaryFamily(n.value.subnets) === 6)
    if (v6only !== undefined) throw new ValidationError(field, `network ${v6only.value.name} has no IPv4 subnet: published ports are IPv4 only for now`)
    const taken = new Map<string, string>()
    for (const [sid, s] of ctx.view.services()) if (sid !== self) for (const p of s.publish ?? []) taken.set(publishKey(p), s.name)
    const listening = new Map<string, Set<number>>()
    for (const [i, p] of publish.entries()) {
      if (dnsrr && p.mode === 'ingress') throw new ValidationError(`${field}[${i}].mode`, 'a dnsrr service has no VIP to balance over: publish it with mode=host')
      const other = taken.get(publishKey(p))
      if (other !== undefined) throw new ConflictError(`${field}[${i}]`, `port ${publishKey(p)} is already published by service ${other}`)
      let l = listening.get(p.proto)
      if (l === undefined && ctx.init.listening !== undefined) {
        l = await ctx.init.listening(p.proto)
        listening.set(p.proto, l)
      }
      if (l?.has(p.published) === true) throw new ConflictError(`${field}[${i}]`, `this host already listens on ${publishKey(p)}`)
    }
    return dnsrr ? [...ports] : portsForPublish(ports, publish, field)
  }

  /** Publish ports of a service and/or withdraw some (`service update --publish-add/--publish-rm`). */
  async publish (ref: string, req: ServicePublishRequest): Promise<ServiceInfo> {
    const { ctx } = this
    const s = mustService(ctx, ref, 'service')
    const cur = s.value.publish ?? []
    req.rm.forEach((r, i) => {
      if (!cur.some((p) => p.published === r.published && (r.proto === undefined || p.proto === r.proto))) throw new ValidationError(`rm[${i}]`, `service ${s.value.name} does not publish ${r.published}${r.proto === undefined ? '' : `/${r.proto}`}`)
    })
    const kept = cur.filter((p) => !req.rm.some((r) => p.published === r.published && (r.proto === undefined || p.proto === r.proto)))
    req.add.forEach((a, i) => {
      if (kept.some((p) => publishKey(p) === publishKey(a))) throw new ConflictError(`add[${i}]`, `service ${s.value.name} already publishes ${publishKey(a)}`)
    })
    const ids = s.value.endpointMode === 'dnsrr' ? (s.value.networks ?? []) : Object.keys(s.value.vips)
    const nets = ids.map((id) => ({ id, value: ctx.view.networks().get(id) ?? { name: id, options: {}, subnets: [] } }))
    const ports = await this.checkPublish(s.id, nets, s.value.endpointMode === 'dnsrr', s.value.ports, req.add, 'add')
    const publish = [...kept, ...req.add]
    const value: ServiceValue = { ...s.value, ports }
    if (publish.length > 0) value.publish = publish
    else delete value.publish
    ctx.gossip.set('cluster', TABLE_SERVICES, s.id, value)
    ctx.init.onChange()
    ctx.init.logger.info('service published ports changed', { serviceId: s.id, name: s.value.name, publish: publish.map(publishKey) })
    return this.info(s.id, value)
  }

  list (): ServiceInfo[] {
    const losers = publishOwners(this.ctx.view.services()).losers
    return [...this.ctx.view.services()].map(([id, v]) => this.info(id, v, losers)).sort((a, b) => a.name < b.name ? -1 : 1)
  }

  inspect (ref: string): ServiceInfo {
    const s = mustService(this.ctx, ref, 'service')
    return this.info(s.id, s.value)
  }

  async remove (ref: string, opts: { force: boolean }): Promise<void> {
    const { ctx } = this
    const s = mustService(ctx, ref, 'service')
    const users = this.tasks.list({ service: s.id })
    if (users.length > 0 && !opts.force) throw new ConflictError('service', `service ${s.value.name} still has ${users.length} task(s); remove them or use --force`)
    for (const t of [...ctx.tasks.values()]) if (t.serviceId === s.id) await this.tasks.remove(t.id)
    ctx.gossip.delete('cluster', TABLE_SERVICES, s.id)
    this.deleted(s.id)
    ctx.init.logger.info('service removed', { serviceId: s.id, name: s.value.name })
  }

  /** A service was deleted (by anyone): release VIPs this node allocated for it. */
  deleted (serviceId: string): void {
    const { ctx } = this
    for (const nid of ctx.alloc.networks()) {
      for (const a of ctx.alloc.allocations(nid)) {
        if (a.kind === 'vip' && a.owner === serviceId) {
          try { ctx.alloc.release(nid, a.address, ctx.init.clock.now()) } catch { /* already released */ }
        }
      }
    }
    ctx.init.onChange()
  }

  private info (id: string, v: ServiceValue, losers = publishOwners(this.ctx.view.services()).losers): ServiceInfo {
    const nets = this.ctx.view.networks()
    const vips = Object.entries(v.vips).map(([networkId, vip]) => {
      const vip6 = v.vips6?.[networkId]
      return { networkId, network: nets.get(networkId)?.name ?? networkId, vip, ...(vip6 === undefined ? {} : { vip6 }) }
    })
    vips.sort((a, b) => a.network < b.network ? -1 : 1)
    const info: ServiceInfo = { id, name: v.name, ports: v.ports, vips }
    if (v.endpointMode === 'dnsrr') info.dnsrr = { networks: (v.networks ?? []).map((networkId) => ({ networkId, network: nets.get(networkId)?.name ?? networkId })) }
    if (v.publish !== undefined) info.publish = v.publish
    const lost = losers.get(id)
    if (lost !== undefined) info.publishConflicts = lost
    return info
  }
}
