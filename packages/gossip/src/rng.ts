import type { Rng } from './types.js'

/**
 * A seeded pseudo-random source (sfc32 seeded through splitmix32): same seed,
 * same sequence. Not cryptographic.
 */
export function createSeededRng (seed: number | string): Rng {
  let h = typeof seed === 'number' ? (seed >>> 0) ^ 0x9e3779b9 : hashString(seed)
  const split = (): number => {
    h = (h + 0x9e3779b9) | 0
    let z = h
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = split(); let b = split(); let c = split(); let d = split()
  return {
    next () {
      a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
      const t = (a + b) | 0
      a = b ^ (b >>> 9)
      b = (c + (c << 3)) | 0
      c = (c << 21) | (c >>> 11)
      d = (d + 1) | 0
      const r = (t + d) | 0
      c = (c + r) | 0
      return (r >>> 0) / 4294967296
    }
  }
}

/** FNV-1a of a string, 32 bits. */
export function hashString (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** Uniform integer in [0, n). */
export function randInt (rng: Rng, n: number): number {
  return Math.floor(rng.next() * n)
}

/** Fisher-Yates shuffle in place. */
export function shuffle<T> (rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randInt(rng, i + 1)
    const tmp = xs[i] as T
    xs[i] = xs[j] as T
    xs[j] = tmp
  }
  return xs
}
