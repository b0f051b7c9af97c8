/**
 * Address pool of one node in one network: a sparse bitmap over the number
 * line. The space is cut into chunks of 2^POOL_CHUNK_BITS addresses; a chunk's
 * bitmap exists only while some address in it is used (allocated or cooling
 * down), so memory follows the addresses in use, never the size of the space
 * (an IPv6 /64 costs nothing until used). Next-fit: the search starts after
 * the last address handed out, so a freed address is not reused at once; on
 * top of that a released address cools down for `cooldownMs`.
 */
import { POOL_CHUNK_BITS } from './constants.js'
import type { Segment } from './ring.js'

const CHUNK_BITS = BigInt(POOL_CHUNK_BITS)
const CHUNK_SIZE = 1 << POOL_CHUNK_BITS
const CHUNK_MASK = BigInt(CHUNK_SIZE - 1)
const WORDS = CHUNK_SIZE >>> 5
const FULL = 0xffffffff

/** A range to search in: an owned segment. */
export type Span = Pick<Segment, 'start' | 'end'>

/** Sparse bitmap pool with next-fit search and reuse cooldown. */
export class Pool {
  private readonly chunks = new Map<bigint, Uint32Array>()
  private readonly chunkUsed = new Map<bigint, number>()
  /** Cooling addresses -> time their cooldown ends. */
  readonly cooling = new Map<bigint, number>()
  private coolQueue: Array<{ n: bigint, until: number }> = []
  private coolHead = 0
  /** Next-fit position: the search starts here. */
  cursor = -1n

  /** True if `n` is used (allocated or cooling). */
  has (n: bigint): boolean {
    const c = this.chunks.get(n >> CHUNK_BITS)
    if (c === undefined) return false
    const off = Number(n & CHUNK_MASK)
    return (c[off >>> 5] & (1 << (off & 31))) !== 0
  }

  /** Mark `n` used. */
  set (n: bigint): void {
    const key = n >> CHUNK_BITS
    let c = this.chunks.get(key)
    if (c === undefined) {
      c = new Uint32Array(WORDS)
      this.chunks.set(key, c)
      this.chunkUsed.set(key, 0)
    }
    const off = Number(n & CHUNK_MASK)
    const bit = 1 << (off & 31)
    if ((c[off >>> 5] & bit) === 0) {
      c[off >>> 5] |= bit
      this.chunkUsed.set(key, (this.chunkUsed.get(key) ?? 0) + 1)
    }
  }

  /** Mark `n` free (drops an empty chunk). */
  clear (n: bigint): void {
    const key = n >> CHUNK_BITS
    const c = this.chunks.get(key)
    if (c === undefined) return
    const off = Number(n & CHUNK_MASK)
    const bit = 1 << (off & 31)
    if ((c[off >>> 5] & bit) === 0) return
    c[off >>> 5] &= ~bit
    const used = (this.chunkUsed.get(key) ?? 1) - 1
    if (used === 0) {
      this.chunks.delete(key)
      this.chunkUsed.delete(key)
    } else {
      this.chunkUsed.set(key, used)
    }
  }

  /** Put `n` (already marked used) into cooldown until `until`. */
  cool (n: bigint, until: number): void {
    this.cooling.set(n, until)
    this.coolQueue.push({ n, until })
  }

  /** Drop `n` entirely (ownership lost): no cooldown, bit cleared. */
  drop (n: bigint): void {
    this.cooling.delete(n)
    this.clear(n)
  }

  /** Free addresses whose cooldown ended at `now`. */
  expire (now: number): void {
    const q = this.coolQueue
    while (this.coolHead < q.length && q[this.coolHead].until <= now) {
      const { n, until } = q[this.coolHead++]
      if (this.cooling.get(n) === until) {
        this.cooling.delete(n)
        this.clear(n)
      }
    }
    if (this.coolHead > 1024 && this.coolHead * 2 > q.length) {
      this.coolQueue = q.slice(this.coolHead)
      this.coolHead = 0
    }
  }

  /** Earliest cooldown end, or undefined. */
  nextExpiry (): number | undefined {
    let best: number | undefined
    for (const until of this.cooling.values()) if (best === undefined || until < best) best = until
    return best
  }

  /** Number of chunk bitmaps held (memory follows this). */
  get chunkCount (): number {
    return this.chunks.size
  }

  /**
   * First address, at or after the cursor (wrapping over `spans`, sorted),
   * that is not used and for which `skip` is false; undefined if none.
   */
  findFree (spans: readonly Span[], skip: (n: bigint) => boolean): bigint | undefined {
    if (spans.length === 0) return undefined
    const from = this.cursor + 1n
    let i = spans.findIndex((s) => s.end >= from)
    if (i < 0) i = 0
    for (let k = 0; k <= spans.length; k++) {
      const s = spans[(i + k) % spans.length]
      const lo = k === 0 && from > s.start ? from : s.start
      const hi = k === spans.length ? (from - 1n < s.end ? from - 1n : s.end) : s.end
      if (lo > hi) continue
      const n = this.scan(lo, hi, skip)
      if (n !== undefined) return n
    }
    return undefined
  }

  /** First free, not skipped address in `[lo, hi]`. */
  private scan (lo: bigint, hi: bigint, skip: (n: bigint) => boolean): bigint | undefined {
    let n = lo
    while (n <= hi) {
      const key = n >> CHUNK_BITS
      const c = this.chunks.get(key)
      const chunkEnd = ((key + 1n) << CHUNK_BITS) - 1n
      const stop = chunkEnd < hi ? chunkEnd : hi
      if (c === undefined) {
        while (n <= stop) {
          if (!skip(n)) return n
          n++
        }
        continue
      }
      const base = key << CHUNK_BITS
      let off = Number(n - base)
      const last = Number(stop - base)
      while (off <= last) {
        const w = c[off >>> 5]
        if (w === FULL) { off = (off | 31) + 1; continue }
        if ((w & (1 << (off & 31))) === 0) {
          const cand = base + BigInt(off)
          if (!skip(cand)) return cand
        }
        off++
      }
      n = stop + 1n
    }
    return undefined
  }

  /** Highest used address in `[lo, hi]`, or undefined. */
  highestUsed (lo: bigint, hi: bigint): bigint | undefined {
    const loKey = lo >> CHUNK_BITS
    const hiKey = hi >> CHUNK_BITS
    const keys: bigint[] = []
    if (hiKey - loKey < BigInt(this.chunks.size)) {
      for (let k = hiKey; k >= loKey; k--) if (this.chunks.has(k)) keys.push(k)
    } else {
      for (const k of this.chunks.keys()) if (k >= loKey && k <= hiKey) keys.push(k)
      keys.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))
    }
    for (const key of keys) {
      const c = this.chunks.get(key) as Uint32Array
      const base = key << CHUNK_BITS
      const from = lo > base ? Number(lo - base) : 0
      const to = hi < base + CHUNK_MASK ? Number(hi - base) : CHUNK_SIZE - 1
      for (let off = to; off >= from; off--) {
        const w = c[off >>> 5]
        if (w === 0) { off = off & ~31; continue }
        if ((w & (1 << (off & 31))) !== 0) return base + BigInt(off)
      }
    }
    return undefined
  }
}
