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
