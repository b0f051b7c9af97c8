import { createSeededRng } from '@scalelb/gossip'

/** A seeded RNG with the draws tests need: same seed, same run. */
export interface TestRng {
  /** Uniform in [0, 1). */
  next(): number
  /** Integer in [0, n). */
  int(n: number): number
  /** One element of a non-empty array. */
  pick<T>(a: readonly T[]): T
}

/** Gossip's `createSeededRng` (the project's one seeded RNG) with `int` and `pick`. */
export function createTestRng (seed: number | string): TestRng {
  const rng = createSeededRng(seed)
  const int = (n: number): number => Math.floor(rng.next() * n)
  return {
    next: () => rng.next(),
    int,
    pick: <T>(a: readonly T[]): T => {
      if (a.length === 0) throw new RangeError('pick: empty array')
      return a[int(a.length)] as T
    }
  }
}
