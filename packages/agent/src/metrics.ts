import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { GossipStats, Libp2pTransportStats, Member, Transport } from '@scalelb/gossip'
import { AGENT_VERSION, EVENT_LOOP_MONITORING_PRECISION_MS } from './constants.js'

/** Reconciler figures the metrics read at scrape time. */
export interface ReconcilerFigures {
  transactions: number
  failures: number
  kernelObjects: number
  sandboxes: number
}

/** Where the metrics read their values at scrape time. */
export interface MetricSources {
  reconciler: () => ReconcilerFigures
  members: () => Member[]
  gossipStats: () => GossipStats
  /** Address counts summed over networks, by kind. */
  ipam: () => Record<'vip' | 'task' | 'lb' | 'free' | 'cooling', number>
  /** Networks in a subnet conflict now, and conflicts that appeared since start. @default none (not exported) */
  conflicts?: () => { current: number, detected: number }
  /** Members the cluster's managers revoked now. @default none (not exported) */
  revoked?: () => number
  /** The transport's own refusals by reason and the bytes of partly received frames it holds (libp2p). @default none (not exported) */
  transport?: () => { dropped: Record<string, number>, bufferedBytes: number }
}

/** The transport's own figures when it keeps them (the libp2p transport does; the memory transport has none). */
export function transportStats (t: Transport): MetricSources['transport'] {
  const withStats = t as Transport & { stats?: () => Partial<Libp2pTransportStats> }
  if (typeof withStats.stats !== 'function') return undefined
  return () => {
    const x = withStats.stats?.() ?? {}
    return { dropped: x.dropped ?? {}, bufferedBytes: x.bufferedBytes ?? 0 }
  }
}

/** The agent's metrics, on its own Registry (never the global one). */
export interface AgentMetrics {
  readonly registry: Registry
  /** One reconciler transaction took this long. */
  observeSync(durationMs: number): void
  /** A task event took this long from its origin to being applied here. */
  observeProgramming(durationMs: number): void
  /** A gossip entry failed validation. */
  invalidEntry(table: string): void
  /** A network's own MTU is not used as is on this node (`too-large`: clamped to the underlay; `invalid`). */
  mtuIssue(reason: 'too-large' | 'invalid'): void
  /** The status server closed a connection over its cap (`evicted` an idle one, or the new one when all were `full`). */
  statusConnectionDropped(reason: 'evicted' | 'full'): void
  /** An allocation waited this long for address space (0 when this node owned a free address). */
  observeAddressWait(durationMs: number): void
  /** The memory trimmer's GC and malloc_trim blocked the loop this long. */
  observeMemoryTrim(durationMs: number): void
  /** A ring token of another writer was not merged (`own-range`: it would take a range this node owns). */
  ipamTokenRefused(reason: 'own-range'): void
}

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Counter fed from an absolute total read at scrape time. */
function absCounter (registry: Registry, name: string, help: string, labelNames: string[], read: () => Record<string, number> | number): void {
  const last = new Map<string, number>()
  new Counter({
    name, help, labelNames, registers: [registry],
    collect () {
      const v = read()
      const totals = typeof v === 'number' ? { '': v } : v
      for (const [k, total] of Object.entries(totals)) {
        const prev = last.get(k) ?? 0
        const delta = total >= prev ? total - prev : total
        last.set(k, total)
        if (delta > 0) {
          if (labelNames.length === 0) this.inc(delta)
          else this.inc({ [labelNames[0] as string]: k }, delta)
        }
      }
    }
  })
}

/** Create the agent's metrics. */
export function createAgentMetrics (init: { node: string, sources: MetricSources }): AgentMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS })
  // prom-client exports these gauges with a `_total` suffix, which promtool rejects
  // (a gauge must not look like a counter); the per-type `nodejs_active_*` gauges stay
  for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(n)
  const s = init.sources

  new Gauge({ name: 'scalelb_build_info', help: 'Agent build information (always 1).', labelNames: ['version', 'node'], registers: [registry] })
    .set({ version: AGENT_VERSION, node: init.node }, 1)
  const sync = new Histogram({ name: 'scalelb_lb_sync_duration_seconds', help: 'Duration of one reconciler apply (one kernel transaction per sandbox).', buckets: LATENCY_BUCKETS_S, registers: [registry] })
  const prog = new Histogram({
    name: 'scalelb_network_programming_duration_seconds',
    help: 'From a task event at its origin node (origin wall clock) to the rules being applied on this node.',
    buckets: LATENCY_BUCKETS_S,
    registers: [registry]
  })
  const addressWait = new Histogram({
    name: 'scalelb_ipam_address_wait_seconds',
    help: 'Time an address allocation (VIP, task, LB IP) waited for address space from a donor; 0 when this node owned a free address.',
    buckets: LATENCY_BUCKETS_S,
    registers: [registry]
  })
  absCounter(registry, 'scalelb_lb_transactions_total', 'Kernel transactions issued by the reconciler.', [], () => s.reconciler().transactions)
  absCounter(registry, 'scalelb_lb_transaction_failures_total', 'Failed reconciler transactions (each triggers a full resync).', [], () => s.reconciler().failures)
  new Gauge({ name: 'scalelb_lb_kernel_objects', help: 'Kernel objects (rules, map elements, addresses) programmed by this agent.', registers: [registry], collect () { this.set(s.reconciler().kernelObjects) } })
  new Gauge({ name: 'scalelb_lb_sandboxes', help: 'LB sandboxes (one per network with local tasks).', registers: [registry], collect () { this.set(s.reconciler().sandboxes) } })
  new Gauge({
    name: 'scalelb_gossip_members',
    help: 'Gossip members by state, as this node sees them.',
    labelNames: ['state'],
    registers: [registry],
    collect () {
      const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 }
      for (const m of s.members()) counts[m.state] = (counts[m.state] ?? 0) + 1
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
    }
  })
  absCounter(registry, 'scalelb_gossip_messages_sent_total', 'Gossip messages sent, by type.', ['type'], () => s.gossipStats().messagesSent)
  absCounter(registry, 'scalelb_gossip_messages_received_total', 'Gossip messages received, by type.', ['type'], () => s.gossipStats().messagesReceived)
  absCounter(registry, 'scalelb_gossip_sent_bytes_total', 'Gossip bytes sent.', [], () => s.gossipStats().bytesSent)
  absCounter(registry, 'scalelb_gossip_received_bytes_total', 'Gossip bytes received.', [], () => s.gossipStats().bytesReceived)
  absCounter(registry, 'scalelb_gossip_dropped_messages_total', 'Inbound gossip frames, table entries and membership facts refused, by reason (malformed ones by field; unsigned, bad-signature, not-owner, not-manager, unknown-origin, lamport-jump, member-unsigned, revoked-peer, revoked-origin, member-revoked, ...).', ['reason'], () => s.gossipStats().dropped)
  absCounter(registry, 'scalelb_gossip_syncs_total', 'Anti-entropy syncs.', [], () => s.gossipStats().syncs)
  absCounter(registry, 'scalelb_gossip_entries_written_total', 'Table entry versions this node wrote.', [], () => s.gossipStats().flow.written)
  absCounter(registry, 'scalelb_gossip_entries_written_bytes_total', 'Estimated encoded bytes of the table entry versions this node wrote.', [], () => s.gossipStats().flow.writtenBytes)
  absCounter(registry, 'scalelb_gossip_entries_learned_total', 'Newer table entry versions applied from other nodes, by how they came (push: a gossip broadcast; sync: anti-entropy).', ['via'], () => ({ push: s.gossipStats().flow.learnedPush, sync: s.gossipStats().flow.learnedSync }))
  absCounter(registry, 'scalelb_gossip_broadcast_entries_sent_total', 'Table entries put into gossip packets (one per entry per packet).', [], () => s.gossipStats().flow.broadcastsSent)
  absCounter(registry, 'scalelb_gossip_broadcasts_pruned_total', 'Relayed table entries dropped from a full broadcast queue (anti-entropy carries them).', [], () => s.gossipStats().flow.broadcastsPruned)
  new Gauge({ name: 'scalelb_gossip_broadcasts_queued', help: 'Table entries queued for broadcast now.', registers: [registry], collect () { this.set(s.gossipStats().flow.broadcastsQueued) } })
  const transport = s.transport
  if (transport !== undefined) {
    absCounter(registry, 'scalelb_transport_dropped_total', 'Frames dropped and streams refused by the gossip transport, by reason (stream-limit, sync-limit, buffer-limit, oversize-in, ...).', ['reason'], () => transport().dropped)
    new Gauge({ name: 'scalelb_transport_buffered_bytes', help: 'Bytes of partly received inbound frames the gossip transport holds now.', registers: [registry], collect () { this.set(transport().bufferedBytes) } })
  }
  new Gauge({
    name: 'scalelb_gossip_entries',
    help: 'Replicated entries held, by scope kind.',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      this.reset()
      for (const [k, n] of Object.entries(s.gossipStats().entries)) this.set({ kind: k.startsWith('network:') ? 'network' : k }, n)
    }
  })
  new Gauge({
    name: 'scalelb_ipam_addresses',
    help: 'Addresses on this node summed over networks, by kind (vip, task, lb in use; free, cooling owned).',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      for (const [kind, n] of Object.entries(s.ipam())) this.set({ kind }, n)
    }
  })
  const revoked = s.revoked
  if (revoked !== undefined) new Gauge({ name: 'scalelb_revoked_members', help: 'Members the cluster\'s managers revoked (`scalelb member revoke`): every node refuses their traffic and entries.', registers: [registry], collect () { this.set(revoked()) } })
  const conflicts = s.conflicts
  if (conflicts !== undefined) {
    new Gauge({ name: 'scalelb_network_conflicts', help: 'Networks whose subnets overlap a network created earlier (no kernel state until removed).', registers: [registry], collect () { this.set(conflicts().current) } })
    absCounter(registry, 'scalelb_network_conflicts_detected_total', 'Subnet conflicts between networks that appeared (each logged once as an error).', [], () => conflicts().detected)
  }
  const invalid = new Counter({ name: 'scalelb_agent_invalid_entries_total', help: 'Gossip entries ignored because their value failed validation, by table.', labelNames: ['table'], registers: [registry] })
  const mtuIssues = new Counter({
    name: 'scalelb_overlay_mtu_issues_total',
    help: 'Networks whose own MTU this node cannot use as is, by reason (too-large: above what the underlay carries, clamped; invalid: ignored).',
    labelNames: ['reason'],
    registers: [registry]
  })

  const statusDropped = new Counter({ name: 'scalelb_status_connections_dropped_total', help: 'Status-server connections closed because it held its cap, by reason (evicted: an idle one made room; full: the new one).', labelNames: ['reason'], registers: [registry] })
  for (const reason of ['evicted', 'full']) statusDropped.inc({ reason }, 0)
  const tokensRefused = new Counter({ name: 'scalelb_ipam_refused_tokens_total', help: 'Address-ring tokens of another node not merged here, by reason (own-range: it would take a range this node owns, which only this node may give away).', labelNames: ['reason'], registers: [registry] })
  tokensRefused.inc({ reason: 'own-range' }, 0)

  const trim = new Histogram({ name: 'scalelb_memory_trim_duration_seconds', help: 'Duration of one memory trim (after RSS grew: a memory-reducing GC and malloc_trim; else malloc_trim alone), the event loop blocked meanwhile.', buckets: LATENCY_BUCKETS_S, registers: [registry] })
  return {
    registry,
    observeSync: (ms) => sync.observe(ms / 1000),
    observeProgramming: (ms) => prog.observe(Math.max(0, ms) / 1000),
    invalidEntry: (table) => invalid.inc({ table }),
    mtuIssue: (reason) => mtuIssues.inc({ reason }),
    statusConnectionDropped: (reason) => statusDropped.inc({ reason }),
    observeAddressWait: (ms) => addressWait.observe(Math.max(0, ms) / 1000),
    observeMemoryTrim: (ms) => trim.observe(ms / 1000),
    ipamTokenRefused: (reason) => tokensRefused.inc({ reason })
  }
}
