/**
 * Non-cryptographic string hashes for the bucketed digest. Digest values are
 * 30-bit so they stay small integers in V8 and in msgpack.
 */

const MASK30 = 0x3fffffff

/** Running state of the two-lane hash (cyrb53-style mixing). */
interface Lanes { a: number, b: number }

function mixString (s: string, st: Lanes): void {
  let a = st.a
  let b = st.b
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = Math.imul(a ^ c, 2654435761)
    b = Math.imul(b ^ c, 1597334677)
  }
  // separator so ("ab","c") and ("a","bc") differ
  a = Math.imul(a ^ 0x1f, 2654435761)
  b = Math.imul(b ^ 0x1f, 1597334677)
  st.a = a
  st.b = b
}

function mixNumber (n: number, st: Lanes): void {
  const lo = n >>> 0
  const hi = Math.floor(n / 4294967296) >>> 0
  st.a = Math.imul(st.a ^ lo, 2654435761)
  st.b = Math.imul(st.b ^ lo, 1597334677)
  st.a = Math.imul(st.a ^ hi, 2654435761)
  st.b = Math.imul(st.b ^ hi, 1597334677)
}

function finish (st: Lanes): void {
  let a = st.a
  let b = st.b
  a = Math.imul(a ^ (a >>> 16), 2246822507) ^ Math.imul(b ^ (b >>> 13), 3266489909)
  b = Math.imul(b ^ (b >>> 16), 2246822507) ^ Math.imul(a ^ (a >>> 13), 3266489909)
  st.a = a
  st.b = b
}

/** Digest leaf of a (table, key): FNV-1a, masked to `leaves` (a power of two). */
export function leafOf (table: string, key: string, leaves: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < table.length; i++) {
    h = Math.imul(h ^ table.charCodeAt(i), 0x01000193)
  }
  h = Math.imul(h ^ 0, 0x01000193)
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  }
  h ^= h >>> 15
  return (h >>> 0) & (leaves - 1)
}

/**
 * Content hash of one record version as two 30-bit lanes, written into `out`
 * (avoids an allocation per call).
 */
export function versionHash (table: string, key: string, origin: string, lamport: number, seq: number, deleted: boolean, vt: number, out: Lanes): void {
  out.a = 0xdeadbeef
  out.b = 0x41c6ce57
  mixString(table, out)
  mixString(key, out)
  mixString(origin, out)
  mixNumber(lamport, out)
  mixNumber(seq, out)
  mixNumber(deleted ? 1 : 0, out)
  mixNumber(vt, out)
  finish(out)
  out.a &= MASK30
  out.b &= MASK30
}

export type { Lanes }
