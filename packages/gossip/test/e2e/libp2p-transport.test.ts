import { connect } from 'node:net'
import test, { type ExecutionContext } from 'ava'
import { createManualClock } from '../../src/clock.js'
import { createSeededRng, randInt } from '../../src/rng.js'
import {
  createLibp2pTransport, generateClusterKey, generateNodeKey, nodeKeyFromBytes, nodeKeyToBytes, parseClusterKey, peerIdFromKey,
  type Libp2pTransport, type Libp2pTransportInit
} from '../../src/transport/libp2p.js'
import { waitFor } from '@scalelb/test-support'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
const CLUSTER_KEY = parseClusterKey(generateClusterKey())

interface Received { from: string, text: string }

async function startNode (t: ExecutionContext, extra: Partial<Libp2pTransportInit> = {}): Promise<{ tr: Libp2pTransport, got: Received[] }> {
  const init: Libp2pTransportInit = { privateKey: await generateNodeKey(), listen: [LOOPBACK], clusterKey: CLUSTER_KEY, ...extra }
  const tr = createLibp2pTransport(init)
  const got: Received[] = []
  tr.onMessage((from, bytes) => { got.push({ from, text: new TextDecoder().decode(bytes) }) })
  t.teardown(async () => { await tr.stop() })
  await tr.start()
  return { tr, got }
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

test('node keys round-trip through bytes and keep their NodeId', async t => {
  const key = await generateNodeKey()
  const back = nodeKeyFromBytes(nodeKeyToBytes(key))
  t.is(peerIdFromKey(back), peerIdFromKey(key))
  t.not(peerIdFromKey(await generateNodeKey()), peerIdFromKey(key))
  t.is(t.throws(() => nodeKeyFromBytes(new Uint8Array([1, 2, 3])))?.name, 'InvalidNodeKeyError')
  t.is(t.throws(() => nodeKeyFromBytes(new Uint8Array()))?.name, 'InvalidNodeKeyError')
})

test('cluster keys: generated keys parse; malformed files name the bad part', t => {
  const text = generateClusterKey()
  t.regex(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
  t.deepEqual(parseClusterKey(text.replace(/\n/g, '\r\n') + '\n'), parseClusterKey(text))
  const [, , hex] = text.split('\n') as [string, string, string]
  const bad = (s: string): string | undefined => (t.throws(() => parseClusterKey(s)) as (Error & { field?: string }) | undefined)?.field
  t.is(bad(`/key/swarm/psk/2.0.0/\n/base16/\n${hex}`), 'header')
  t.is(bad(`/key/swarm/psk/1.0.0/\n/base64/\n${hex}`), 'encoding')
  t.is(bad(`/key/swarm/psk/1.0.0/\n/base16/\n${hex.slice(2)}`), 'key')
  t.is(bad(`/key/swarm/psk/1.0.0/\n/base16/\n${'z'.repeat(64)}`), 'key')
  t.is(bad(hex), 'file')
  t.is(t.throws(() => parseClusterKey(new Uint8Array([0xff, 0xfe, 0x00])))?.name, 'InvalidClusterKeyError')
})

test('a cluster key is required unless insecure is set explicitly; bad options name the field', async t => {
  const privateKey = await generateNodeKey()
  t.is(t.throws(() => createLibp2pTransport({ privateKey, listen: [LOOPBACK] }))?.name, 'ClusterKeyRequiredError')
  t.is(t.throws(() => createLibp2pTransport({ privateKey, listen: [LOOPBACK], insecure: false }))?.name, 'ClusterKeyRequiredError')
  const field = (init: Libp2pTransportInit): string | undefined => (t.throws(() => createLibp2pTransport(init)) as (Error & { field?: string }) | undefined)?.field
  t.is(field({ privateKey, listen: [LOOPBACK], insecure: true, clusterKey: CLUSTER_KEY }), 'insecure')
  t.is(field({ privateKey, listen: ['not-a-multiaddr'], clusterKey: CLUSTER_KEY }), 'listen[0]')
  t.is(field({ privateKey, listen: [LOOPBACK, 4001 as never], clusterKey: CLUSTER_KEY }), 'listen[1]')
  t.is(field({ privateKey, listen: [LOOPBACK], clusterKey: CLUSTER_KEY, maxConnections: 0 }), 'maxConnections')
  t.is(field({ privateKey, listen: [LOOPBACK], clusterKey: enc('nope') }), 'file')
  t.is(field({ privateKey, listen: [LOOPBACK], clusterKey: CLUSTER_KEY, announce: ['/nope'] }), 'announce[0]')
  const insecure = createLibp2pTransport({ privateKey, listen: [LOOPBACK], insecure: true })
  t.is(insecure.id, peerIdFromKey(privateKey))
})

test('listening on a port already in use fails with ListenFailedError', async t => {
  const { tr } = await startNode(t)
  const taken = (tr.addrs()[0] ?? '').replace(/\/p2p\/.*$/, '')
  const other = createLibp2pTransport({ privateKey: await generateNodeKey(), listen: [taken], clusterKey: CLUSTER_KEY })
  t.teardown(async () => { await other.stop() })
  t.is((await t.throwsAsync(other.start()))?.name, 'ListenFailedError')
  t.deepEqual(other.addrs(), [])
})

test('announce addresses replace the listen addresses in addrs()', async t => {
  const { tr } = await startNode(t, { announce: ['/ip4/192.0.2.7/tcp/4001'] })
  t.deepEqual(tr.addrs(), [`/ip4/192.0.2.7/tcp/4001/p2p/${tr.id}`])
})

test('two nodes exchange datagrams both ways and request/response over one connection', async t => {
  const a = await startNode(t)
  const b = await startNode(t)
  b.tr.onRequest((from, bytes) => enc(`${from === a.tr.id ? 'a' : '?'}:${dec(bytes).toUpperCase()}`))
  // dial without /p2p/: the id is learned from the connection
  const bAddr = b.tr.addrs()[0]?.replace(/\/p2p\/.*$/, '') ?? ''
  t.is(await a.tr.dial(bAddr), b.tr.id)
  for (let i = 0; i < 20; i++) a.tr.send(b.tr.id, enc(`ping ${i}`))
  await waitFor('b to receive 20 frames', () => b.got.length === 20)
  t.deepEqual(b.got.map(g => g.text), Array.from({ length: 20 }, (_, i) => `ping ${i}`))
  t.true(b.got.every(g => g.from === a.tr.id))
  // b has no address for a, but the connection a opened carries b's frames back
  b.tr.send(a.tr.id, enc('pong'))
  await waitFor('a to receive the reply', () => a.got.length === 1)
  t.deepEqual(a.got[0], { from: b.tr.id, text: 'pong' })
  t.is(dec(await a.tr.request(b.tr.id, enc('sync me'))), 'a:SYNC ME')
  t.is(a.tr.connectedPeers().length, 1)
  t.is(b.tr.stats().requestsServed, 1)
})

test('send to an unknown peer is dropped without throwing; request rejects with a typed error', async t => {
  const a = await startNode(t)
  const other = peerIdFromKey(await generateNodeKey())
  t.notThrows(() => { a.tr.send(other, enc('x')) })
  t.notThrows(() => { a.tr.send('not-a-peer-id', enc('x')) })
  await waitFor('both sends to be counted as unreachable', () => (a.tr.stats().dropped.unreachable ?? 0) === 2)
  const err = await t.throwsAsync(a.tr.request(other, enc('x')))
  t.is(err?.name, 'PeerUnreachableError')
  t.is((await t.throwsAsync(a.tr.dial('/ip4/127.0.0.1/udp/1')))?.name, 'InvalidPeerAddressError')
})

test('a node with another cluster key (or none) cannot connect, and nothing it sends arrives', async t => {
  const a = await startNode(t)
  a.tr.onRequest(() => enc('secret'))
  // a wrong key shows up as a handshake that never completes, so keep the dial deadline short
  const intruder = await startNode(t, { clusterKey: parseClusterKey(generateClusterKey()), dialTimeoutMs: 750 })
  const naked = await startNode(t, { clusterKey: undefined, insecure: true, dialTimeoutMs: 750 })
  const aAddr = a.tr.addrs()[0] ?? ''
  await Promise.all([intruder, naked].map(async x => {
    t.is((await t.throwsAsync(x.tr.dial(aAddr)))?.name, 'DialFailedError')
    x.tr.addPeerAddrs(a.tr.id, [aAddr])
    for (let i = 0; i < 5; i++) x.tr.send(a.tr.id, enc('injected'))
    await waitFor('the intruder to give up on its frames', () => (x.tr.stats().dropped.unreachable ?? 0) >= 5)
    t.is((await t.throwsAsync(x.tr.request(a.tr.id, enc('give me state'))))?.name, 'DialFailedError')
  }))
  // a member with the right key still gets through, after the intruders' attempts
  const friend = await startNode(t)
  friend.tr.addPeerAddrs(a.tr.id, [aAddr])
  friend.tr.send(a.tr.id, enc('hello'))
  await waitFor('the member frame', () => a.got.length > 0)
  t.deepEqual(a.got, [{ from: friend.tr.id, text: 'hello' }])
  t.deepEqual(a.tr.connectedPeers(), [friend.tr.id])
})

test('a denied (revoked) peer with the cluster key is disconnected, its new connections are aborted, it is not dialled, nothing it sends arrives; allowed again, it connects', async t => {
  const a = await startNode(t)
  a.tr.onRequest(() => enc('state'))
  const rogue = await startNode(t, { dialTimeoutMs: 1500 })
  const aAddr = a.tr.addrs()[0] ?? ''
  t.is(await rogue.tr.dial(aAddr), a.tr.id)
  rogue.tr.send(a.tr.id, enc('before'))
  await waitFor('the frame sent before the denial', () => a.got.length === 1)
  a.tr.denyPeers(new Set([rogue.tr.id]))
  await waitFor('the connection to be closed', () => !a.tr.connectedPeers().includes(rogue.tr.id))
  // (with Noise's early muxer negotiation the dialer may finish its side before a aborts the connection)
  await rogue.tr.dial(aAddr).catch(() => '')
  for (let i = 0; i < 3; i++) rogue.tr.send(a.tr.id, enc('after'))
  await t.throwsAsync(rogue.tr.request(a.tr.id, enc('give me state')))
  a.tr.send(rogue.tr.id, enc('to the rogue'))
  t.true((a.tr.stats().dropped.revoked ?? 0) >= 1, 'a sends it nothing')
  a.tr.addPeerAddrs(rogue.tr.id, rogue.tr.addrs())
  await t.throwsAsync(a.tr.request(rogue.tr.id, enc('x')), undefined, 'a does not dial it either')
  await waitFor('no connection to the rogue', () => !a.tr.connectedPeers().includes(rogue.tr.id))
  t.deepEqual(a.got.map((g) => g.text), ['before'])
  t.true((a.tr.stats().dropped.revoked ?? 0) >= 1)
  a.tr.denyPeers(new Set())
  // (the rogue may still hold a connection a aborted during the denial: sending again finds out and dials anew)
  await waitFor('a frame after the denial was lifted', () => {
    rogue.tr.send(a.tr.id, enc('back'))
    return a.got.some((g) => g.text === 'back')
  })
  t.deepEqual(a.got.map((g) => g.text).filter((x) => x !== 'back'), ['before'])
})

test('raw garbage on the listening socket is rejected and the node keeps serving members', async t => {
  const a = await startNode(t)
  const port = Number(/\/tcp\/(\d+)/.exec(a.tr.addrs()[0] ?? '')?.[1])
  const rng = createSeededRng(42)
  await Promise.all([0, 1, 2].map(async i => {
    const garbage = Uint8Array.from({ length: 4096 * (i + 1) }, () => randInt(rng, 256))
    await new Promise<void>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port }, () => { sock.end(garbage) })
      sock.on('error', () => { resolve() })
      sock.on('close', () => { resolve() })
      sock.resume()
    })
  }))
  const friend = await startNode(t)
  friend.tr.addPeerAddrs(a.tr.id, a.tr.addrs())
  friend.tr.send(a.tr.id, enc('still here'))
  await waitFor('the member frame', () => a.got.length > 0)
  t.deepEqual(a.got, [{ from: friend.tr.id, text: 'still here' }])
})

test('two insecure nodes talk to each other', async t => {
  const a = await startNode(t, { clusterKey: undefined, insecure: true })
  const b = await startNode(t, { clusterKey: undefined, insecure: true })
  b.tr.addPeerAddrs(a.tr.id, a.tr.addrs())
  b.tr.send(a.tr.id, enc('plain'))
  await waitFor('the frame', () => a.got.length === 1)
  t.is(a.got[0]?.text, 'plain')
})

test('an oversized inbound frame is dropped and the stream keeps working', async t => {
  const small = await startNode(t, { maxMessageBytes: 1024 })
  const big = await startNode(t, { maxMessageBytes: 1024 * 1024 })
  big.tr.addPeerAddrs(small.tr.id, small.tr.addrs())
  big.tr.send(small.tr.id, enc('before'))
  big.tr.send(small.tr.id, new Uint8Array(200_000).fill(65))
  big.tr.send(small.tr.id, enc('x'.repeat(1024)))
  big.tr.send(small.tr.id, enc('after'))
  await waitFor('the three frames within the limit', () => small.got.length === 3)
  t.deepEqual(small.got.map(g => g.text.slice(0, 6)), ['before', 'xxxxxx', 'after'])
  t.is(small.tr.stats().dropped['oversize-in'], 1)
  // and the sender refuses to send over its own limit
  small.tr.send(big.tr.id, new Uint8Array(2048))
  t.is(small.tr.stats().dropped['oversize-out'], 1)
})

test('a request that gets no answer in time rejects with RequestTimeoutError; an oversized response is refused', async t => {
  const impatient = await startNode(t, { requestTimeoutMs: 500 })
  const strict = await startNode(t, { maxRequestBytes: 1000 })
  const b = await startNode(t)
  b.tr.onRequest(async (_from, bytes) => {
    if (dec(bytes) === 'big') return new Uint8Array(5000)
    if (dec(bytes) === 'bad') throw new Error('handler refuses')
    return await new Promise<Uint8Array>(() => {})
  })
  impatient.tr.addPeerAddrs(b.tr.id, b.tr.addrs())
  strict.tr.addPeerAddrs(b.tr.id, b.tr.addrs())
  t.is((await t.throwsAsync(impatient.tr.request(b.tr.id, enc('hang'))))?.name, 'RequestTimeoutError')
  t.is((await t.throwsAsync(strict.tr.request(b.tr.id, enc('big'))))?.name, 'BadFrameError')
  t.is((await t.throwsAsync(strict.tr.request(b.tr.id, enc('bad'))))?.name, 'RequestFailedError')
})

test('the connection count stays within maxConnections, evicting the least recently used peer', async t => {
  const cap = 3
  const hub = await startNode(t, { maxConnections: cap })
  const spokes: Array<{ tr: Libp2pTransport, got: Received[] }> = []
  for (let i = 0; i < 6; i++) {
    const s = await startNode(t)
    spokes.push(s)
    s.tr.addPeerAddrs(hub.tr.id, hub.tr.addrs())
    s.tr.send(hub.tr.id, enc(`spoke ${i}`))
    await waitFor(`spoke ${i}'s frame`, () => hub.got.some(g => g.text === `spoke ${i}`))
    t.true(hub.tr.connectionCount() <= cap, `after spoke ${i}: ${hub.tr.connectionCount()} connections`)
  }
  t.true(hub.tr.stats().evicted >= 6 - cap)
  // the evicted peers were the oldest ones
  await waitFor('spoke 0 to be evicted', () => !hub.tr.connectedPeers().includes(spokes[0]?.tr.id ?? ''))
  t.true(hub.tr.connectedPeers().includes(spokes[5]?.tr.id ?? ''))
})

test('idle connections are closed and the gossip stream is reopened on the next send', async t => {
  // long enough that a slow, loaded machine still delivers the first frame before the connection counts as idle
  const a = await startNode(t, { idleTimeoutMs: 2000 })
  const b = await startNode(t, { idleTimeoutMs: 2000 })
  a.tr.addPeerAddrs(b.tr.id, b.tr.addrs())
  a.tr.send(b.tr.id, enc('one'))
  await waitFor('the first frame', () => b.got.length === 1)
  await waitFor('the idle connection to close', () => a.tr.connectionCount() === 0 && b.tr.connectionCount() === 0)
  t.true(a.tr.stats().idleClosed + b.tr.stats().idleClosed >= 1)
  a.tr.send(b.tr.id, enc('two'))
  await waitFor('the frame after reconnect', () => b.got.length === 2)
  t.is(b.got[1]?.text, 'two')
})

test('a peer that restarts with the same key on a new port is reached again', async t => {
  const key = await generateNodeKey()
  const a = await startNode(t)
  const b1 = await startNode(t, { privateKey: key })
  a.tr.addPeerAddrs(b1.tr.id, b1.tr.addrs())
  a.tr.send(b1.tr.id, enc('to b1'))
  await waitFor('b1 frame', () => b1.got.length === 1)
  await b1.tr.stop()
  await waitFor('a to notice b1 is gone', () => a.tr.connectionCount() === 0)
  const b2 = await startNode(t, { privateKey: key })
  t.is(b2.tr.id, b1.tr.id)
  a.tr.addPeerAddrs(b2.tr.id, b2.tr.addrs())
  a.tr.send(b2.tr.id, enc('to b2'))
  await waitFor('b2 frame', () => b2.got.length === 1)
  t.is(b2.got[0]?.from, a.tr.id)
})

test('on an injected manual clock, a request times out exactly when the clock passes requestTimeoutMs', async t => {
  const clock = createManualClock(0)
  const a = await startNode(t, { clock, requestTimeoutMs: 10_000 })
  const b = await startNode(t)
  b.tr.onRequest(async (_from, bytes) => dec(bytes) === 'ping' ? enc('pong') : await new Promise<Uint8Array>(() => {}))
  a.tr.addPeerAddrs(b.tr.id, b.tr.addrs())
  t.is(dec(await a.tr.request(b.tr.id, enc('ping'))), 'pong')
  const timers = clock.pending()
  let settled: string | undefined
  a.tr.request(b.tr.id, enc('hang')).then(() => { settled = 'answered' }, (err: unknown) => { settled = (err as Error).name })
  // the deadline is a timer on our clock, not a wall-clock timeout
  await waitFor('the request deadline to be set on the manual clock', () => clock.pending() > timers)
  clock.advance(9_999)
  await new Promise(resolve => setImmediate(resolve))
  t.is(settled, undefined)
  clock.advance(1)
  await waitFor('the request to settle', () => settled !== undefined)
  t.is(settled, 'RequestTimeoutError')
})

test('on an injected manual clock, a connection is closed as idle only once the clock passes idleTimeoutMs', async t => {
  const clock = createManualClock(0)
  const a = await startNode(t, { clock, idleTimeoutMs: 1000 })
  const b = await startNode(t)
  a.tr.addPeerAddrs(b.tr.id, b.tr.addrs())
  a.tr.send(b.tr.id, enc('one'))
  await waitFor('the first frame', () => b.got.length === 1)
  // the idle check runs every idleTimeoutMs / 2 on the clock: at 500 ms the connection is young
  clock.advance(500)
  t.is(a.tr.stats().idleClosed, 0)
  t.is(a.tr.connectionCount(), 1)
  clock.advance(500)
  t.is(a.tr.stats().idleClosed, 1)
  await waitFor('the idle connection to close', () => a.tr.connectionCount() === 0)
})

test('a clock that is not a Clock is refused naming the option', async t => {
  const privateKey = await generateNodeKey()
  const err = t.throws(() => createLibp2pTransport({ privateKey, listen: [LOOPBACK], clusterKey: CLUSTER_KEY, clock: {} as never }))
  t.like(err, { name: 'InvalidTransportOptionError', field: 'clock' })
})
