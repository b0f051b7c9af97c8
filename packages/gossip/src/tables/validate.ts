import { checkCert, type OriginCert } from '../sign/entry.js'
import { SIGNATURE_BYTES } from '../sign/keyring.js'
import { MAX_ID_LENGTH } from '../constants.js'
import type { ScopeName } from '../types.js'
import {
  DIGEST_LEAVES, FINE_DIGEST_BUCKETS, MAX_CERTS_PER_RESPONSE, MAX_COUNTER, MAX_ENTRIES_PER_MSG, MAX_KEY_LENGTH, MAX_NETWORK_ID_LENGTH,
  MAX_SYNC_ENTRIES, MAX_TABLE_LENGTH, MAX_VALUE_DEPTH, MAX_VALUE_NODES, MAX_VALUE_STRING_LENGTH, SCOPES_TABLE
} from './constants.js'
import { InvalidKeyError, InvalidScopeError, ReservedTableError } from './errors.js'
import type { SyncHash, SyncRequest, SyncResponse, TablesMsg, WireEntry } from './types.js'

/*
 * Validators for everything that arrives from peers. They return the typed
 * object or a reason string from a small fixed set (the node counts drops by
 * reason, so reasons are bounded label values). They never throw.
 */

const NETWORK_ID_RE = /^[A-Za-z0-9._-]+$/
const MAX_AGE_MS = 2 ** 40

/** True if `x` is a valid scope name. */
export function isScopeName (x: unknown): x is ScopeName {
  if (typeof x !== 'string') return false
  if (x === 'cluster') return true
  if (!x.startsWith('network:')) return false
  const id = x.slice(8)
  return id.length > 0 && id.length <= MAX_NETWORK_ID_LENGTH && NETWORK_ID_RE.test(id)
}

function isCounter (x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= MAX_COUNTER
}

function isPlainObject (x: object): boolean {
  const p: unknown = Object.getPrototypeOf(x)
  return p === Object.prototype || p === null
}

/**
 * Check a replicated value: null, boolean, finite number, string, Uint8Array,
 * arrays and plain objects, bounded in depth, node count and string length.
 * Returns undefined if valid, else a reason.
 */
export function checkValue (v: unknown): string | undefined {
  let nodes = 0
  const walk = (x: unknown, depth: number): string | undefined => {
    if (++nodes > MAX_VALUE_NODES) return 'too many nodes'
    if (x === null || typeof x === 'boolean') return undefined
    if (typeof x === 'number') return Number.isFinite(x) ? undefined : 'non-finite number'
    if (typeof x === 'string') return x.length <= MAX_VALUE_STRING_LENGTH ? undefined : 'string too long'
    if (typeof x !== 'object') return `type ${typeof x}`
    if (depth >= MAX_VALUE_DEPTH) return 'too deep'
    if (x instanceof Uint8Array) return x.length <= MAX_VALUE_STRING_LENGTH ? undefined : 'bytes too long'
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) {
        const r = walk(x[i], depth + 1)
        if (r !== undefined) return r
      }
      return undefined
    }
    if (!isPlainObject(x)) return 'not a plain object'
    for (const k of Object.keys(x)) {
      if (k === '__proto__') return 'reserved key'
      if (++nodes > MAX_VALUE_NODES) return 'too many nodes'
      if (k.length > MAX_VALUE_STRING_LENGTH) return 'key too long'
      const r = walk((x as Record<string, unknown>)[k], depth + 1)
      if (r !== undefined) return r
    }
    return undefined
  }
  return walk(v, 0)
}

/** Validate a table name (local or remote); undefined if valid, else a reason. */
export function checkTable (x: unknown): string | undefined {
  if (typeof x !== 'string') return 'not a string'
  if (x.length === 0) return 'empty'
  if (x.length > MAX_TABLE_LENGTH) return `longer than ${MAX_TABLE_LENGTH}`
  return undefined
}

/** Validate a key (local or remote); undefined if valid, else a reason. */
export function checkKey (x: unknown): string | undefined {
  if (typeof x !== 'string') return 'not a string'
  if (x.length === 0) return 'empty'
  if (x.length > MAX_KEY_LENGTH) return `longer than ${MAX_KEY_LENGTH}`
  return undefined
}

/** Check the address of a local write; throws InvalidScopeError, InvalidKeyError (naming `table` or `key`) or ReservedTableError. */
export function assertWritable (scope: unknown, table: unknown, key: unknown): void {
  if (!isScopeName(scope)) throw new InvalidScopeError(scope)
  const bt = checkTable(table)
  if (bt !== undefined) throw new InvalidKeyError('table', bt)
  const bk = checkKey(key)
  if (bk !== undefined) throw new InvalidKeyError('key', bk)
  if (scope === 'cluster' && table === SCOPES_TABLE) throw new ReservedTableError(String(table))
}

/** Validate one wire entry tuple; returns a reason or undefined. */
export function checkWireEntry (x: unknown): string | undefined {
  if (!Array.isArray(x)) return 'entry'
  if (checkTable(x[0]) !== undefined) return 'entry.table'
  if (checkKey(x[1]) !== undefined) return 'entry.key'
  const origin: unknown = x[2]
  if (typeof origin !== 'string' || origin.length === 0 || origin.length > MAX_ID_LENGTH) return 'entry.origin'
  if (!isCounter(x[3])) return 'entry.lamport'
  if (!isCounter(x[4])) return 'entry.seq'
  if (x.length === 8 && !(x[7] instanceof Uint8Array && x[7].byteLength === SIGNATURE_BYTES)) return 'entry.sig'
  if (x[5] === 1) {
    if (x.length !== 7 && x.length !== 8) return 'entry'
    const age: unknown = x[6]
    if (typeof age !== 'number' || !Number.isInteger(age) || age < 0 || age > MAX_AGE_MS) return 'entry.age'
    return undefined
  }
  if (x[5] !== 0) return 'entry.deleted'
  if (x.length !== 7 && x.length !== 8) return 'entry'
  if (checkValue(x[6]) !== undefined) return 'entry.value'
  return undefined
}

function checkEntries (x: unknown, max: number): string | undefined {
  if (!Array.isArray(x)) return 'entries'
  if (x.length > max) return 'entries.count'
  for (let i = 0; i < x.length; i++) {
    const r = checkWireEntry(x[i])
    if (r !== undefined) return r
  }
  return undefined
}

function isRecord (x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array)
}

/** Validate a table message from a peer: the message, or a reason. */
export function validateTablesMsg (x: unknown): TablesMsg | string {
  if (!isRecord(x)) return 'shape'
  if (!isScopeName(x.scope)) return 'scope'
  const r = checkEntries(x.entries, MAX_ENTRIES_PER_MSG)
  if (r !== undefined) return r
  return { scope: x.scope, entries: x.entries as WireEntry[] }
}

function isLeaf (x: unknown, units = DIGEST_LEAVES): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < units
}

function isLane (x: unknown): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0x3fffffff
}

/** Validate a sync request from a peer: the request, or a reason. */
export function validateSyncRequest (x: unknown): SyncRequest | string {
  if (!isRecord(x)) return 'shape'
  if (!isScopeName(x.scope)) return 'scope'
  if (x.fine !== undefined && x.fine !== true) return 'fine'
  const units = x.fine === true ? FINE_DIGEST_BUCKETS : DIGEST_LEAVES
  const d = x.digest
  if (!Array.isArray(d) || d.length % 3 !== 0 || d.length > 3 * units) return 'digest'
  let prev = -1
  for (let i = 0; i < d.length; i += 3) {
    const leaf: unknown = d[i]
    if (!isLeaf(leaf, units) || leaf <= prev || !isLane(d[i + 1]) || !isLane(d[i + 2])) return 'digest'
    prev = leaf
  }
  return x.fine === true ? { scope: x.scope, digest: d as number[], fine: true } : { scope: x.scope, digest: d as number[] }
}

/** Validate a sync hash from a peer: the hash, or a reason. */
export function validateSyncHash (x: unknown): SyncHash | string {
  if (!isRecord(x)) return 'shape'
  if (!isScopeName(x.scope)) return 'scope'
  const h = x.h
  if (!Array.isArray(h) || h.length !== 2 || !isUint32(h[0]) || !isUint32(h[1])) return 'hash'
  return { scope: x.scope, h: [h[0], h[1]] }
}

function isUint32 (x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff
}

/** Validate a sync response from a peer: the response, or a reason. */
export function validateSyncResponse (x: unknown): SyncResponse | string {
  if (!isRecord(x)) return 'shape'
  if (!isScopeName(x.scope)) return 'scope'
  if (typeof x.member !== 'boolean') return 'member'
  if (x.fine !== undefined && x.fine !== true) return 'fine'
  const units = x.fine === true ? FINE_DIGEST_BUCKETS : DIGEST_LEAVES
  const c = x.complete
  if (!Array.isArray(c) || c.length > units) return 'complete'
  let prev = -1
  for (const leaf of c as unknown[]) {
    if (!isLeaf(leaf, units) || leaf <= prev) return 'complete'
    prev = leaf
  }
  const r = checkEntries(x.entries, MAX_SYNC_ENTRIES)
  if (r !== undefined) return r
  const res: SyncResponse = { scope: x.scope, member: x.member, complete: c as number[], entries: x.entries as WireEntry[] }
  if (x.fine === true) res.fine = true
  if (x.certs !== undefined) {
    if (!Array.isArray(x.certs) || x.certs.length > MAX_CERTS_PER_RESPONSE) return 'certs'
    for (const cert of x.certs as unknown[]) {
      const bad = checkCert(cert, DIGEST_LEAVES, MAX_ID_LENGTH)
      if (bad !== undefined) return bad
    }
    res.certs = x.certs as OriginCert[]
  }
  return res
}
