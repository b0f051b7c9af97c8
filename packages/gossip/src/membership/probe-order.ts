import type { Rng } from '../types.js'

const FEISTEL_ROUNDS = 4

/** 32-bit mix (murmur3 finalizer) of `x` keyed by `k`. */
function mix (x: number, k: number): number {
  let z = (x ^ k) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * A random permutation of `[0, n)` that takes no memory per element: a
 * keyed Feistel network over the smallest even number of bits that covers
 * `n`, walking the cycle past values `>= n` (at most 4x the domain, so a few
 * steps on average). `reset` draws new keys from the RNG: one random order
 * per probe round, as memberlist's shuffle, without an array of `n` indexes
 * per node (the simulator runs 10,000 nodes that each know 10,000 members).
 */
export class ProbeOrder {
  private n = 0
  private halfBits = 1
  private mask = 1
  private readonly keys = new Uint32Array(FEISTEL_ROUNDS)
  /** Next position of the current round. */
  pos = 0

  /** Length of the current round. */
  get length (): number { return this.n }

  /** Start a new round over `[0, n)` with fresh keys. */
  reset (n: number, rng: Rng): void {
    this.n = n
    this.pos = 0
    let bits = 2
    while (2 ** bits < n) bits += 2
    this.halfBits = bits / 2
    this.mask = (1 << this.halfBits) - 1
    for (let r = 0; r < FEISTEL_ROUNDS; r++) this.keys[r] = Math.floor(rng.next() * 4294967296)
  }

  /** The element at position `i` (`0 <= i < length`) of the current round. */
  at (i: number): number {
    let x = i
    do x = this.encrypt(x)
    while (x >= this.n)
    return x
  }

  private encrypt (x: number): number {
    const h = this.halfBits; const m = this.mask
    let l = x >>> h; let r = x & m
    for (let k = 0; k < FEISTEL_ROUNDS; k++) {
      const t = l ^ (mix(r, this.keys[k] as number) & m)
      l = r
      r = t
    }
    return l * (m + 1) + r
  }
}
