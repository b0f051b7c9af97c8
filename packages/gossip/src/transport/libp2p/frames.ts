import { FRAME_INITIAL_BUFFER_BYTES, MAX_LENGTH_PREFIX_BYTES } from './constants.js'

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
  /** The byte budget refused room for a frame; its bytes are skipped, the stream stays usable. */
  | { kind: 'limit', length: number }
  /** The length prefix is not a valid varint; the stream cannot be resynchronised. */
  | { kind: 'malformed' }

/**
 * Incremental decoder of varint-length-prefixed frames. A frame longer than
 * `maxBytes` is skipped without being buffered (reported as `oversize`); a bad
 * prefix is reported as `malformed`, after which the decoder yields nothing more.
 *
 * Memory follows the bytes that arrived, never the length a peer announced:
 * a frame's buffer starts at most FRAME_INITIAL_BUFFER_BYTES and doubles as
 * its bytes come in (up to the announced length), so a stream that announces
 * 8 MiB and sends 10 bytes holds 10 bytes' worth of buffer, not 8 MiB.
 * Every allocation is first asked of `budget(delta)` (the bytes it adds);
 * a refusal skips the frame (reported as `limit`). What a frame held is
 * given back (negative delta) when it is handed out, skipped or `release`d.
 */
export class FrameDecoder {
  private readonly maxBytes: number
  private state: 'len' | 'body' | 'skip' | 'broken' = 'len'
  private lenValue = 0
  private lenBytes = 0
  private body: Uint8Array = new Uint8Array(0)
  private bodyOffset = 0
  /** Announced length of the frame being read. */
  private bodyLength = 0
  private skipLeft = 0

  constructor (maxBytes: number, private readonly budget: (delta: number) => boolean = () => true) {
    this.maxBytes = maxBytes
  }

  /** Give back the buffer of a frame being read (the stream ended); nothing more is decoded. */
  release (): void {
    if (this.state === 'body') this.budget(-this.body.byteLength)
    this.body = new Uint8Array(0)
    this.state = 'broken'
  }

  /** Bytes currently allocated for the frame being read (0 between frames). */
  get buffered (): number {
    return this.state === 'body' ? this.body.byteLength : 0
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
        } else if (!this.budget(Math.min(len, FRAME_INITIAL_BUFFER_BYTES))) {
          out.push({ kind: 'limit', length: len })
          this.skipLeft = len
          this.state = 'skip'
        } else {
          this.bodyLength = len
          this.body = new Uint8Array(Math.min(len, FRAME_INITIAL_BUFFER_BYTES))
          this.bodyOffset = 0
          this.state = 'body'
        }
      } else if (this.state === 'skip') {
        const n = Math.min(this.skipLeft, chunk.byteLength - i)
        i += n
        this.skipLeft -= n
        if (this.skipLeft === 0) this.state = 'len'
      } else {
        const len = this.bodyLength
        const n = Math.min(len - this.bodyOffset, chunk.byteLength - i)
        if (this.bodyOffset + n > this.body.byteLength && !this.grow(this.bodyOffset + n, len)) {
          out.push({ kind: 'limit', length: len })
          this.budget(-this.body.byteLength)
          this.body = new Uint8Array(0)
          this.skipLeft = len - this.bodyOffset
          this.state = 'skip'
          continue
        }
        this.body.set(chunk.subarray(i, i + n), this.bodyOffset)
        i += n
        this.bodyOffset += n
        if (this.bodyOffset === len) {
          this.budget(-this.body.byteLength)
          out.push({ kind: 'frame', frame: this.body })
          this.body = new Uint8Array(0)
          this.state = 'len'
        }
      }
    }
    return out
  }

  /** Make room for `need` bytes of a frame of `len`: double, at most to `len`; false if the budget says no. */
  private grow (need: number, len: number): boolean {
    const size = Math.min(len, Math.max(need, 2 * this.body.byteLength))
    if (!this.budget(size - this.body.byteLength)) return false
    const next = new Uint8Array(size)
    next.set(this.body.subarray(0, this.bodyOffset))
    this.body = next
    return true
  }
}

/** Stream payloads arrive as one buffer or as a list of buffers. */
export function chunksOf (data: Uint8Array | Iterable<Uint8Array>): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data
}
