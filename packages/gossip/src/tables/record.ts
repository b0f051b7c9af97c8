import { pack } from 'msgpackr'
import type { NodeId } from '../types.js'
import type { WireEntry } from './types.js'

/**
 * The stored state of one (scope, table, key): a mutable register updated in
 * place when a newer version wins, so references held by the broadcast queue
 * always carry the newest version. Kept small: the simulator holds millions.
 */
export interface Rec {
  readonly table: string
  readonly key: string
  /** Digest leaf (hash of table and key). */
  readonly leaf: number
  /** Index in its leaf's record array. */
  li: number
  value: unknown
  origin: NodeId
  lamport: number
  seq: number
  deleted: boolean
  /** Local time the delete happened (now - age on receipt); meaningful only when deleted. */
  deadAt: number
  /** Cached encoded size estimate in bytes; 0 = unknown. */
  size: number
  /** Broadcast queue tier (transmits so far), -1 if not queued. */
  q: number
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

/** Wire form of a record; `now` gives tombstones their age. */
export function toWire (r: Rec, now: number): WireEntry {
  if (r.deleted) return [r.table, r.key, r.origin, r.lamport, r.seq, 1, Math.max(0, Math.round(now - r.deadAt))]
  return [r.table, r.key, r.origin, r.lamport, r.seq, 0, r.value]
}

/** Upper bound of the age field's encoded size, used for size estimates of tombstones. */
const AGE_PLACEHOLDER = 2 ** 33

/** Encoded size estimate of a record (msgpackr), cached on the record. */
export function recSize (r: Rec): number {
  if (r.size === 0) {
    r.size = pack(r.deleted
      ? [r.table, r.key, r.origin, r.lamport, r.seq, 1, AGE_PLACEHOLDER]
      : [r.table, r.key, r.origin, r.lamport, r.seq, 0, r.value]).length
  }
  return r.size
}

/** Encoded size of a wire entry (msgpackr). */
export function wireSize (w: WireEntry): number {
  return pack(w).length
}
