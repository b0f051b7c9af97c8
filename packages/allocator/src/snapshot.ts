/**
 * Snapshot container: 4-byte magic `SLBA`, 1-byte format version, 4-byte
 * CRC-32 (big endian) of the payload, then the msgpackr payload. Truncation
 * and bit rot fail the checksum, other files fail the magic, and a newer or
 * older format fails the version: each is a typed error, and nothing is
 * loaded unless all of it is valid.
 */
import { Packr } from 'msgpackr'
import { SNAPSHOT_FORMAT_VERSION } from './constants.js'
import { CorruptSnapshotError, ForeignSnapshotError } from './errors.js'
import type { AddressKind, RingToken } from './types.js'

const MAGIC = [0x53, 0x4c, 0x42, 0x41] // "SLBA"
const HEADER_BYTES = 9

/** One network in a snapshot (plain data). */
export interface NetworkSnapshot {
  /** Network ID. */
  id: string
  /** Canonical CIDRs. */
  subnets: string[]
  /** The ring. */
  tokens: RingToken[]
  /** Allocations: address, kind, owner label. */
  allocs: Array<[string, AddressKind, string | null]>
  /** Cooling addresses and when their cooldown ends (ms). */
  cooling: Array<[string, number]>
  /** Next-fit position. */
  cursor: string | null
  /** Local task keys. */
  localTasks: string[]
  /** LB IP. */
  lbIp: string | null
  /** Pending LB IP release (ms). */
  lbReleaseAt: number | null
  /** IPv6 LB IP of a dual-stack network (absent in snapshots of older versions). */
  lbIp6?: string | null
}

/** Whole snapshot (plain data). */
export interface SnapshotData {
  /** The node the snapshot belongs to. */
  self: string
  /** Its networks. */
  networks: NetworkSnapshot[]
}

const CRC_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

/** CRC-32 (IEEE) of `bytes`. */
export function crc32 (bytes: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** Encode a snapshot. */
export function encodeSnapshot (data: SnapshotData): Uint8Array {
  const payload = new Packr({ useRecords: false }).pack(data)
  const out = new Uint8Array(HEADER_BYTES + payload.length)
  out.set(MAGIC, 0)
  out[4] = SNAPSHOT_FORMAT_VERSION
  new DataView(out.buffer).setUint32(5, crc32(payload))
  out.set(payload, HEADER_BYTES)
  return out
}

/**
 * Decode and shape-check a snapshot (semantic checks follow in the restore).
 * @throws ForeignSnapshotError | CorruptSnapshotError
 */
export function decodeSnapshot (bytes: unknown): SnapshotData {
  if (!(bytes instanceof Uint8Array)) throw new ForeignSnapshotError('snapshot is not a byte array')
  if (bytes.length < HEADER_BYTES) {
    if (bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b)) throw new CorruptSnapshotError(`snapshot truncated: ${bytes.length} bytes`)
    throw new ForeignSnapshotError(`not an allocator snapshot (${bytes.length} bytes)`)
  }
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw new ForeignSnapshotError('not an allocator snapshot (bad magic)')
  if (bytes[4] !== SNAPSHOT_FORMAT_VERSION) {
    throw new ForeignSnapshotError(`snapshot format version ${bytes[4]} is not supported (want ${SNAPSHOT_FORMAT_VERSION})`)
  }
  const want = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5)
  const payload = bytes.subarray(HEADER_BYTES)
  if (crc32(payload) !== want) throw new CorruptSnapshotError('snapshot checksum mismatch (truncated or corrupt)')
  let data: unknown
  try {
    data = new Packr({ useRecords: false }).unpack(payload)
  } catch (err) {
    throw new CorruptSnapshotError(`snapshot payload does not decode: ${(err as Error).message}`)
  }
  return checkShape(data)
}

function fail (field: string, what: string): never {
  throw new CorruptSnapshotError(`snapshot field ${field}: ${what}`)
}

function str (v: unknown, field: string): string {
  if (typeof v !== 'string') fail(field, 'not a string')
  return v
}

function num (v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, 'not a finite number')
  return v
}

function arr (v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) fail(field, 'not an array')
  return v
}

function obj (v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'not an object')
  return v as Record<string, unknown>
}

const KINDS: ReadonlySet<string> = new Set(['vip', 'task', 'lb'])

function checkShape (data: unknown): SnapshotData {
  const root = obj(data, 'root')
  const self = str(root.self, 'self')
  const networks = arr(root.networks, 'networks').map((n, i): NetworkSnapshot => {
    const f = `networks[${i}]`
    const o = obj(n, f)
    return {
      id: str(o.id, `${f}.id`),
      subnets: arr(o.subnets, `${f}.subnets`).map((s, j) => str(s, `${f}.subnets[${j}]`)),
      tokens: arr(o.tokens, `${f}.tokens`).map((t) => obj(t, `${f}.tokens[]`) as unknown as RingToken),
      allocs: arr(o.allocs, `${f}.allocs`).map((a, j) => {
        const t = arr(a, `${f}.allocs[${j}]`)
        const kind = str(t[1], `${f}.allocs[${j}].kind`)
        if (!KINDS.has(kind)) fail(`${f}.allocs[${j}].kind`, `unknown kind ${kind}`)
        const owner = t[2] === null ? null : str(t[2], `${f}.allocs[${j}].owner`)
        return [str(t[0], `${f}.allocs[${j}].address`), kind as AddressKind, owner]
      }),
      cooling: arr(o.cooling, `${f}.cooling`).map((a, j) => {
        const t = arr(a, `${f}.cooling[${j}]`)
        return [str(t[0], `${f}.cooling[${j}].address`), num(t[1], `${f}.cooling[${j}].until`)]
      }),
      cursor: o.cursor === null ? null : str(o.cursor, `${f}.cursor`),
      localTasks: arr(o.localTasks, `${f}.localTasks`).map((s, j) => str(s, `${f}.localTasks[${j}]`)),
      lbIp: o.lbIp === null ? null : str(o.lbIp, `${f}.lbIp`),
      lbReleaseAt: o.lbReleaseAt === null ? null : num(o.lbReleaseAt, `${f}.lbReleaseAt`),
      lbIp6: o.lbIp6 === undefined || o.lbIp6 === null ? null : str(o.lbIp6, `${f}.lbIp6`)
    }
  })
  return { self, networks }
}
