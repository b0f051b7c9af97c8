import type { ExecutionContext } from 'ava'
import { createNodeAllocator, type NodeAllocator, type NodeAllocatorInit, type RingToken } from '@scalelb/allocator'
import type { EntryEvent, Gossip } from '@scalelb/gossip'
import { createSilentLogger } from '../../src/logging/logger.js'
import { createIpam, type Ipam, type IpamInit } from '../../src/state/ipam.js'
import { TABLE_NETWORKS } from '../../src/state/tables.js'
import type { TestCluster } from './gossip-cluster.js'

/** An IPAM on a gossip node, fed its entries as the agent feeds them; a network entry adds the network to `allocator`. */
export function wireIpam (g: Gossip, allocator: NodeAllocator, clock: { now: () => number, setTimer: (ms: number, fn: () => void) => () => void }, init: Partial<IpamInit> = {}): Ipam {
  const ipam = createIpam({ gossip: g, allocator, clock, logger: createSilentLogger(), onChange: () => {}, ...init })
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

/** A fresh allocator (`opts`) and its wired IPAM (`init`) on node `id` of `c` (stopped at the test's end). */
export function ipamNode (t: ExecutionContext, c: TestCluster, id: string, init: Partial<IpamInit> = {}, opts: Partial<NodeAllocatorInit> = {}): { alloc: NodeAllocator, ipam: Ipam } {
  const alloc = createNodeAllocator({ ...opts, self: id })
  const ipam = wireIpam(c.get(id), alloc, c.clock, init)
  t.teardown(() => { ipam.stop() })
  return { alloc, ipam }
}

/** Create a network on `node` (it owns all of it) and gossip the network entry and its ring tokens. */
export function createNetworkOn (c: TestCluster, id: string, node: { alloc: NodeAllocator, ipam: Ipam }, networkId: string, subnet: string, vni: number): RingToken[] {
  const tokens = node.alloc.createNetwork(networkId, [subnet], c.clock.now())
  c.get(id).set('cluster', TABLE_NETWORKS, networkId, { name: `net-${vni}`, subnets: [subnet], vni, options: {} })
  node.ipam.publishTokens(networkId, tokens)
  return tokens
}
