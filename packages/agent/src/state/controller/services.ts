import { ConflictError, ValidationError } from '../../errors.js'
import type { ServiceCreateRequest, ServiceInfo } from '../../types.js'
import { TABLE_SERVICES, type ServiceValue } from '../tables.js'
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
    const value: ServiceValue = dnsrr ? { name: req.name, ports: req.ports, vips, endpointMode: 'dnsrr', networks: nets.map((n) => n.id) } : { name: req.name, ports: req.ports, vips }
    if (Object.keys(vips6).length > 0) value.vips6 = vips6
    ctx.gossip.set('cluster', TABLE_SERVICES, id, value)
    ctx.init.onChange()
    ctx.init.logger.info('service created', { serviceId: id, name: req.name, vips, vips6 })
    return this.info(id, value)
  }

  list (): ServiceInfo[] {
    return [...this.ctx.view.services()].map(([id, v]) => this.info(id, v)).sort((a, b) => a.name < b.name ? -1 : 1)
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

  private info (id: string, v: ServiceValue): ServiceInfo {
    const nets = this.ctx.view.networks()
    const vips = Object.entries(v.vips).map(([networkId, vip]) => {
      const vip6 = v.vips6?.[networkId]
      return { networkId, network: nets.get(networkId)?.name ?? networkId, vip, ...(vip6 === undefined ? {} : { vip6 }) }
    })
    vips.sort((a, b) => a.network < b.network ? -1 : 1)
    const info: ServiceInfo = { id, name: v.name, ports: v.ports, vips }
    if (v.endpointMode === 'dnsrr') info.dnsrr = { networks: (v.networks ?? []).map((networkId) => ({ networkId, network: nets.get(networkId)?.name ?? networkId })) }
    return info
  }
}
