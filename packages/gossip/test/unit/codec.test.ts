import test from 'ava'
import { Packr } from 'msgpackr'
import { constants, createNode, createSeededRng, decodePacket, decodeRequest, encodeFrame, frameSize, resolveConfig, type GossipNode, type Packet, type Rng } from '@scalelb/gossip'

const cfg = resolveConfig('lan')

test('frames round-trip with a version byte first', t => {
  const p: Packet = { t: 'ping', seq: 7, target: 'b', mb: [{ k: 'alive', id: 'c', inc: 2, addrs: ['mem://c'] }] }
  const bytes = encodeFrame(p)
  t.is(bytes[0], constants.CODEC_VERSION)
  const r = decodePacket(bytes, cfg.maxMessageBytes)
  t.deepEqual(r, { ok: true, value: p })
})

test('unknown versions, oversize, garbage and schema violations are rejected with a reason', t => {
  const good = encodeFrame({ t: 'ack', seq: 1 })
  const v2 = good.slice(); v2[0] = 2
  t.like(decodePacket(v2, 1000), { ok: false, reason: 'version' })
  t.like(decodePacket(good, 2), { ok: false, reason: 'size' })
  t.like(decodePacket(new Uint8Array([1]), 1000), { ok: false, reason: 'empty' })
  t.like(decodePacket(new Uint8Array([1, 0x82, 0xa1]), 1000), { ok: false, reason: 'decode' })
  const bad = (x: unknown): Uint8Array => { const b = new Packr({ useRecords: false }).pack(x); const o = new Uint8Array(b.length + 1); o[0] = 1; o.set(b, 1); return o }
  t.like(decodePacket(bad({ t: 'ping', seq: 1 }), 1000), { ok: false, reason: 'schema', field: 'target' })
  t.like(decodePacket(bad({ t: 'ack', seq: -1 }), 1000), { ok: false, reason: 'schema', field: 'seq' })
  t.like(decodePacket(bad({ t: 'ack', seq: 1.5 }), 1000), { ok: false, reason: 'schema', field: 'seq' })
  t.like(decodePacket(bad({ t: 'explode' }), 1000), { ok: false, reason: 'schema', field: 't' })
  t.like(decodePacket(bad([1, 2]), 1000), { ok: false, reason: 'schema' })
  t.like(decodePacket(bad({ t: 'gossip', mb: [{ k: 'suspect', id: 'x', inc: 1 }] }), 1000), { ok: false, reason: 'schema', field: 'mb[0].from' })
  t.like(decodePacket(bad({ t: 'gossip', mb: [{ k: 'alive', id: 'x'.repeat(300), inc: 1 }] }), 10_000), { ok: false, reason: 'schema', field: 'mb[0].id' })
  t.like(decodePacket(bad({ t: 'gossip', tb: [{ scope: 'bogus', entries: [] }] }), 1000), { ok: false, reason: 'tables' })
  t.like(decodePacket(bad({ t: 'gossip', sh: [{ scope: 'cluster', h: [1, -1] }] }), 1000), { ok: false, reason: 'tables', field: 'sh[0]: hash' })
  t.like(decodePacket(bad({ t: 'gossip', sh: [{ scope: 'cluster', h: [1, 2 ** 32] }] }), 1000), { ok: false, reason: 'tables', field: 'sh[0]: hash' })
  t.like(decodePacket(bad({ t: 'gossip', sh: [{ scope: 'cluster', h: [1] }] }), 1000), { ok: false, reason: 'tables', field: 'sh[0]: hash' })
  t.like(decodePacket(bad({ t: 'gossip', sh: [{ scope: 'nope', h: [1, 2] }] }), 1000), { ok: false, reason: 'tables', field: 'sh[0]: scope' })
  t.like(decodePacket(bad({ t: 'gossip', sh: { scope: 'cluster', h: [1, 2] } }), 1000), { ok: false, reason: 'schema', field: 'sh' })
  t.like(decodePacket(bad({ t: 'gossip', sd: ['cluster', 'network:'] }), 1000), { ok: false, reason: 'tables', field: 'sd[1]' })
  t.like(decodePacket(bad({ t: 'gossip', sd: 'cluster' }), 1000), { ok: false, reason: 'schema', field: 'sd' })
  t.like(decodeRequest(bad({ t: 'push-pull', join: true, members: [{ id: 'a', addrs: [], state: 'zombie', inc: 0, restarting: false }] }), 1000), { ok: false, reason: 'schema', field: 'members[0].state' })
})

function fingerprint (n: GossipNode): string {
  return JSON.stringify({ m: n.members(0), inc: n.incarnation(), h: n.health(), r: n.tables.records(0, 'cluster'), s: n.tables.scopes() })
}

function corpus (): Uint8Array[] {
  const frames: Packet[] = [
    { t: 'ping', seq: 1, target: 'a' },
    { t: 'ack', seq: 99 },
    { t: 'nack', seq: 3 },
    { t: 'ping-req', seq: 4, target: 'c' },
    { t: 'gossip', mb: [{ k: 'alive', id: 'b', inc: 3, addrs: ['mem://b'] }, { k: 'suspect', id: 'c', inc: 1, from: 'b' }, { k: 'dead', id: 'd', inc: 1, from: 'b' }, { k: 'left', id: 'e', inc: 0 }] },
    { t: 'gossip', tb: [{ scope: 'cluster', entries: [['svc', 'k1', 'b', 5, 1, 0, { port: 80, name: 'web' }], ['svc', 'k2', 'b', 6, 2, 1, 100]] }] },
    { t: 'gossip', sh: [{ scope: 'cluster', h: [0, 4294967295] }, { scope: 'network:n1', h: [12345, 678] }] },
    { t: 'gossip', sd: ['cluster', 'network:n1'] },
    { t: 'gossip', mb: [{ k: 'alive', id: 'g', inc: 1, addrs: ['mem://g'], sig: new Uint8Array(64).fill(9) }, { k: 'left', id: 'h', inc: 2, sig: new Uint8Array(64).fill(3) }] },
    { t: 'ping', seq: 2, target: 'a', mb: [{ k: 'alive', id: 'f', inc: 0, addrs: ['mem://f'], restarting: true }], tb: [{ scope: 'network:n1', entries: [['ep', 'x', 'c', 1, 1, 0, 'v']] }] }
  ]
  return frames.map(f => encodeFrame(f))
}

function mutate (rng: Rng, src: Uint8Array): Uint8Array {
  const b = Array.from(src)
  const ops = 1 + Math.floor(rng.next() * 4)
  for (let i = 0; i < ops; i++) {
    const pos = Math.floor(rng.next() * (b.length + 1))
    switch (Math.floor(rng.next() * 5)) {
      case 0: b[pos % b.length] = (b[pos % b.length] as number) ^ (1 << Math.floor(rng.next() * 8)); break
      case 1: b[pos % b.length] = Math.floor(rng.next() * 256); break
      case 2: b.splice(pos, 0, Math.floor(rng.next() * 256)); break
      case 3: b.splice(pos, 1 + Math.floor(rng.next() * 4)); break
      case 4: b.length = Math.max(0, pos); break
    }
  }
  return new Uint8Array(b)
}

function randomFrame (rng: Rng): Uint8Array {
  const len = Math.floor(rng.next() * 200)
  const b = new Uint8Array(len)
  for (let i = 0; i < len; i++) b[i] = Math.floor(rng.next() * 256)
  if (len > 0 && rng.next() < 0.7) b[0] = constants.CODEC_VERSION
  return b
}

test('fuzz: 120,000 random and mutated frames never throw and dropped ones change no state', t => {
  const rng = createSeededRng(2024)
  const n = createNode({ id: 'a', addrs: ['mem://a'], cfg, rng: createSeededRng(1) })
  n.seed(0, ['b', 'c', 'd', 'e'].map(id => ({ id, addrs: [`mem://${id}`], state: 'alive', inc: 0, restarting: false })))
  n.start(0)
  n.set(0, 'cluster', 'svc', 'mine', { v: 1 })
  n.joinScope(0, 'network:n1')
  const base = corpus()
  let fp = fingerprint(n)
  let dropped = 0
  let accepted = 0
  const total = () => Object.values(n.stats().dropped).reduce((a, b) => a + b, 0)
  for (let i = 0; i < 120_000; i++) {
    const kind = i % 3
    const bytes = kind === 0 ? randomFrame(rng) : mutate(rng, base[Math.floor(rng.next() * base.length)] as Uint8Array)
    const before = total()
    if (kind === 2) {
      const r = n.receiveRequest(0, 'z', bytes)
      if (r.response === undefined && total() === before) t.fail('request neither answered nor counted as dropped')
    } else {
      n.receive(0, 'z', bytes)
    }
    if (total() > before) {
      dropped++
      const now = fingerprint(n)
      if (now !== fp) { t.fail(`dropped frame ${i} changed state: ${Buffer.from(bytes).toString('hex')}`); return }
    } else {
      accepted++
      fp = fingerprint(n) // a mutation can still be a well-formed message; it may change state legitimately
    }
  }
  const reasons = n.stats().dropped
  t.log({ dropped, accepted, reasons })
  t.true(dropped > 100_000)
  for (const r of ['version', 'decode', 'schema', 'empty']) t.true((reasons[r] ?? 0) > 0, `reason ${r} counted`)
})

test('frameSize is the length encodeFrame makes, at every size boundary of the packer', t => {
  const strs = ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(65_535), 'x'.repeat(65_536),
    'é', 'é'.repeat(16), 'é'.repeat(40), '€'.repeat(11), '€'.repeat(90), '😀', '😀'.repeat(20), '\ud800', 'a\udc00b', 'node-00001']
  const nums = [0, 1, 31, 32, 63, 64, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, -32, -33, -128, -129, -32_768, -32_769,
    -(2 ** 31), -(2 ** 31) - 1, 1.5, -0.25, NaN, Infinity, -Infinity, -0]
  const bytes = [0, 1, 64, 255, 256, 65_535, 65_536].map(n => new Uint8Array(n))
  const values: unknown[] = [...strs, ...nums, ...bytes, Buffer.alloc(64), true, false, null, undefined,
    [], Array.from({ length: 15 }, (_, i) => i), Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 70_000 }, () => 0),
    {}, { a: undefined }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])), { nested: [{ x: [1, 'two', null] }] },
    new Date(0), new Set([1])]
  for (const v of values) {
    const msg = { t: 'gossip', v } as unknown as Packet
    t.is(frameSize(msg), encodeFrame(msg).length, `value ${typeof v === 'string' ? `string of ${v.length}` : String(v).slice(0, 40)}`)
  }
  const p: Packet = { t: 'ping', seq: 70_000, target: 'node-00042', mb: [{ k: 'alive', id: 'c', inc: 2, addrs: ['mem://c'], sig: new Uint8Array(64) }, { k: 'suspect', id: 'd', inc: 1, from: 'c' }] }
  t.is(frameSize(p), encodeFrame(p).length)
})
