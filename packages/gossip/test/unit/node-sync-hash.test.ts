import test from 'ava'
import { decodePacket, encodeFrame } from '../../src/codec/codec.js'
import type { Packet } from '../../src/codec/messages.js'
import { Mesh } from '../support/mesh.js'

test('at rest, periodic sync hashes ride on pings and acks: no frame of their own, and the digests are compared', t => {
  const m = new Mesh(['a', 'b', 'c', 'd'], 'ride')
  m.run(m.now + 5_000) // join syncs and the start-up broadcasts settle
  const from = m.sent.length
  const agreed0 = [...m.nodes.values()].map((n) => n.stats().syncsAgreed)
  m.run(m.now + 30_000)
  const window = m.sent.slice(from)
  const alone = window.filter((s) => s.msg.t === 'gossip' && s.msg.sh !== undefined)
  const riding = window.filter((s) => (s.msg.t === 'ping' || s.msg.t === 'ack') && s.msg.sh !== undefined)
  t.is(alone.length, 0, 'no sync hash went in a frame of its own')
  // 4 nodes x 30 s / 2 s: one hash per node per sync interval (the cluster scope)
  t.true(riding.length >= 4 * 13 && riding.length <= 4 * 16, `${riding.length} hashes on probes`)
  t.true(riding.every((s) => s.msg.tb === undefined), 'a packet with a sync hash carries no table broadcasts')
  const agreed = [...m.nodes.values()].map((n, i) => n.stats().syncsAgreed - (agreed0[i] as number))
  t.is(agreed.reduce((a, b) => a + b, 0), riding.length, 'every hash was compared and agreed')
  t.is(window.filter((s) => s.msg.t === 'gossip').length, 0, 'at rest nothing else is gossiped')
})

test('a write whose broadcasts were all lost is repaired through a sync hash on a probe', t => {
  const m = new Mesh(['a', 'b', 'c'], 'repair')
  m.run(m.now + 5_000)
  // broadcasts of the write lost, and anti-entropy's "differs" answers too for now
  m.drop = (from, msg) => (from === 'a' && msg.tb !== undefined) || msg.sd !== undefined
  m.get('a').set(m.now, 'cluster', 'svc', 'k1', { v: 1 })
  m.run(m.now + 3_000) // a's broadcasts reach their transmit limit, all lost
  m.drop = undefined
  t.is(m.get('b').tables.get('cluster', 'svc', 'k1'), undefined)
  const from = m.sent.length
  m.run(m.now + 6_000)
  for (const id of ['b', 'c']) t.like(m.get(id).tables.get('cluster', 'svc', 'k1'), { value: { v: 1 } }, id)
  const window = m.sent.slice(from)
  t.true(window.some((s) => s.msg.t === 'gossip' && s.msg.sd !== undefined), 'a peer answered "differs" to a hash')
  t.is(window.filter((s) => s.msg.t === 'gossip' && s.msg.sh !== undefined).length, 0, 'every hash rode on a probe')
})

test('the ack of a ping that brought a sync hash carries none: the two syncs would race', t => {
  // two identical meshes: in the first, find when b's ack to a plain ping carries b's hash (its window is open)
  const first = new Mesh(['a', 'b'], 'race')
  const second = new Mesh(['a', 'b'], 'race')
  first.run(first.now + 5_000)
  second.run(second.now + 5_000)
  const plain = (seq: number): Packet => ({ t: 'ping', seq, target: 'b' })
  let at: number | undefined
  for (let i = 0; i < 60 && at === undefined; i++) {
    const now = first.now + i * 50
    const ack = first.get('b').handle(now, 'a', plain(i)).send.find((x) => x.msg.t === 'ack')
    if (ack?.msg.sh !== undefined) at = now
    else second.get('b').handle(now, 'a', plain(i))
  }
  if (at === undefined) { t.fail('b never had a sync due'); return }
  // in the second, the same moment, but the ping brings a's hash
  const out = second.get('b').handle(at, 'a', { t: 'ping', seq: 99, target: 'b', sh: [{ scope: 'cluster', h: [1, 2] }] })
  const ack = out.send.find((x) => x.msg.t === 'ack')
  t.like(ack, { to: 'a', msg: { seq: 99 } })
  t.is(ack?.msg.sh, undefined)
  t.deepEqual(out.send.find((x) => x.msg.t === 'gossip')?.msg.sd, ['cluster'], 'the differing hash is answered "differs"')
})

test('a ping with a sync hash is understood by the receive path: agreeing hash counted, differing one answered', t => {
  const m = new Mesh(['a', 'b'], 'recv')
  m.run(m.now + 5_000)
  const b = m.get('b')
  const agreed = b.stats().syncsAgreed
  const out = b.receive(m.now, 'a', encodeFrame({ t: 'ping', seq: 7, target: 'b', sh: [{ scope: 'cluster', h: [0, 0] }] }))
  t.like(out.send.find((s) => s.msg.t === 'ack'), { to: 'a', msg: { t: 'ack', seq: 7 } })
  t.deepEqual(out.send.find((s) => s.msg.t === 'gossip')?.msg.sd, ['cluster'])
  t.is(b.stats().syncsAgreed, agreed)
})

test('a probe with a malformed sync hash is dropped and counted; the node keeps answering', t => {
  const m = new Mesh(['a', 'b'], 'bad')
  m.run(m.now + 5_000)
  const b = m.get('b')
  const bad = encodeFrame({ t: 'ping', seq: 3, target: 'b', sh: [{ scope: 'cluster', h: [1, -1] }] } as unknown as Packet)
  t.like(decodePacket(bad, 65_536), { ok: false, reason: 'tables', field: 'sh[0]: hash' })
  const before = b.stats().dropped.tables ?? 0
  const out = b.receive(m.now, 'a', bad)
  t.is(out.send.length, 0, 'not answered')
  t.is(b.stats().dropped.tables, before + 1)
  const ok = b.receive(m.now, 'a', encodeFrame({ t: 'ping', seq: 4, target: 'b' }))
  t.like(ok.send.find((s) => s.msg.t === 'ack'), { to: 'a', msg: { seq: 4 } })
})

test('skipIdleGossipRounds: an idle node wakes for probes and syncs only; a write waits for the next gossip slot as before', t => {
  const run = (skip: boolean): { ticks: number, heardAfterMs: number } => {
    const m = new Mesh(['a', 'b', 'c'], 'idle', skip)
    m.run(m.now + 5_000)
    const t0 = m.ticks.get('a') ?? 0
    m.run(m.now + 10_000)
    const ticks = (m.ticks.get('a') ?? 0) - t0
    const at = m.now
    m.get('a').set(at, 'cluster', 'svc', 'k', { v: 1 })
    m.wake.set('a', m.get('a').nextWake())
    let heard = NaN
    for (let ms = 0; ms <= 1000 && Number.isNaN(heard); ms += 10) {
      m.run(at + ms)
      if (m.get('b').tables.get('cluster', 'svc', 'k') !== undefined && m.get('c').tables.get('cluster', 'svc', 'k') !== undefined) heard = ms
    }
    return { ticks, heardAfterMs: heard }
  }
  const every = run(false)
  const idle = run(true)
  // 10 s: 50 gossip rounds of 200 ms, 20 probes of 500 ms, 5 syncs
  t.true(every.ticks >= 50, `${every.ticks} ticks waking for every gossip round`)
  t.true(idle.ticks <= 30, `${idle.ticks} ticks skipping idle rounds`)
  t.true(idle.heardAfterMs <= 200, `a write reached both peers after ${idle.heardAfterMs} ms`)
  t.true(every.heardAfterMs <= 200, `a write reached both peers after ${every.heardAfterMs} ms`)
})

test('skipIdleGossipRounds: after a quiet spell a write waits for the next gossip slot (so writes close behind it share its packets)', t => {
  for (let offset = 0; offset < 500; offset += 50) {
    const m = new Mesh(['a', 'b', 'c'], 'slot', true)
    m.run(m.now + 10_000 + offset)
    const at = m.now
    const from = m.sent.length
    m.get('a').set(at, 'cluster', 'svc', 'k1', { v: 1 })
    m.wake.set('a', m.get('a').nextWake())
    m.run(at + 1_000)
    const first = m.sent.slice(from).find((s) => s.from === 'a' && s.msg.tb !== undefined)
    t.truthy(first, `offset ${offset}: gossiped`)
    const wait = (first?.at ?? NaN) - at
    t.true(wait > 0 && wait <= 200, `offset ${offset}: first sent ${wait} ms after the write`)
    t.truthy(m.get('b').tables.get('cluster', 'svc', 'k1'), `offset ${offset}: b has it`)
  }
})
