import { VNI_MAX, VNI_MIN } from '../../constants.js'
import { NETWORK_MTU_OPTION, mtuProblem, networkMtu } from '../../dataplane/overlay/mtu.js'
import { ConflictError, ValidationError } from '../../errors.js'
import type { NetworkCreateRequest, NetworkInfo } from '../../types.js'
import { findOverlap } from '../conflicts.js'
import { TABLE_IPAM, TABLE_NETWORKS, lbEndpointKey, networkScope, type NetworkValue } from '../tables.js'
import { localTasksOn, mustNetwork, newId, withdraw, type ControllerContext } from './context.js'
import type { TaskOps } from './tasks.js'

/** Allocator errors that mean the request's subnets are bad (a 400 on `subnets`). */
const SUBNET_ERRORS = ['InvalidCidrError', 'HostBitsSetError', 'OverlappingSubnetsError', 'SubnetTooSmallError', 'InvalidInputError']

/** The controller's network operations. */
export class NetworkOps {
  constructor (private readonly ctx: ControllerContext, private readonly tasks: TaskOps) {}

  async create (req: NetworkCreateRequest): Promise<NetworkInfo> {
    const { ctx } = this
    if (ctx.view.findNetwork(req.name) !== undefined) throw new ConflictError('name', `a network named ${JSON.stringify(req.name)} exists`)
    const vni = this.freeVni(req.vni)
    const overlap = findOverlap(req.subnets, ctx.view.networks())
    if (overlap !== undefined) {
      throw new ConflictError(`subnets[${req.subnets.indexOf(overlap.ownSubnet)}]`, `${overlap.ownSubnet} overlaps subnet ${overlap.subnet} of network ${overlap.name} (${overlap.id})`)
    }
    if (req.mtu !== undefined) {
      const problem = mtuProblem(req.mtu, ctx.mtu.max, ctx.mtu.overhead)
      if (problem !== undefined) throw new ValidationError('mtu', problem)
    }
    const id = newId()
    let tokens
    try {
      tokens = ctx.alloc.createNetwork(id, req.subnets, ctx.init.clock.now())
    } catch (err) {
      const e = err as Error & { field?: string }
      if (SUBNET_ERRORS.includes(e.name)) throw new ValidationError(e.field !== undefined && e.field.startsWith('subnets') ? e.field : 'subnets', e.message)
      throw err
    }
    const options = { ...req.options }
    if (req.mtu !== undefined) options[NETWORK_MTU_OPTION] = String(req.mtu)
    const value: NetworkValue = { name: req.name, subnets: ctx.alloc.ownedBy(id).subnets, vni, options, createdMs: ctx.init.wallClock() }
    ctx.gossip.set('cluster', TABLE_NETWORKS, id, value)
    ctx.ipam.publishTokens(id, tokens)
    ctx.init.onChange()
    ctx.init.logger.info('network created', { networkId: id, name: req.name, subnets: value.subnets, vni, mtu: networkMtu(options, ctx.mtu).mtu })
    return this.info(id, value)
  }

  /** The VNI asked for if free, else the lowest free one. */
  private freeVni (asked: number | undefined): number {
    const used = new Set([...this.ctx.view.networks().values()].map((n) => n.vni))
    if (asked !== undefined && used.has(asked)) throw new ConflictError('vni', `VNI ${asked} is used by another network`)
    if (asked !== undefined) return asked
    for (let v = VNI_MIN; v <= VNI_MAX; v++) if (!used.has(v)) return v
    throw new ConflictError('vni', 'no free VNI')
  }

  list (): NetworkInfo[] {
    return [...this.ctx.view.networks()].map(([id, v]) => this.info(id, v)).sort((a, b) => a.name < b.name ? -1 : 1)
  }

  inspect (ref: string): NetworkInfo {
    const n = mustNetwork(this.ctx, ref, 'network')
    return this.info(n.id, n.value)
  }

  async remove (ref: string, opts: { force: boolean }): Promise<void> {
    const { ctx } = this
    const n = mustNetwork(ctx, ref, 'network')
    const members = ctx.gossip.scopeMembers(networkScope(n.id)).filter((m) => m !== ctx.self)
    const local = localTasksOn(ctx, n.id)
    if (!opts.force && (members.length > 0 || local.length > 0)) {
      throw new ConflictError('network', `network ${n.value.name} still has tasks (${local.length} here, nodes ${members.length > 0 ? members.join(', ') : 'none other'}); remove them or use --force`)
    }
    ctx.gossip.delete('cluster', TABLE_NETWORKS, n.id)
    for (const e of ctx.gossip.entries('cluster', TABLE_IPAM)) {
      if (!e.deleted && e.key.startsWith(`${n.id}/`)) ctx.gossip.delete('cluster', TABLE_IPAM, e.key)
    }
    await this.deleted(n.id)
    ctx.init.logger.info('network removed', { networkId: n.id, name: n.value.name, force: opts.force })
  }

  /** A network was deleted (by anyone): drop local tasks on it, leave its scope, forget its addresses. */
  async deleted (networkId: string): Promise<void> {
    const { ctx } = this
    await this.tasks.networkDeleted(networkId)
    withdraw(ctx, networkId, lbEndpointKey(ctx.self))
    if (ctx.gossip.scopes().includes(networkScope(networkId))) ctx.gossip.leaveScope(networkScope(networkId))
    if (ctx.alloc.hasNetwork(networkId)) ctx.alloc.deleteNetwork(networkId)
    ctx.init.onChange()
  }

  private info (id: string, v: NetworkValue): NetworkInfo {
    const { ctx } = this
    const info: NetworkInfo = { id, name: v.name, subnets: v.subnets, vni: v.vni, options: v.options, mtu: networkMtu(v.options, ctx.mtu).mtu, nodes: ctx.gossip.scopeMembers(networkScope(id)).sort(), lbIp: ctx.alloc.hasNetwork(id) ? ctx.alloc.lbIp(id) : undefined }
    const c = ctx.view.conflicts().get(id)
    if (c !== undefined) info.conflict = { with: c.withName, withId: c.with, subnet: c.subnet, ownSubnet: c.ownSubnet }
    const error = ctx.init.programmingError?.(id)
    if (error !== undefined) info.error = error
    return info
  }
}
