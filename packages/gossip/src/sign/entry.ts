import { createHash } from 'node:crypto'
import { pack } from 'msgpackr'
import type { NodeId, ScopeName } from '../types.js'
import { SIGNATURE_BYTES } from './keyring.js'

/*
 * What a table entry's signature covers, and the per-origin certificates
 * that let anti-entropy check many entries with one signature.
 *
 * An entry's signature covers its scope, table, key, origin, Lamport time,
 * sequence, tombstone flag and value: everything but a tombstone's age, which
 * each holder rewrites. Relays forward it unchanged.
 *
 * Verifying each entry of a large sync one by one costs ~115 µs per entry
 * here (Ed25519 verify, one core), ten times the cost of merging it. So an
 * origin also signs, per scope, a certificate: for every digest leaf where
 * it has entries, a hash over its own entries of that leaf (each entry's
 * signed bytes, in key order). A sync response carries the certificate of
 * each origin with many entries in it; the receiver hashes that origin's
 * entries of each complete leaf and, where the hash is the certified one,
 * takes them as verified: one signature per origin and a hash per entry.
 * Where it differs (the responder holds newer or fewer entries than the
 * certificate describes), each entry's own signature is checked
 * (tables/certs.ts says which signatures a response leaves out).
 */

/** Domain tag of entry signatures. */
const ENTRY_DOMAIN = 'scalelb/entry/1'
/** Domain tag of certificate signatures. */
const CERT_DOMAIN = 'scalelb/cert/1'
/** Bytes of a certified leaf hash (truncated SHA-256: second preimages stay out of reach). */
export const LEAF_HASH_BYTES = 16

/** msgpack nil: the value part of a tombstone. */
const NIL = pack(null)

/** An entry's identity and version, encoded: the first part of what its signature covers. */
export function entryHeader (scope: ScopeName, table: string, key: string, origin: NodeId, lamport: number, seq: number, deleted: boolean): Uint8Array {
  return pack([ENTRY_DOMAIN, scope, table, key, origin, lamport, seq, deleted ? 1 : 0])
}

/** The encoded value part (nil for a tombstone); the tables reuse it for the value's tag. */
export function valuePart (deleted: boolean, value: unknown): Uint8Array {
  return deleted ? NIL : pack(value)
}

/** The bytes an entry's signature covers: its header, then its value part (both msgpack, so the split is unambiguous). */
export function entryBytes (header: Uint8Array, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(header.byteLength + value.byteLength)
  out.set(header, 0)
  out.set(value, header.byteLength)
  return out
}

/**
 * One origin's certificate for one scope, on the wire:
 * `[origin, lamport, leaves, hashes, sig]` where `leaves` are the digest
 * leaves holding its entries (increasing), `hashes` their
 * {@link LEAF_HASH_BYTES}-byte hashes concatenated in that order, and
 * `lamport` the origin's clock when it signed (a newer one replaces an older).
 */
export type OriginCert = [origin: NodeId, lamport: number, leaves: number[], hashes: Uint8Array, sig: Uint8Array]

/** The bytes a certificate's signature covers. */
export function certBytes (scope: ScopeName, origin: NodeId, lamport: number, leaves: number[], hashes: Uint8Array): Uint8Array {
  return pack([CERT_DOMAIN, scope, origin, lamport, leaves, hashes])
}

/**
 * Incremental hash of one leaf's entries of one origin: feed each entry's
 * signed bytes (header, value part), in (table, key) order.
 */
export class LeafHasher {
  private readonly h = createHash('sha256')

  add (header: Uint8Array, value: Uint8Array): void {
    this.h.update(header)
    this.h.update(value)
  }

  digest (): Uint8Array {
    return new Uint8Array(this.h.digest().subarray(0, LEAF_HASH_BYTES))
  }
}

/** Order of entries inside a certified leaf. */
export function compareTableKey (at: string, ak: string, bt: string, bk: string): number {
  if (at !== bt) return at < bt ? -1 : 1
  return ak < bk ? -1 : ak > bk ? 1 : 0
}

/** Shape check of a certificate from the wire; a reason or undefined. */
export function checkCert (x: unknown, maxLeaves: number, maxOriginLength: number): string | undefined {
  if (!Array.isArray(x) || x.length !== 5) return 'cert'
  const [origin, lamport, leaves, hashes, sig] = x as unknown[]
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > maxOriginLength) return 'cert.origin'
  if (typeof lamport !== 'number' || !Number.isInteger(lamport) || lamport < 0) return 'cert.lamport'
  if (!Array.isArray(leaves) || leaves.length === 0 || leaves.length > maxLeaves) return 'cert.leaves'
  let prev = -1
  for (const l of leaves as unknown[]) {
    if (typeof l !== 'number' || !Number.isInteger(l) || l <= prev || l >= maxLeaves) return 'cert.leaves'
    prev = l
  }
  if (!(hashes instanceof Uint8Array) || hashes.byteLength !== leaves.length * LEAF_HASH_BYTES) return 'cert.hashes'
  if (!(sig instanceof Uint8Array) || sig.byteLength !== SIGNATURE_BYTES) return 'cert.sig'
  return undefined
}

/** The certified hash of `leaf`, or undefined if the certificate does not list it. */
export function certLeafHash (cert: OriginCert, leaf: number): Uint8Array | undefined {
  const leaves = cert[2]
  let lo = 0
  let hi = leaves.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const l = leaves[mid] as number
    if (l === leaf) return cert[3].subarray(mid * LEAF_HASH_BYTES, (mid + 1) * LEAF_HASH_BYTES)
    if (l < leaf) lo = mid + 1
    else hi = mid - 1
  }
  return undefined
}

/** Byte equality of two short arrays. */
export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
