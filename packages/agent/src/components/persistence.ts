import { SCOPES_TABLE, type Gossip } from '@scalelb/gossip'
import type { NodeAllocator } from '@scalelb/allocator'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'
import { createStateWriter, type OwnEntry, type PersistedState, type StateWriter } from '../persistence/state-file.js'
import type { NetworkDesired } from '../state/desired.js'
import type { LocalTask } from '../state/local-tasks.js'

/** Options and components of {@link createPersistence}. */
export interface PersistenceInit {
  gossip: Gossip
  allocator: NodeAllocator
  dataDir: string
  logger: Logger
  incarnation: number
  /** The state file read at creation, if any. */
  persisted?: PersistedState
  localTasks: () => LocalTask[]
  desired: () => ReadonlyMap<string, NetworkDesired>
  /** Whether gossip runs (its own entries are read only then; before, the persisted ones are kept). */
  gossipStarted: () => boolean
}

/** The state file: what a restart needs (allocator, local tasks, own entries, desired state). */
export interface Persistence {
  /** Ask for a write (coalesced). */
  persist(): void
  readonly writer: StateWriter
  /** Flushes on stop and before gossip leaves; placed right after gossip, so it is stopped just before it. */
  readonly component: Component
}

/** Create the state file writer of this node. */
export function createPersistence (init: PersistenceInit): Persistence {
  const { gossip } = init
  const self = gossip.id
  let lastOwnEntries: OwnEntry[] = init.persisted?.ownEntries ?? []

  function ownEntries (): OwnEntry[] {
    const out: OwnEntry[] = []
    for (const scope of ['cluster' as const, ...gossip.scopes().filter((s) => s !== 'cluster')]) {
      for (const e of gossip.entries(scope)) {
        if (e.origin === self && !e.deleted && e.value !== undefined && e.table !== SCOPES_TABLE) out.push({ scope, table: e.table, key: e.key, value: e.value })
      }
    }
    return out
  }
  function snapshot (): PersistedState {
    if (init.gossipStarted()) lastOwnEntries = ownEntries()
    return { version: 1, node: self, allocator: Buffer.from(init.allocator.serialize()).toString('base64'), tasks: init.localTasks(), ownEntries: lastOwnEntries, incarnation: init.incarnation, desired: [...init.desired()] }
  }
  const writer = createStateWriter(init.dataDir, snapshot, (err) => init.logger.error('cannot write state file', { error: err.message }))

  return {
    persist: () => writer.schedule(),
    writer,
    component: {
      name: 'persistence',
      afterStart: () => writer.schedule(),
      leave: () => writer.flush(),
      async stop (reason) {
        // after a leave, the state without this node's entries and tasks
        if (reason === 'leave') writer.schedule()
        await writer.flush()
      }
    }
  }
}
