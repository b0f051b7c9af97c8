/**
 * Allocator benchmark: allocations/s and releases/s in an IPv4 /16 and an
 * IPv6 /64, bytes of memory per owned / allocated address, and the time to
 * merge a ring of 1,000 tokens. Prints a table, then the BENCH.md JSON line.
 * Run: npm run bench:alloc [-- --rounds N]
 */
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createNodeAllocator, type NodeAllocator, type RingToken } from '@scalelb/allocator'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } } })
const rounds = Number(values.rounds)
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
  console.error(`--rounds must be an integer 1..100, got ${values.rounds}`)
  process.exit(2)
}

const gc = (globalThis as { gc?: () => void }).gc
function heap (): number {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

interface FillResult { allocPerS: number, releasePerS: number, bytesPerAllocated: number, bytesPerOwned: number }

/** Allocate `count` addresses of a fresh network, then release them all. */
function fill (subnet: string, count: number, ownedAddresses: number): FillResult {
  const base = heap()
  const a = createNodeAllocator({ self: 'bench', reuseCooldownMs: 60_000 })
  a.createNetwork('n', [subnet], 0)
  const ips: string[] = new Array<string>(count)
  const t0 = performance.now()
  for (let i = 0; i < count; i++) ips[i] = a.allocate('n', 'task', 0)
  const t1 = performance.now()
  const full = heap() - base
  // the address strings are the caller's; count only the allocator's share
  const stringsOnly = measureStrings(ips)
  const t2 = performance.now()
  for (let i = 0; i < count; i++) a.release('n', ips[i], 1)
  const t3 = performance.now()
  keep(a)
  return {
    allocPerS: count / ((t1 - t0) / 1000),
    releasePerS: count / ((t3 - t2) / 1000),
    bytesPerAllocated: (full - stringsOnly) / count,
    bytesPerOwned: (full - stringsOnly) / ownedAddresses
  }
}

function measureStrings (ips: string[]): number {
  const before = heap()
  const copy = ips.map((s) => `${s} `.trimEnd())
  const after = heap()
  keep(copy)
  return after - before
}

let sink: unknown
function keep (x: unknown): void { sink = x }

/** A ring of `n` tokens: one creator donating n-1 blocks to n-1 nodes. */
function ringOf (n: number): { tokens: RingToken[], donor: NodeAllocator } {
  const donor = createNodeAllocator({ self: 'node-0000' })
  donor.createNetwork('n', ['10.0.0.0/16'], 0)
  for (let i = 1; i < n; i++) donor.donate('n', `node-${String(i).padStart(4, '0')}`, 0)
  return { tokens: donor.tokens('n'), donor }
}

function mergeTimes (tokens: RingToken[]): { coldMs: number, noopMs: number, churnMs: number } {
  const cold: number[] = []
  const noop: number[] = []
  const churn: number[] = []
  // the same ring with every 10th token rewritten at a higher version (another node's donations)
  const bumped = tokens.map((t, i) => (i % 10 === 5 ? { ...t, version: t.version + 1 } : t))
  for (let r = 0; r < rounds; r++) {
    const b = createNodeAllocator({ self: 'node-9999' })
    b.addNetwork('n', ['10.0.0.0/16'])
    let t0 = performance.now()
    b.mergeTokens('n', tokens, 0)
    cold.push(performance.now() - t0)
    t0 = performance.now()
    b.mergeTokens('n', tokens, 0)
    noop.push(performance.now() - t0)
    t0 = performance.now()
    b.mergeTokens('n', bumped, 0)
    churn.push(performance.now() - t0)
  }
  return { coldMs: median(cold), noopMs: median(noop), churnMs: median(churn) }
}

// warm up the JIT on a small network
fill('10.9.0.0/22', 1000, 1024)
mergeTimes(ringOf(50).tokens)

const V4_COUNT = 65_534
const V6_COUNT = 65_536
const v4s: FillResult[] = []
const v6s: FillResult[] = []
for (let r = 0; r < rounds; r++) {
  v4s.push(fill('10.0.0.0/16', V4_COUNT, 65_536))
  v6s.push(fill('2001:db8::/64', V6_COUNT, 2 ** 64))
}
const pick = (xs: FillResult[], k: keyof FillResult): number => median(xs.map((x) => x[k]))
const ring = ringOf(1000)
const merge = mergeTimes(ring.tokens)

const results = {
  v4_16_alloc_per_s: Math.round(pick(v4s, 'allocPerS')),
  v4_16_release_per_s: Math.round(pick(v4s, 'releasePerS')),
  v4_16_bytes_per_owned_address_full: round2(pick(v4s, 'bytesPerOwned')),
  v6_64_alloc_per_s: Math.round(pick(v6s, 'allocPerS')),
  v6_64_release_per_s: Math.round(pick(v6s, 'releasePerS')),
  v6_64_bytes_per_allocated_address: round2(pick(v6s, 'bytesPerAllocated')),
  v6_64_bytes_per_owned_address: pick(v6s, 'bytesPerOwned'),
  ring_tokens: ring.tokens.length,
  merge_1000_tokens_cold_ms: round2(merge.coldMs),
  merge_1000_tokens_noop_ms: round2(merge.noopMs),
  merge_1000_tokens_10pct_changed_ms: round2(merge.churnMs)
}

function round2 (x: number): number {
  return Math.round(x * 100) / 100
}

const rows: Array<[string, string]> = [
  ['IPv4 /16: allocations/s', results.v4_16_alloc_per_s.toLocaleString('en-US')],
  ['IPv4 /16: releases/s', results.v4_16_release_per_s.toLocaleString('en-US')],
  ['IPv4 /16: bytes per owned address (all allocated)', String(results.v4_16_bytes_per_owned_address_full)],
  ['IPv6 /64: allocations/s', results.v6_64_alloc_per_s.toLocaleString('en-US')],
  ['IPv6 /64: releases/s', results.v6_64_release_per_s.toLocaleString('en-US')],
  ['IPv6 /64: bytes per allocated address', String(results.v6_64_bytes_per_allocated_address)],
  ['IPv6 /64: bytes per owned address', results.v6_64_bytes_per_owned_address.toExponential(2)],
  [`merge a ring of ${results.ring_tokens} tokens into an empty ring (ms)`, String(results.merge_1000_tokens_cold_ms)],
  [`merge the same ${results.ring_tokens} tokens again, no change (ms)`, String(results.merge_1000_tokens_noop_ms)],
  [`merge ${results.ring_tokens} tokens, 10% at a newer version (ms)`, String(results.merge_1000_tokens_10pct_changed_ms)]
]
const w = Math.max(...rows.map(([k]) => k.length))
console.log(`allocator benchmark: median of ${rounds} rounds, ${V4_COUNT} IPv4 / ${V6_COUNT} IPv6 addresses per round${gc === undefined ? ' (no --expose-gc: memory figures are rough)' : ''}`)
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v.padStart(12)}`)
keep(sink)
console.log(JSON.stringify({
  bench: 'alloc',
  params: { rounds, v4_subnet: '/16', v4_addresses: V4_COUNT, v6_subnet: '/64', v6_addresses: V6_COUNT, ring_tokens: results.ring_tokens, reuse_cooldown_ms: 60_000 },
  results,
  env: { node: process.version, cpus: cpus().length }
}))
