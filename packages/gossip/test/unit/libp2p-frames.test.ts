import test from 'ava'
import { createSeededRng, randInt } from '../../src/rng.js'
import { encodeFrame, FrameDecoder, type FrameEvent } from '../../src/transport/libp2p/frames.js'
import { InboundLimits } from '../../src/transport/libp2p/limits.js'

/** Split `bytes` into random chunks (seeded), including 1-byte ones. */
function chunk (bytes: Uint8Array, seed: number): Uint8Array[] {
  const rng = createSeededRng(seed)
  const out: Uint8Array[] = []
  for (let i = 0; i < bytes.byteLength;) {
    const n = 1 + randInt(rng, 300)
    out.push(bytes.subarray(i, i + n))
    i += n
  }
  return out
}

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

test('frames of every size class survive any chunking', t => {
  const rng = createSeededRng(7)
  const sizes = [0, 1, 127, 128, 129, 16_383, 16_384, 70_000]
  const payloads = sizes.map(n => Uint8Array.from({ length: n }, () => randInt(rng, 256)))
  const wire = concat(payloads.map(encodeFrame))
  for (const seed of [1, 2, 3]) {
    const d = new FrameDecoder(100_000)
    const events: FrameEvent[] = chunk(wire, seed).flatMap(c => d.push(c))
    t.deepEqual(events.map(e => e.kind === 'frame' ? e.frame : e), payloads)
    t.false(d.midFrame)
  }
})

test('an oversized frame is skipped without buffering and the next frame still decodes', t => {
  const wire = concat([encodeFrame(new Uint8Array([1])), encodeFrame(new Uint8Array(5000)), encodeFrame(new Uint8Array([2, 3]))])
  const d = new FrameDecoder(1000)
  const events = chunk(wire, 9).flatMap(c => d.push(c))
  t.deepEqual(events, [
    { kind: 'frame', frame: new Uint8Array([1]) },
    { kind: 'oversize', length: 5000 },
    { kind: 'frame', frame: new Uint8Array([2, 3]) }
  ])
})

test('a length prefix longer than 5 bytes is malformed and ends decoding', t => {
  const d = new FrameDecoder(1000)
  t.deepEqual(d.push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00])), [{ kind: 'malformed' }])
  t.deepEqual(d.push(encodeFrame(new Uint8Array([1]))), [])
  const huge = new FrameDecoder(1000)
  // 2^34: fits 5 bytes but is beyond any frame we accept
  t.deepEqual(huge.push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x40])), [{ kind: 'malformed' }])
})

test('a frame buffer grows with the bytes that arrive, never to the announced length', t => {
  const announced = 8 * 1024 * 1024
  const wire = encodeFrame(new Uint8Array(announced).fill(7))
  let held = 0
  const d = new FrameDecoder(announced, delta => { held += delta; return true })
  t.deepEqual(d.push(wire.subarray(0, 14)), [])
  t.is(d.buffered, 4096, '10 bytes of an 8 MiB frame hold the first 4 KiB buffer')
  t.is(held, 4096)
  t.deepEqual(d.push(wire.subarray(14, 100_000)), [])
  t.true(d.buffered < 2 * 100_000, 'at most twice what arrived')
  const [ev] = d.push(wire.subarray(100_000))
  t.is(ev?.kind === 'frame' ? ev.frame.byteLength : -1, announced)
  t.is(held, 0, 'a handed-out frame is given back to the budget')
})

test('a frame the budget has no room for is skipped; later frames still decode; release gives back what is held', t => {
  let held = 0
  const budget = (delta: number): boolean => {
    if (held + delta > 10_000) return false
    held += delta
    return true
  }
  const wire = concat([encodeFrame(new Uint8Array(50_000)), encodeFrame(new Uint8Array([5, 6]))])
  const d = new FrameDecoder(100_000, budget)
  const events = chunk(wire, 4).flatMap(c => d.push(c))
  t.deepEqual(events, [{ kind: 'limit', length: 50_000 }, { kind: 'frame', frame: new Uint8Array([5, 6]) }])
  t.is(held, 0)
  d.push(encodeFrame(new Uint8Array(9000)).subarray(0, 5000))
  t.true(held > 0)
  d.release()
  t.is(held, 0)
})

test('inbound limits: streams per peer and in total, buffered bytes per peer and in total', t => {
  const lim = new InboundLimits({ gossipPerPeer: 2, syncPerPeer: 2, syncTotal: 3, bufferedPerPeer: 100, bufferedTotal: 150 })
  t.is(lim.open('a', 'gossip'), undefined)
  t.is(lim.open('a', 'gossip'), undefined)
  t.is(lim.open('a', 'gossip'), 'stream-limit')
  t.is(lim.open('a', 'sync'), undefined)
  t.is(lim.open('a', 'sync'), undefined)
  t.is(lim.open('a', 'sync'), 'sync-limit', 'per peer')
  t.is(lim.open('b', 'sync'), undefined)
  t.is(lim.open('c', 'sync'), 'sync-limit', 'in total')
  lim.close('a', 'sync')
  t.is(lim.open('c', 'sync'), undefined)
  t.true(lim.buffer('a', 100))
  t.false(lim.buffer('a', 1), 'per peer')
  t.true(lim.buffer('b', 50))
  t.false(lim.buffer('c', 1), 'in total')
  t.true(lim.buffer('a', -100))
  t.true(lim.buffer('c', 1))
  t.is(lim.buffered, 51)
  t.is(lim.peakBuffered, 150)
})
