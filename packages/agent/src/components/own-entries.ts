import { SCOPES_TABLE, type Gossip } from '@scalelb/gossip'
import type { NodeAllocator } from '@scalelb/allocator'
import { AGENT_VERSION } from '../constants.js'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'
import type { OwnEntry } from '../persistence/state-file.js'
import type { Ipam } from '../state/ipam.js'
import { TABLE_IPAM, TABLE_IPAM_REQUESTS, TABLE_IPAM_USAGE, TABLE_NODES, type NodeValue } from '../state/tables.js'

/** Options and components of {@link createOwnEntries}. */
export interface OwnEntriesInit {
  gossip: Gossip
  allocator: NodeAllocator
  ipam: Ipam
  logger: Logger
  /** Own entries of the previous run (state file). */
  persisted: readonly OwnEntry[]
  /** Whether this node may still write a persisted entry (its key or role may have changed). */
  mayWrite: (e: OwnEntry) => boolean
  /** This node's underlay address ('' when unknown). */
  localUnderlay: string
  /** For the log of a skipped entry. */
  role: string
}

/**
 * Once gossip runs: publish this node's entries again after a restart (the
 * persisted ones it may still write, the allocator's ring tokens and usage)
 * and its `nodes` entry. The controller republishes its tasks next.
 */
export function createOwnEntries (init: OwnEntriesInit): Component {
  const { gossip, allocator, ipam, logger: log } = init

  function restore (e: OwnEntry): void {
    // ring tokens are republished from the allocator snapshot (the authoritative copy);
    // a stale token or donation request must not be re-sent with a fresh timestamp
    if ((e.scope !== 'cluster' && !e.scope.startsWith('network:')) || e.table === SCOPES_TABLE || e.table === TABLE_IPAM || e.table === TABLE_IPAM_REQUESTS || e.table === TABLE_IPAM_USAGE) return
    // a network this node created before it lost the manager key, or an endpoint under an older agent's key shape
    if (!init.mayWrite(e)) {
      log.info('not restoring a persisted entry this node may no longer write', { scope: e.scope, table: e.table, key: e.key, role: init.role })
      return
    }
    try {
      if (e.scope !== 'cluster') gossip.joinScope(e.scope as `network:${string}`)
      gossip.set(e.scope as 'cluster', e.table, e.key, e.value)
    } catch (err) {
      log.warn('cannot restore a persisted entry', { scope: e.scope, table: e.table, key: e.key, error: (err as Error).message })
    }
  }

  return {
    name: 'own-entries',
    start () {
      for (const e of init.persisted) restore(e)
      for (const nid of allocator.networks()) ipam.publishTokens(nid, allocator.ownedBy(nid).owned)
      ipam.publishUsage()
      for (const nid of allocator.networks()) ipam.networkLearned(nid)
      const nodeValue: NodeValue = { underlay: init.localUnderlay === '' ? '0.0.0.0' : init.localUnderlay, version: AGENT_VERSION }
      gossip.set('cluster', TABLE_NODES, gossip.id, nodeValue)
    },
    // ipam's timers (cool-down, donation waits) start with these entries
    stop: () => ipam.stop()
  }
}
