import { randomBytes } from 'node:crypto'
import type { Gossip } from '@scalelb/gossip'
import type { NodeAllocator } from '@scalelb/allocator'
import { ID_HEX_LENGTH } from '../../constants.js'
import type { MtuPolicy } from '../../dataplane/overlay/mtu.js'
import { ConflictError, NotFoundError } from '../../errors.js'
import type { Ipam } from '../ipam.js'
import type { LocalTask } from '../local-tasks.js'
import { TABLE_ENDPOINTS, networkScope, type NetworkValue, type ServiceValue } from '../tables.js'
import type { TablesView } from '../view.js'
import type { ControllerInit } from '../controller.js'

/** What the controller's parts (networks, services, tasks) share. */
export interface ControllerContext {
  readonly init: ControllerInit
  readonly gossip: Gossip
  readonly ipam: Ipam
  readonly alloc: NodeAllocator
  readonly view: TablesView
  /** This node's ID. */
  readonly self: string
  /** Local tasks by ID (persisted through `localTasks()`). */
  readonly tasks: Map<string, LocalTask>
  readonly mtu: MtuPolicy
}

/** A new random network or service ID. */
export function newId (): string {
  return randomBytes(ID_HEX_LENGTH / 2).toString('hex')
}

/** The network `ref` names (ID or name), else NotFoundError on `field`. */
export function mustNetwork (ctx: ControllerContext, ref: string, field: string): { id: string, value: NetworkValue } {
  const n = ctx.view.findNetwork(ref)
  if (n === undefined) throw new NotFoundError(field, `unknown network ${JSON.stringify(ref)}`)
  return n
}

/** The service `ref` names (ID or name), else NotFoundError on `field`. */
export function mustService (ctx: ControllerContext, ref: string, field: string): { id: string, value: ServiceValue } {
  const s = ctx.view.findService(ref)
  if (s === undefined) throw new NotFoundError(field, `unknown service ${JSON.stringify(ref)}`)
  return s
}

/**
 * Refuse what would give a network kernel state it cannot have: a subnet
 * conflict (it lost its subnets to an earlier network).
 */
export function mustBeUsable (ctx: ControllerContext, id: string, field: string): void {
  const n = ctx.view.networks().get(id)
  if (n === undefined) return
  const c = ctx.view.conflicts().get(id)
  if (c !== undefined) {
    throw new ConflictError(field, `network ${n.name} is in conflict: its subnet ${c.ownSubnet} overlaps ${c.subnet} of network ${c.withName}, created earlier; remove network ${n.name} and create it again with a free subnet`)
  }
}

/** Delete an own endpoint entry; a scope this node already left holds nothing to delete. */
export function withdraw (ctx: ControllerContext, networkId: string, key: string): void {
  if (ctx.gossip.scopes().includes(networkScope(networkId))) ctx.gossip.delete(networkScope(networkId), TABLE_ENDPOINTS, key)
}

/** Local tasks with an endpoint on `networkId`. */
export function localTasksOn (ctx: ControllerContext, networkId: string): LocalTask[] {
  return [...ctx.tasks.values()].filter((t) => t.endpoints.some((e) => e.networkId === networkId))
}
