/**
 * The ring merge against a per-address oracle: random token sets (overlapping,
 * conflicting, stale) over a small network, merged in random orders and
 * groupings, always give the ring the oracle computes address by address.
 */
import test from 'ava'
import { createNodeAllocator, type RingToken } from '@scalelb/allocator'
import { createTestRng, type TestRng } from '@scalelb/test-support'

const SUBNETS = ['10.0.0.0/26', '10.0.0.64/27'] // 96 addresses, two subnets side by side
const SIZE = 96
const OWNERS = ['a', 'b', 'c', 'd']

const ip = (i: number): string => `10.0.0.${i}`

function randomTokens (rng: TestRng, n: number): RingToken[] {
  const out: RingToken[] = []
  for (let k = 0; k < n; k++) {
    const sub = rng.int(2) === 0 ? [0, 63] : [64, 95]
    const s = sub[0] + rng.int(sub[1] - sub[0] + 1)
    const e = s + rng.int(sub[1] - s + 1)
    out.push({ start: ip(s), end: ip(e), owner: rng.pick(OWNERS), version: 1 + rng.int(4) })
  }
  return out
}

/** Address by address: the highest version, ties to the lowest owner; then coalesce within each subnet. */
function oracle (tokens: RingToken[]): RingToken[] {
  const best: Array<{ owner: string, version: number } | undefined> = new Array(SIZE).fill(undefined)
  for (const t of tokens) {
    const s = Number(t.start.split('.')[3])
    const e = Number(t.end.split('.')[3])
    for (let i = s; i <= e; i++) {
      const b = best[i]
      if (b === undefined || t.version > b.version || (t.version === b.version && t.owner < b.owner)) best[i] = { owner: t.owner, version: t.version }
    }
  }
  const out: RingToken[] = []
  for (let i = 0; i < SIZE; i++) {
    const b = best[i]
    if (b === undefined) continue
    const last = out[out.length - 1]
    if (last !== undefined && Number(last.end.split('.')[3]) === i - 1 && i !== 64 && last.owner === b.owner && last.version === b.version) {
      last.end = ip(i)
    } else {
      out.push({ start: ip(i), end: ip(i), owner: b.owner, version: b.version })
    }
  }
  return out
}

test('merge equals the per-address oracle, in any order and grouping', (t) => {
  const rng = createTestRng(99)
  for (let round = 0; round < 300; round++) {
    const tokens = randomTokens(rng, 1 + rng.int(12))
    const want = oracle(tokens)
    // all at once
    const x = createNodeAllocator({ self: 'z' })
    x.addNetwork('n', SUBNETS)
    x.mergeTokens('n', tokens, 0)
    t.deepEqual(x.tokens('n'), want)
    // one by one in a shuffled order, some twice
    const y = createNodeAllocator({ self: 'z' })
    y.addNetwork('n', SUBNETS)
    const order = tokens.map((tk) => ({ tk, r: rng.next() })).sort((p, q) => p.r - q.r).map((p) => p.tk)
    for (const tk of order) y.mergeTokens('n', [tk], 0)
    y.mergeTokens('n', [rng.pick(tokens)], 0)
    t.deepEqual(y.tokens('n'), want)
    // merging whole rings of two replicas that each saw half
    const half = Math.floor(tokens.length / 2)
    const p = createNodeAllocator({ self: 'p' })
    const q = createNodeAllocator({ self: 'q' })
    p.addNetwork('n', SUBNETS)
    q.addNetwork('n', SUBNETS)
    p.mergeTokens('n', tokens.slice(0, half), 0)
    q.mergeTokens('n', tokens.slice(half), 0)
    p.mergeTokens('n', q.tokens('n'), 0)
    t.deepEqual(p.tokens('n'), want)
  }
})
