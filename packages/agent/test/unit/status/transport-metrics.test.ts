import test from 'ava'
import { createManualClock, createMemoryNetwork, type Transport } from '@scalelb/gossip'
import { createAgentMetrics, transportStats } from '../../../src/metrics.js'

const SOURCES = {
  reconciler: () => ({ transactions: 0, failures: 0, kernelObjects: 0, sandboxes: 0 }),
  members: () => [],
  gossipStats: () => ({ messagesSent: {}, messagesReceived: {}, bytesSent: 0, bytesReceived: 0, dropped: {}, syncs: 0, entries: {}, flow: { written: 0, writtenBytes: 0, learnedPush: 0, learnedSync: 0, broadcastsSent: 0, broadcastsQueued: 0, broadcastsPruned: 0 } }) as never,
  ipam: () => ({ vip: 0, task: 0, lb: 0, free: 0, cooling: 0 })
}

test('the libp2p transport\'s refusals and buffered bytes are exported; a transport without figures exports none', async (t) => {
  const figures = { dropped: { 'stream-limit': 3, 'buffer-limit': 1 } as Record<string, number>, bufferedBytes: 4096 }
  const withStats = { stats: () => ({ framesSent: 0, ...figures }) } as unknown as Transport
  const metrics = createAgentMetrics({ node: 'n1', sources: { ...SOURCES, transport: transportStats(withStats) } })
  let text = await metrics.registry.metrics()
  t.regex(text, /^scalelb_transport_dropped_total\{reason="stream-limit"\} 3$/m)
  t.regex(text, /^scalelb_transport_dropped_total\{reason="buffer-limit"\} 1$/m)
  t.regex(text, /^scalelb_transport_buffered_bytes 4096$/m)
  figures.dropped['stream-limit'] = 5
  figures.bufferedBytes = 0
  text = await metrics.registry.metrics()
  t.regex(text, /^scalelb_transport_dropped_total\{reason="stream-limit"\} 5$/m, 'the counter follows the transport\'s total')
  t.regex(text, /^scalelb_transport_buffered_bytes 0$/m)

  const memory = createMemoryNetwork({ clock: createManualClock(0) }).transport('a')
  t.is(transportStats(memory), undefined)
  const plain = await createAgentMetrics({ node: 'n1', sources: { ...SOURCES, transport: transportStats(memory) } }).registry.metrics()
  t.notRegex(plain, /scalelb_transport_/)
})
