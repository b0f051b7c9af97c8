import { ipBytes } from '../kernel/rtnl-lib.js'
import { MAX_SLOTS_PER_SERVICE } from '../spec/constants.js'
import type { BackendSpec } from '../spec/types.js'

/** Slots of one backend (its share of `numgen random mod total`). */
export interface BackendSlots {
  ip: string
  slots: number
}

/**
 * Slots of each backend: its weight (draining or weight 0 = no slot),
 * scaled down proportionally (at least 1 each) when the total would exceed
 * `maxSlots`. Deterministic: sorted by IP, duplicates merged, so the same
 * backends always give the same slot table (adoption after a restart finds
 * nothing to change).
 */
export function assignSlots (backends: readonly BackendSpec[], maxSlots: number = MAX_SLOTS_PER_SERVICE): BackendSlots[] {
  const byIp = new Map<string, number>()
  for (const b of backends) {
    if (b.draining || b.weight <= 0) continue
    byIp.set(b.ip, Math.max(byIp.get(b.ip) ?? 0, b.weight))
  }
  const active = [...byIp.entries()].map(e => [ipSortKey(e[0]), e] as const).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0).map(x => x[1])
  const total = active.reduce((s, [, w]) => s + w, 0)
  if (active.length > maxSlots) {
    // more backends than slots: the first maxSlots (by IP) get one each
    return active.slice(0, maxSlots).map(([ip]) => ({ ip, slots: 1 }))
  }
  if (total <= maxSlots) return active.map(([ip, w]) => ({ ip, slots: w }))
  // largest remainder, with a floor of 1 slot per backend
  const spare = maxSlots - active.length
  const extraTotal = total - active.length
  const shares = active.map(([ip, w]) => {
    const exact = (w - 1) * spare / extraTotal
    return { ip, slots: 1 + Math.floor(exact), rem: exact - Math.floor(exact) }
  })
  let left = maxSlots - shares.reduce((s, x) => s + x.slots, 0)
  const order = shares.map((_, i) => i).sort((a, b) => shares[b].rem - shares[a].rem || a - b)
  for (const i of order) {
    if (left <= 0) break
    shares[i].slots++
    left--
  }
  return shares.map(({ ip, slots }) => ({ ip, slots }))
}

/** An IPv4 address as a number (for sorting). */
export function ipNumber (ip: string): number {
  let n = 0
  let part = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 46) {
      n = n * 256 + part
      part = 0
    } else part = part * 10 + c - 48
  }
  return n * 256 + part
}

/** A key whose order is numeric address order: IPv4 addresses (as numbers) before IPv6 ones (as expanded text). */
export function ipSortKey (ip: string): number | string {
  // IPv6 as 32 hex digits (numeric order is string order), an embedded IPv4 tail (::ffff:a.b.c.d) included
  return ip.includes(':') ? ipBytes(ip).toString('hex') : ipNumber(ip)
}

/** Numeric address order (IPv4 before IPv6). */
export function compareIp (a: string, b: string): number {
  const x = ipSortKey(a)
  const y = ipSortKey(b)
  if (typeof x === 'number' && typeof y === 'number') return x - y
  if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1
  return x < y ? -1 : x > y ? 1 : 0
}
