import type { NodeAllocator } from '@scalelb/allocator'
import type { EntryEvent, Gossip } from '@scalelb/gossip'
import { createSilentLogger } from '../../src/logging/logger.js'
import { createIpam, type Ipam } from '../../src/state/ipam.js'
import { TABLE_NETWORKS } from '../../src/state/tables.js'

/** An IPAM on a gossip node, fed its entries as the agent feeds them; a network entry adds the network to `allocator`. */
export function wireIpam (g: Gossip, allocator: NodeAllocator, clock: { now: () => number, setTimer: (ms: number, fn: () => void) => () => void }): Ipam {
  const ipam = createIpam({ gossip: g, allocator, clock, logger: createSilentLogger(), onChange: () => {} })
  g.onEntry((ev: EntryEvent) => {
    ipam.handleEntry(ev)
    const e = ev.entry
    if (e.scope === 'cluster' && e.table === TABLE_NETWORKS && !e.deleted && !allocator.hasNetwork(e.key)) {
      allocator.addNetwork(e.key, (e.value as { subnets: string[] }).subnets)
      ipam.syncNetwork(e.key)
      ipam.networkLearned(e.key)
    }
  })
  return ipam
}
