import { pack } from 'msgpackr'
import type { NodeId } from '../types.js'
import type { WireEntry } from './types.js'

/**
 * One version of one (scope, table, key) as stored: its version fields never
 * change once it is stored (a newer version is a new record, which replaces
 * it in the store), so one record can be held by many nodes' stores (the
 * simulator shares a version among the replicas that received it, instead of
 * a copy per node). Kept small: the simulator holds millions.
 */
export interface Rec {
  readonly table: string
  readonly key: string
  /** Digest leaf (hash of table and key). */
  readonly leaf: number
  /** Index in its leaf's record array of the store that made it: a hint (a shared record sits elsewhere in other stores). */
  li: number
  readonly value: unknown
  readonly origin: NodeId
  readonly lamport: number
  readonly seq: number
  readonly deleted: boolean
  /**
   * Local time the delete happened (now - age on receipt); undefined for a
   * live record (tombstones are never shared). Not a number there: a time
   * such as Date.now() is no small integer, so a number field would make V8
   * box it in a heap number of its own per record (16 bytes each, 1.7 MiB per
   * 110k records, bench:memory).
   */
  readonly deadAt: number | undefined
  /** Value tag (hash of the encoded value, 0 for tombstones): breaks exact version ties. */
  readonly vt: number
  /** Cached encoded size estimate in bytes; 0 = unknown. */
  size: number
  /** The owner's signature of this version (sign/entry.ts); undefined in unsigned tables. */
  readonly sig: Uint8Array | undefined
}

/** Map key of (table, key) inside a scope. */
export function compositeKey (table: string, key: string): string {
  return table + '\u0000' + key
}

/**
 * Order two versions: (lamport, origin) decides (LWW); seq and then the
 * tombstone flag only break exact ties, which only a confused origin makes.
 * Positive if a is newer.
 */
export function compareVersion (aLamport: number, aOrigin: string, aSeq: number, aDeleted: boolean,
  bLamport: number, bOrigin: string, bSeq: number, bDeleted: boolean): number {
  if (aLamport !== bLamport) return aLamport - bLamport
  if (aOrigin !== bOrigin) return aOrigin > bOrigin ? 1 : -1
  if (aSeq !== bSeq) return aSeq - bSeq
  if (aDeleted !== bDeleted) return aDeleted ? 1 : -1
  return 0
}

/**
 * 30-bit hash of a value's msgpack encoding. Two writes with the same
 * (lamport, origin, seq) but different values happen when an origin restarts
 * without its state; the tag makes every replica pick the same one, and puts
 * the value into the digest so anti-entropy sees the difference.
 */
export function valueTag (value: unknown): number {
  return tagOfBytes(pack(value))
}

/** {@link valueTag} of a value already encoded. */
export function tagOfBytes (bytes: Uint8Array): number {
  let h = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193)
  h ^= h >>> 15
  return (h >>> 0) & 0x3fffffff
}

/** Order a stored record against a wire entry: version first, then the value tag on an exact tie. Positive if the record is newer. */
export function compareRecWire (r: Rec, w: WireEntry): number {
  const deleted = w[5] === 1
  const c = compareVersion(r.lamport, r.origin, r.seq, r.deleted, w[3], w[2], w[4], deleted)
  // the same value object (replicas in one process) encodes the same: no need to encode it again
  if (c !== 0 || deleted || r.value === w[6]) return c
  return r.vt - valueTag(w[6])
}

/** When a tombstone was deleted (local time); 0 for a live record. */
export function deadAtOf (r: Rec): number {
  return r.deadAt ?? 0
}

/** Wire form of a record; `now` gives tombstones their age. */
export function toWire (r: Rec, now: number): WireEntry {
  const w: WireEntry = r.deleted
    ? [r.table, r.key, r.origin, r.lamport, r.seq, 1, Math.max(0, Math.round(now - deadAtOf(r)))]
    : [r.table, r.key, r.origin, r.lamport, r.seq, 0, r.value]
  if (r.sig !== undefined) w.push(r.sig)
  return w
}

/** Encoded size of a signature (msgpack bin 8 header + 64 bytes). */
export const SIG_WIRE_BYTES = 66

/** Upper bound of the age field's encoded size, used for size estimates of tombstones. */
const AGE_PLACEHOLDER = 2 ** 33

/** Encoded size estimate of a record (msgpackr), cached on the record. */
export function recSize (r: Rec): number {
  if (r.size === 0) {
    r.size = pack(r.deleted
      ? [r.table, r.key, r.origin, r.lamport, r.seq, 1, AGE_PLACEHOLDER]
      : [r.table, r.key, r.origin, r.lamport, r.seq, 0, r.value]).length + (r.sig === undefined ? 0 : SIG_WIRE_BYTES)
  }
  return r.size
}

/** Encoded size of a wire entry (msgpackr). */
export function wireSize (w: WireEntry): number {
  return pack(w).length
}
