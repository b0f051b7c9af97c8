// Bounds on real libp2p (issue 10, items 3 and 4), against a peer holding
// the cluster key. Resources: it opens many sync and gossip streams that
// announce huge frames and sends only a little; the receiver buffers what
// arrives, not what was announced, refuses streams over its per-peer limits,
// and keeps answering an honest peer (serial: it measures the process's
// ArrayBuffer bytes). Counters: a Lamport bomb and a forged left.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Stream } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import test, { type ExecutionContext } from 'ava'
import { waitFor } from '@scalelb/test-support'
import { createLibp2p, type Libp2p } from 'libp2p'
import { createGossip, createSeededRng, createSystemClock, encodeFrame as encodePacket, type Gossip } from '../../src/index.js'
import {
  createLibp2pTransport, generateClusterKey, generateNodeKey, GOSSIP_PROTOCOL, parseClusterKey, SYNC_PROTOCOL, type Libp2pTransport
} from '../../src/transport/libp2p.js'
import { FRAME_INITIAL_BUFFER_BYTES, LIBP2P_MAX_BUFFERED_BYTES, LIBP2P_MAX_GOSSIP_STREAMS, LIBP2P_MAX_SYNC_STREAMS } from '../../src/transport/libp2p/constants.js'

const CLUSTER_KEY = parseClusterKey(generateClusterKey())
const MiB = 1024 * 1024

async function transport (t: ExecutionContext): Promise<Libp2pTransport> {
  const tr = createLibp2pTransport({ privateKey: await generateNodeKey(), listen: ['/ip4/127.0.0.1/tcp/0'], clusterKey: CLUSTER_KEY })
  t.teardown(async () => { await tr.stop() })
  await tr.start()
  return tr
}

/** A bare libp2p node with the cluster key: it can open any stream and write anything. */
async function rawMember (t: ExecutionContext): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: await generateNodeKey(),
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: preSharedKey({ psk: CLUSTER_KEY }),
    connectionMonitor: { enabled: false },
    connectionManager: { maxConnections: 1000 }
  })
  t.teardown(async () => { await node.stop() })
  await node.start()
  return node
}

/** A length prefix announcing `announced` bytes, then `sent` bytes of it. */
function partialFrame (announced: number, sent: number): Uint8Array {
  let n = announced
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  const bytes = new Uint8Array(out.length + sent)
  bytes.set(out)
  bytes.fill(0x41, out.length)
  return bytes
}

test.serial('streams announcing 8 MiB frames do not make the receiver allocate them; excess streams are refused; an honest peer is still served', async t => {
  const victim = await transport(t)
  victim.onRequest((_from, bytes) => new TextEncoder().encode(`re:${new TextDecoder().decode(bytes)}`))
  const honest = await transport(t)
  honest.addPeerAddrs(victim.id, victim.addrs())
  t.is(new TextDecoder().decode(await honest.request(victim.id, new TextEncoder().encode('hi'))), 're:hi')

  const attacker = await rawMember(t)
  const addr = multiaddr(victim.addrs()[0] as string)
  const CONNS = 30
  const announced = 8 * MiB
  const sentPerStream = 16 * 1024
  const streams: Stream[] = []
  const before = process.memoryUsage().arrayBuffers
  for (let c = 0; c < CONNS; c++) {
    const conn = await attacker.dial(addr, { force: true })
    // one after another: a burst of new streams on a fresh connection may be reset by the muxer's early-stream limit
    for (let i = 0; i < LIBP2P_MAX_SYNC_STREAMS + LIBP2P_MAX_GOSSIP_STREAMS; i++) {
      const gossip = i >= LIBP2P_MAX_SYNC_STREAMS
      try {
        const stream = await conn.newStream(gossip ? GOSSIP_PROTOCOL : SYNC_PROTOCOL, { negotiateFully: true })
        streams.push(stream)
        stream.send(partialFrame(gossip ? 64 * 1024 - 1 : announced, gossip ? 1000 : sentPerStream))
      } catch { /* refused: reset */ }
    }
  }
  const syncStreams = CONNS * LIBP2P_MAX_SYNC_STREAMS
  t.log(`${streams.length} of ${CONNS * (LIBP2P_MAX_SYNC_STREAMS + LIBP2P_MAX_GOSSIP_STREAMS)} streams on ${CONNS} connections negotiated; ${syncStreams} sync streams announced ${syncStreams * announced / MiB} MiB`)
  const open = (): Stream[] => streams.filter(s => s.status === 'open')
  await waitFor('the streams over the per-peer limits to be refused', () => open().length <= LIBP2P_MAX_SYNC_STREAMS + LIBP2P_MAX_GOSSIP_STREAMS, { detail: () => `${open().length} open; ${JSON.stringify(victim.stats())}` })
  t.true((victim.stats().dropped['sync-limit'] ?? 0) > 0 && (victim.stats().dropped['stream-limit'] ?? 0) > 0, 'the transport refused streams over its per-peer limits')
  const grown = process.memoryUsage().arrayBuffers - before
  const st = victim.stats()
  t.log(`victim: buffered ${st.bufferedBytes} B now, peak ${st.bufferedBytesPeak} B; ArrayBuffer growth of the process ${(grown / MiB).toFixed(1)} MiB; dropped ${JSON.stringify(st.dropped)}`)
  // what the 8 sync streams of the per-peer limit sent (a buffer doubles as bytes arrive, so at most
  // twice that), plus the first buffer of each gossip stream's partial frame
  t.true(st.bufferedBytesPeak <= 2 * LIBP2P_MAX_SYNC_STREAMS * sentPerStream + LIBP2P_MAX_GOSSIP_STREAMS * FRAME_INITIAL_BUFFER_BYTES, `peak buffered ${st.bufferedBytesPeak} B`)
  t.true(st.bufferedBytesPeak <= LIBP2P_MAX_BUFFERED_BYTES)
  t.true(grown < 32 * MiB, `ArrayBuffers grew by ${grown} B; ${syncStreams * announced} B were announced`)

  // the honest peer is still served while the attacker holds its streams open
  t.is(new TextDecoder().decode(await honest.request(victim.id, new TextEncoder().encode('still?'))), 're:still?')
  honest.send(victim.id, new TextEncoder().encode('gossip'))

  // and every byte is given back when the attacker goes away
  await attacker.stop()
  await waitFor('the buffers of closed streams to be released', () => victim.stats().bufferedBytes === 0)
  t.is(new TextDecoder().decode(await honest.request(victim.id, new TextEncoder().encode('after'))), 're:after')
})

test.serial('over libp2p, a Lamport bomb and a forged left from a member change nothing; later writes reach everyone', async t => {
  const nodes: Array<{ g: Gossip, tr: Libp2pTransport }> = []
  for (let i = 0; i < 4; i++) {
    const tr = await transport(t)
    const g = createGossip({ transport: tr, clock: createSystemClock(), rng: createSeededRng(100 + i), profile: 'local' })
    t.teardown(async () => { await g.stop() })
    await g.start()
    nodes.push({ g, tr })
  }
  const [a, b, c, m] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0], typeof nodes[0]]
  await Promise.all([b, c, m].map(async n => await n.g.join(a.tr.addrs())))
  const honest = [a, b, c]
  await waitFor('everyone alive', () => nodes.every(n => n.g.members().filter(x => x.state === 'alive').length === 4))
  // what a member with the key can send: any frame, from its own transport
  for (const n of honest) {
    m.tr.send(n.g.id, encodePacket({ t: 'gossip', tb: [{ scope: 'cluster', entries: [['services', 'bomb', m.g.id, 2 ** 48, 1, 0, { vip: '10.0.0.1' }]] }] }))
    m.tr.send(n.g.id, encodePacket({ t: 'gossip', mb: [{ k: 'left', id: b.g.id, inc: 2 ** 48 }] }))
  }
  await waitFor('every honest node to refuse both', () => honest.every(n => (n.g.stats().dropped['lamport-jump'] ?? 0) >= 1 && (n.g.stats().dropped['incarnation-jump'] ?? 0) >= 1), { detail: () => JSON.stringify(honest.map(n => n.g.stats().dropped)) })
  for (const [i, n] of honest.entries()) n.g.set('cluster', 'services', `after-${i}`, i)
  await waitFor('later writes to reach everyone', () => honest.every(n => [0, 1, 2].every(i => n.g.get('cluster', 'services', `after-${i}`)?.status === 'live')))
  t.true(honest.every(n => n.g.get('cluster', 'services', 'bomb') === undefined))
  t.true([a, c, m].every(n => n.g.members().find(x => x.id === b.g.id)?.state === 'alive'), 'b stays alive in every view')
})
