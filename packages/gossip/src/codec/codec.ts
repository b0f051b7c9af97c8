import { Packr } from 'msgpackr'
import { CODEC_VERSION } from '../constants.js'
import type { Packet, RequestMsg, ResponseMsg } from './messages.js'
import { validatePacket, validateRequest, validateResponse, type Checked } from './validate.js'

// plain maps and arrays only: no records, no structured clone extensions
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, bundleStrings: false })

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
    return { ok: true, value: packr.unpack(bytes.subarray(1)) }
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
