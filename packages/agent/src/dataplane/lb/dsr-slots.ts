import { compareIp } from './slots.js'

/**
 * Slot-table sizes of a direct-server-return service (primes, so
 * `jhash ... mod M` spreads evenly). A service starts at the smallest that
 * gives every active backend at least {@link DSR_SLOTS_PER_BACKEND} slots and
 * only grows (never shrinks while the sandbox holds the service): a size
 * change reshuffles every flow, a change within one size moves only the
 * slots of the backends that come or go.
 */
export const DSR_TABLE_SIZES: readonly number[] = [61, 251, 1021, 4093]

/** Slots per active backend a table size must allow (balance within 1/8 of a share: one slot more or less). */
export const DSR_SLOTS_PER_BACKEND = 8

/** One backend of a slot table: its address and weight (> 0). */
export interface DsrBackend {
  ip: string
  weight: number
}

/** The table size for `n` active backends, never below `current` (the size programmed now, 0 = none). */
export function dsrTableSize (n: number, current = 0): number {
  const want = DSR_TABLE_SIZES.find((m) => m >= n * DSR_SLOTS_PER_BACKEND) ?? DSR_TABLE_SIZES[DSR_TABLE_SIZES.length - 1] as number
  return Math.max(want, current)
}

/** Each backend's share of `m` slots, proportional to weight (largest remainder, at least 1 each while they fit), in `backends`' order. */
function quotas (backends: readonly DsrBackend[], m: number): number[] {
  const total = backends.reduce((s, b) => s + b.weight, 0)
  const exact = backends.map((b) => b.weight * m / total)
  const q = exact.map((x) => Math.max(1, Math.floor(x)))
  let left = m - q.reduce((s, x) => s + x, 0)
  const order = backends.map((_, i) => i).sort((a, b) => (exact[b] as number - Math.floor(exact[b] as number)) - (exact[a] as number - Math.floor(exact[a] as number)) || a - b)
  // more than m backends would need fewer than one slot each: the last ones (by address) get none
  for (let i = q.length - 1; left < 0 && i >= 0; i--) {
    const take = Math.min(q[i] as number, -left)
    q[i] = (q[i] as number) - take
    left += take
  }
  for (let i = 0; left > 0; i = (i + 1) % order.length) {
    q[order[i] as number] = (q[order[i] as number] as number) + 1
    left--
  }
  return q
}

/**
 * The slot table (slot -> backend IP) of a direct-server-return service
 * with `backends` active, given the table programmed now (`prev`, or
 * undefined). Flows hash to a slot statelessly, so a flow keeps its backend
 * exactly while its slot does:
 *
 * - same size as `prev`: a slot keeps its backend while that backend is
 *   still active and within its quota (the first slots it holds, by index);
 *   only the slots of removed backends, and those an added backend takes
 *   from the others' surplus, change hands;
 * - a new table (or a larger size): slots dealt round-robin by address.
 *
 * Deterministic for the same `prev` and backends; empty when none is active.
 */
export function dsrSlotTable (backends: readonly DsrBackend[], prev?: readonly string[]): string[] {
  const active = [...new Map(backends.filter((b) => b.weight > 0).map((b) => [b.ip, b])).values()].sort((a, b) => compareIp(a.ip, b.ip))
  if (active.length === 0) return []
  const m = dsrTableSize(active.length, prev?.length ?? 0)
  const q = quotas(active, m)
  const quota = new Map(active.map((b, i) => [b.ip, q[i] as number]))
  const held = new Map<string, number>()
  const table = new Array<string | undefined>(m).fill(undefined)
  if (prev !== undefined && prev.length === m) {
    for (let i = 0; i < m; i++) {
      const ip = prev[i] as string
      const h = held.get(ip) ?? 0
      if (h < (quota.get(ip) ?? 0)) {
        table[i] = ip
        held.set(ip, h + 1)
      }
    }
  }
  // the free slots, in index order, to the backends below their quota, in turn
  let b = 0
  for (let i = 0; i < m; i++) {
    if (table[i] !== undefined) continue
    for (let tries = 0; tries < active.length; tries++, b = (b + 1) % active.length) {
      const ip = (active[b] as DsrBackend).ip
      const h = held.get(ip) ?? 0
      if (h < (quota.get(ip) as number)) {
        table[i] = ip
        held.set(ip, h + 1)
        b = (b + 1) % active.length
        break
      }
    }
  }
  return table as string[]
}
