import test from 'ava'
import { decodePacket, encodeFrame } from '../../src/codec/codec.js'
import { resolveConfig } from '../../src/config.js'
import { MAX_MESSAGE_BYTES } from '../../src/constants.js'
import { Mesh } from '../support/mesh.js'

/** A value of about the size of the agent's endpoint entries (~360 bytes with key, origin and version). */
const bigValue = (i: number): Record<string, unknown> => ({ kind: 'task', ip: `10.0.${i >> 8}.${i & 255}`, mac: '02:42:0a:00:00:01', pad: 'x'.repeat(250) })

test('a backlog of entries goes out in full packets, not in 1400-byte ones, and each packet is a frame an agent of any version accepts', t => {
  const m = new Mesh(['a', 'b', 'c', 'd'], 'budget', true)
  m.run(m.now + 5_000) // join syncs and start-up broadcasts settle
  const from = m.sent.length
  const a = m.get('a')
  for (let i = 0; i < 20; i++) a.set(m.now, 'cluster', 'eps', `k${i}`, bigValue(i))
  m.wake.set('a', a.nextWake())
  m.run(m.now + 250) // one gossip round
  const carriers = m.sent.slice(from).filter((s) => s.from === 'a' && s.msg.tb !== undefined)
  t.true(carriers.length > 0)
  const first = carriers[0]?.msg
  const entries = first?.tb?.reduce((n, msg) => n + msg.entries.length, 0) ?? 0
  t.is(entries, 20, 'the first packet carries the whole backlog')
  const bytes = encodeFrame(first).length
  t.true(bytes > 1400 && bytes <= MAX_MESSAGE_BYTES, `${bytes} bytes`)
  // an older agent checks a frame against its maxMessageBytes (the same 64 KiB default)
  t.true(decodePacket(encodeFrame(first), MAX_MESSAGE_BYTES).ok)
  // every other node holds every entry after that round, learned by push
  for (const id of ['b', 'c', 'd']) {
    t.is(m.get(id).tables.entries('cluster', 'eps').length, 20, id)
    t.true(m.get(id).stats().flow.learnedPush >= 20, id)
  }
  t.true(a.stats().flow.written >= 20)
})

test('with the old 1400-byte budget the same backlog needs several packets per target (what the bigger budget removes)', t => {
  const m = new Mesh(['a', 'b', 'c', 'd'], 'budget', true, resolveConfig('lan', { packetBytes: 1400 }))
  m.run(m.now + 5_000)
  const from = m.sent.length
  const a = m.get('a')
  for (let i = 0; i < 20; i++) a.set(m.now, 'cluster', 'eps', `k${i}`, bigValue(i))
  m.wake.set('a', a.nextWake())
  m.run(m.now + 250)
  const first = m.sent.slice(from).find((s) => s.from === 'a' && s.msg.tb !== undefined)?.msg
  t.true((first?.tb?.reduce((n, msg) => n + msg.entries.length, 0) ?? 0) < 20)
})

test('a packet budget no peer would accept as a frame is refused', t => {
  t.throws(() => resolveConfig('lan', { packetBytes: 64 * 1024 }), { name: 'InvalidGossipConfigError', message: /packetBytes/ })
  t.notThrows(() => resolveConfig('lan', { packetBytes: 16 * 1024 }))
})
