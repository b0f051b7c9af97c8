import test from 'ava'
import { createSeededRng, randInt } from '../src/rng.js'
import { encodeFrame, FrameDecoder, type FrameEvent } from '../src/transport/libp2p/frames.js'

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
