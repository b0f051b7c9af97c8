import type { Entry, EntryEvent, Gossip } from '@scalelb/gossip'
import type { NodeAllocator } from '@scalelb/allocator'
import { networkMtu, type MtuPolicy } from '../dataplane/overlay/mtu.js'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'
import type { AgentMetrics } from '../metrics.js'
import type { Controller } from '../state/controller.js'
import type { Ipam } from '../state/ipam.js'
import type { Revocations } from '../state/revocations.js'
import { TABLE_ENDPOINTS, TABLE_NETWORKS, TABLE_SERVICES, checkNetwork } from '../state/tables.js'
import type { TablesView } from '../state/view.js'
import type { ProgrammingLatency } from './programming-latency.js'

/** Options and components of {@link createEntryRouter}. */
export interface EntryRouterInit {
  gossip: Gossip
  /** The table cache; it follows gossip itself and is closed with the router. */
  view: TablesView
  ipam: Ipam
  /** Follows the `revoked` table (gossip's revoked set). */
  revocations: Revocations
  allocator: NodeAllocator
  controller: Controller
  /** Read at event time (built after the router's users). */
  metrics: () => AgentMetrics
  latency: ProgrammingLatency
  logger: Logger
  mtu: MtuPolicy
  /** Ask for a state file write. */
  persist: () => void
  /** After every event: recompute the desired state, re-arm the LB release timer. */
  changed: () => void
}

/**
 * Routes gossip entry events to the parts of the agent that act on them:
 * IPAM (every event), the allocator and controller (networks created or
 * deleted, services deleted), the programming latency (endpoints), then the
 * desired state. As a component it subscribes before gossip starts (no event
 * is missed) and unsubscribes first when leaving.
 */
export function createEntryRouter (init: EntryRouterInit): Component {
  const { gossip, allocator, controller, ipam, logger: log } = init
  /** `network id|mtu option` already logged and counted as not usable here. */
  const mtuReported = new Set<string>()
  let unsubscribe: (() => void) | undefined

  function onEntry (ev: EntryEvent): void {
    const e = ev.entry
    try {
      ipam.handleEntry(ev)
      init.revocations.handleEntry(ev)
      route(e)
    } catch (err) {
      log.error('handling a gossip entry failed', { scope: e.scope, table: e.table, key: e.key, error: (err as Error).message })
    }
    if (e.origin === gossip.id) init.persist()
    init.changed()
  }
  function route (e: Entry): void {
    if (e.scope === 'cluster' && e.table === TABLE_NETWORKS) {
      if (e.deleted || e.status === 'deleted') networkDeleted(e.key)
      else networkSeen(e.key, e.value)
    } else if (e.scope === 'cluster' && e.table === TABLE_SERVICES && e.deleted) {
      controller.serviceDeleted(e.key)
    } else if (e.scope.startsWith('network:') && e.table === TABLE_ENDPOINTS && !e.deleted) {
      const origin = (e.value as { originMs?: unknown } | undefined)?.originMs
      if (typeof origin === 'number') init.latency.seen(e.scope.slice('network:'.length), origin)
    }
  }
  function networkDeleted (networkId: string): void {
    if (!allocator.hasNetwork(networkId) && !controller.localTasks().some((t) => t.endpoints.some((x) => x.networkId === networkId))) return
    controller.networkDeleted(networkId).catch((err: unknown) => log.error('cleaning up a deleted network failed', { networkId, error: (err as Error).message }))
  }
  function networkSeen (networkId: string, value: unknown): void {
    const c = checkNetwork(value)
    if (!c.ok) {
      init.metrics().invalidEntry(TABLE_NETWORKS)
      return
    }
    checkNetworkMtu(networkId, c.value.name, c.value.options)
    if (allocator.hasNetwork(networkId)) return
    try {
      allocator.addNetwork(networkId, c.value.subnets)
      ipam.syncNetwork(networkId)
      ipam.networkLearned(networkId)
      init.persist()
    } catch (err) {
      log.warn('cannot track network', { networkId, error: (err as Error).message })
    }
  }
  /** A network's own MTU that this node cannot use as is: an error to act on (once per network and value). */
  function checkNetworkMtu (networkId: string, name: string, options: Readonly<Record<string, string>>): void {
    const m = networkMtu(options, init.mtu)
    const key = `${networkId}|${m.requested ?? ''}`
    if (m.issue === undefined || mtuReported.has(key)) return
    mtuReported.add(key)
    init.metrics().mtuIssue(m.issue)
    if (m.issue === 'too-large') {
      log.error('network MTU does not fit this node\'s underlay: clamped here (packets larger than this from other nodes are lost)', { networkId, network: name, requested: m.requested, used: m.mtu, underlayMax: init.mtu.max })
    } else log.error('network MTU option is not a valid MTU: this node uses its own', { networkId, network: name, requested: m.requested, used: m.mtu })
  }
  function close (): void {
    if (unsubscribe === undefined) return
    unsubscribe()
    unsubscribe = undefined
    init.view.close()
  }

  return {
    name: 'entry-router',
    beforeStart () { unsubscribe = gossip.onEntry(onEntry) },
    leave: close,
    stop: close
  }
}
