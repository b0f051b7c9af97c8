import { createRequire } from 'node:module'
import { Packr, type Unpackr as UnpackrClass } from 'msgpackr'
import { CODEC_VERSION } from '../constants.js'
import type { Packet, RequestMsg, ResponseMsg } from './messages.js'
import { validatePacket, validateRequest, validateResponse, type Checked } from './validate.js'

// plain maps and arrays only: no records, no structured clone extensions
const OPTIONS = { useRecords: false, moreTypes: false, mapsAsObjects: true, bundleStrings: false }
const packr = new Packr(OPTIONS)
/*
 * Frames are decoded by msgpackr's JavaScript-only decoder. The main build
 * decodes strings with its native addon (msgpackr-extract), which returns
 * a frame's adjacent strings as one string and slices it: every key, node id
 * and MAC an entry keeps was then a slice holding the whole frame's string
 * data alive, ~0.2 KiB per stored entry (bench:memory, packages/agent/README.md).
 * The JavaScript decoder makes each string its own; decoding takes ~2 us more
 * per entry (4.3 against 2.0), a fraction of an entry's merge.
 */
const jsOnly = createRequire(import.meta.url)('msgpackr/unpack-no-eval') as { Unpackr: typeof UnpackrClass }
const unpackr = new jsOnly.Unpackr(OPTIONS)

/** Encode a message: version byte, then msgpack. */
export function encodeFrame (msg: Packet | RequestMsg | ResponseMsg): Uint8Array {
  const body = packr.pack(msg)
  const out = new Uint8Array(body.length + 1)
  out[0] = CODEC_VERSION
  out.set(body, 1)
  return out
}

/**
 * Encoded length of `encodeFrame(msg)` without encoding it (the simulator
 * counts bytes of millions of messages): a walk that follows the packer's
 * rules for the shapes messages are made of (plain objects as map16, arrays,
 * strings, numbers, booleans, null, undefined, byte arrays); anything else
 * is measured by packing it.
 */
export function frameSize (msg: Packet | RequestMsg | ResponseMsg, known?: WeakMap<object, number>): number {
  return 1 + packedSize(msg, known)
}

/**
 * Encoded length of one value as part of a frame (what frameSize adds for
 * it). `known`: sizes of objects measured before (values that never change
 * and that many messages carry: the simulator's shared records), looked up
 * before an array or object is walked.
 */
export function packedSize (v: unknown, known?: WeakMap<object, number>): number {
  switch (typeof v) {
    case 'string': return strSize(v)
    case 'number': return numSize(v)
    case 'boolean': return 1
    case 'undefined': return 3
    case 'object': {
      if (v === null) return 1
      const c = v.constructor
      if (c === Array) {
        const a = v as unknown[]
        const k = known?.get(a)
        if (k !== undefined) return k
        let n = a.length < 0x10 ? 1 : a.length < 0x10000 ? 3 : 5
        for (let i = 0; i < a.length; i++) n += packedSize(a[i], known)
        return n
      }
      if (c === Object) {
        const k = known?.get(v)
        if (k !== undefined) return k
        // the packer writes plain objects as map16 (3-byte header) over their own enumerable keys
        let n = 3
        const o = v as Record<string, unknown>
        for (const k in o) if (Object.hasOwn(o, k)) n += strSize(k) + packedSize(o[k], known)
        return n
      }
      if (c === Uint8Array || c === Buffer) {
        const len = (v as Uint8Array).byteLength
        return len + (len < 0x100 ? 2 : len < 0x10000 ? 3 : 5)
      }
    }
  }
  return packr.pack(v).length
}

function numSize (x: number): number {
  if (x >>> 0 === x) return x < 0x80 ? 1 : x < 0x100 ? 2 : x < 0x10000 ? 3 : 5
  if (x >> 0 === x) return x >= -0x20 ? 1 : x >= -0x80 ? 2 : x >= -0x8000 ? 3 : 5
  return 9
}

function strSize (s: string): number {
  let len = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) len++
    else if (c < 0x800) len += 2
    else if ((c & 0xfc00) === 0xd800 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { len += 4; i++ } else len += 3
  }
  return len + (len < 0x20 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5)
}

function decodeBody (bytes: Uint8Array, maxBytes: number): Checked<unknown> {
  if (bytes.length > maxBytes) return { ok: false, reason: 'size', field: 'frame' }
  if (bytes.length < 2) return { ok: false, reason: 'empty', field: 'frame' }
  if (bytes[0] !== CODEC_VERSION) return { ok: false, reason: 'version', field: 'version' }
  try {
    return { ok: true, value: unpackr.unpack(bytes.subarray(1)) }
  } catch {
    return { ok: false, reason: 'decode', field: 'frame' }
  }
}

/** Decode and validate a datagram frame; never throws. */
export function decodePacket (bytes: Uint8Array, maxBytes: number): Checked<Packet> {
  const r = decodeBody(bytes, maxBytes)
  return r.ok ? validatePacket(r.value) : r
}

/** Decode and validate a request frame; never throws. */
export function decodeRequest (bytes: Uint8Array, maxBytes: number): Checked<RequestMsg> {
  const r = decodeBody(bytes, maxBytes)
  return r.ok ? validateRequest(r.value) : r
}

/** Decode and validate a response frame; never throws. */
export function decodeResponse (bytes: Uint8Array, maxBytes: number): Checked<ResponseMsg> {
  const r = decodeBody(bytes, maxBytes)
  return r.ok ? validateResponse(r.value) : r
}
