import { MAX_LENGTH_PREFIX_BYTES } from './constants.js'

/** Largest length a prefix may announce (bytes); longer ones are malformed. */
const MAX_FRAME_LENGTH = 2 ** 31 - 1

/** Prefix `payload` with its length as an unsigned LEB128 varint. */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  let n = payload.byteLength
  let prefixLen = 1
  for (let v = n; v >= 0x80; v = Math.floor(v / 128)) prefixLen++
  const out = new Uint8Array(prefixLen + n)
  let i = 0
  while (n >= 0x80) {
    out[i++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  out[i++] = n
  out.set(payload, i)
  return out
}

/** What the decoder found in the bytes pushed into it. */
export type FrameEvent =
  | { kind: 'frame', frame: Uint8Array }
  /** A frame longer than the limit; its bytes are skipped, the stream stays usable. */
  | { kind: 'oversize', length: number }
  /** The length prefix is not a valid varint; the stream cannot be resynchronised. */
  | { kind: 'malformed' }

/**
 * Incremental decoder of varint-length-prefixed frames. A frame longer than
 * `maxBytes` is skipped without being buffered (reported as `oversize`); a bad
 * prefix is reported as `malformed`, after which the decoder yields nothing more.
 */
export class FrameDecoder {
  private readonly maxBytes: number
  private state: 'len' | 'body' | 'skip' | 'broken' = 'len'
  private lenValue = 0
  private lenBytes = 0
  private body: Uint8Array = new Uint8Array(0)
  private bodyOffset = 0
  private skipLeft = 0

  constructor (maxBytes: number) {
    this.maxBytes = maxBytes
  }

  /** True while part of a frame has been read. */
  get midFrame (): boolean {
    return this.state === 'body' || this.state === 'skip' || this.lenBytes > 0
  }

  /** Feed bytes; returns the frames (and problems) completed by them. */
  push (chunk: Uint8Array): FrameEvent[] {
    const out: FrameEvent[] = []
    let i = 0
    while (i < chunk.byteLength && this.state !== 'broken') {
      if (this.state === 'len') {
        const b = chunk[i++] as number
        this.lenValue += (b & 0x7f) * 2 ** (7 * this.lenBytes)
        this.lenBytes++
        if ((b & 0x80) !== 0) {
          if (this.lenBytes >= MAX_LENGTH_PREFIX_BYTES) {
            this.state = 'broken'
            out.push({ kind: 'malformed' })
          }
          continue
        }
        const len = this.lenValue
        this.lenValue = 0
        this.lenBytes = 0
        if (len > MAX_FRAME_LENGTH) {
          this.state = 'broken'
          out.push({ kind: 'malformed' })
        } else if (len > this.maxBytes) {
          out.push({ kind: 'oversize', length: len })
          this.skipLeft = len
          this.state = 'skip'
        } else if (len === 0) {
          out.push({ kind: 'frame', frame: new Uint8Array(0) })
        } else {
          this.body = new Uint8Array(len)
          this.bodyOffset = 0
          this.state = 'body'
        }
      } else if (this.state === 'skip') {
        const n = Math.min(this.skipLeft, chunk.byteLength - i)
        i += n
        this.skipLeft -= n
        if (this.skipLeft === 0) this.state = 'len'
      } else {
        const n = Math.min(this.body.byteLength - this.bodyOffset, chunk.byteLength - i)
        this.body.set(chunk.subarray(i, i + n), this.bodyOffset)
        i += n
        this.bodyOffset += n
        if (this.bodyOffset === this.body.byteLength) {
          out.push({ kind: 'frame', frame: this.body })
          this.body = new Uint8Array(0)
          this.state = 'len'
        }
      }
    }
    return out
  }
}

/** Stream payloads arrive as one buffer or as a list of buffers. */
export function chunksOf (data: Uint8Array | Iterable<Uint8Array>): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data
}
