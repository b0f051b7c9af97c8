import * as C from '../constants.js'
import { SIGNATURE_BYTES } from '../sign/keyring.js'
import { isScopeName, validateSyncHash, validateSyncRequest, validateSyncResponse, validateTablesMsg, type TablesMsg } from '../tables/index.js'
import type { MemberState } from '../types.js'
import type { MemberSnapshot, MemberUpdate, Packet, PacketType, RequestMsg, ResponseMsg } from './messages.js'

/** Why an inbound frame was dropped (label values of GossipStats.dropped). */
export type DropReason = 'size' | 'empty' | 'version' | 'decode' | 'schema' | 'tables' | 'signature'

/** Validation result: the clean value, or a reason plus the offending field. */
export type Checked<T> = { ok: true, value: T } | { ok: false, reason: DropReason, field: string }

const MAX_INC = 2 ** 48
const PACKET_TYPES: ReadonlySet<string> = new Set<PacketType>(['ping', 'ack', 'nack', 'ping-req', 'gossip', 'push'])
const STATES: ReadonlySet<string> = new Set<MemberState>(['alive', 'suspect', 'dead', 'left'])
const UPDATE_KINDS: ReadonlySet<string> = new Set(['alive', 'suspect', 'dead', 'left'])

class Bad extends Error {
  override name = 'Bad'
  constructor (readonly field: string, readonly reason: DropReason = 'schema') { super(field) }
}

function obj (x: unknown, field: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) throw new Bad(field)
  return x as Record<string, unknown>
}
function own (o: Record<string, unknown>, k: string): unknown {
  return Object.hasOwn(o, k) ? o[k] : undefined
}
function id (x: unknown, field: string): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > C.MAX_ID_LENGTH) throw new Bad(field)
  return x
}
function uint (x: unknown, field: string, max = MAX_INC): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x > max) throw new Bad(field)
  return x
}
function addrs (x: unknown, field: string): string[] {
  if (!Array.isArray(x) || x.length > C.MAX_ADDRS) throw new Bad(field)
  return x.map((a, i) => {
    if (typeof a !== 'string' || a.length > C.MAX_ADDR_LENGTH) throw new Bad(`${field}[${i}]`)
    return a
  })
}
function bool (x: unknown, field: string): boolean {
  if (typeof x !== 'boolean') throw new Bad(field)
  return x
}
/** A signature field: 64 bytes, copied (never a view into the frame it came in). Malformed: `signature`. */
function sig (x: unknown, field: string): Uint8Array {
  if (!(x instanceof Uint8Array) || x.byteLength !== SIGNATURE_BYTES) throw new Bad(field, 'signature')
  return new Uint8Array(x)
}
function arr (x: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(x) || x.length > max) throw new Bad(field)
  return x
}

function memberUpdate (x: unknown, field: string): MemberUpdate {
  const o = obj(x, field)
  const k = own(o, 'k')
  if (typeof k !== 'string' || !UPDATE_KINDS.has(k)) throw new Bad(`${field}.k`)
  const u: MemberUpdate = { k: k as MemberUpdate['k'], id: id(own(o, 'id'), `${field}.id`), inc: uint(own(o, 'inc'), `${field}.inc`) }
  const from = own(o, 'from')
  if (from !== undefined) u.from = id(from, `${field}.from`)
  else if (k === 'suspect' || k === 'dead') throw new Bad(`${field}.from`)
  const a = own(o, 'addrs')
  if (a !== undefined) u.addrs = addrs(a, `${field}.addrs`)
  const r = own(o, 'restarting')
  if (r !== undefined) u.restarting = bool(r, `${field}.restarting`)
  const s = own(o, 'sig')
  if (s !== undefined) {
    // only a member's own word is signed: a signature on a suspect or dead claim is malformed
    if (k !== 'alive' && k !== 'left') throw new Bad(`${field}.sig`, 'signature')
    u.sig = sig(s, `${field}.sig`)
  }
  const adm = own(o, 'adm')
  if (adm !== undefined) {
    // an admission goes with a member's alive only
    if (k !== 'alive') throw new Bad(`${field}.adm`, 'signature')
    u.adm = sig(adm, `${field}.adm`)
  }
  return u
}

function snapshot (x: unknown, field: string): MemberSnapshot {
  const o = obj(x, field)
  const state = own(o, 'state')
  if (typeof state !== 'string' || !STATES.has(state)) throw new Bad(`${field}.state`)
  const m: MemberSnapshot = {
    id: id(own(o, 'id'), `${field}.id`),
    addrs: addrs(own(o, 'addrs'), `${field}.addrs`),
    state: state as MemberState,
    inc: uint(own(o, 'inc'), `${field}.inc`),
    restarting: bool(own(o, 'restarting'), `${field}.restarting`)
  }
  const s = own(o, 'sig')
  if (s !== undefined) m.sig = sig(s, `${field}.sig`)
  const si = own(o, 'sigInc')
  if (si !== undefined) m.sigInc = uint(si, `${field}.sigInc`)
  const sr = own(o, 'sigRestarting')
  if (sr !== undefined) m.sigRestarting = bool(sr, `${field}.sigRestarting`)
  const adm = own(o, 'adm')
  if (adm !== undefined) m.adm = sig(adm, `${field}.adm`)
  return m
}

function tablesMsgs (x: unknown, field: string): TablesMsg[] {
  return arr(x, field, C.MAX_ITEMS_PER_PACKET).map((m, i) => {
    const r = validateTablesMsg(m)
    if (typeof r === 'string') throw new Bad(`${field}[${i}]: ${r}`, 'tables')
    return r
  })
}

function run<T> (f: () => T): Checked<T> {
  try {
    return { ok: true, value: f() }
  } catch (err) {
    if (err instanceof Bad) return { ok: false, reason: err.reason, field: err.field }
    return { ok: false, reason: 'schema', field: err instanceof Error ? err.message : 'unknown' }
  }
}

/** Check a decoded datagram and return a clean copy. */
export function validatePacket (x: unknown): Checked<Packet> {
  return run(() => {
    const o = obj(x, 'packet')
    const t = own(o, 't')
    if (typeof t !== 'string' || !PACKET_TYPES.has(t)) throw new Bad('t')
    const p: Packet = { t: t as PacketType }
    if (t !== 'gossip' && t !== 'push') p.seq = uint(own(o, 'seq'), 'seq')
    if (t === 'ping' || t === 'ping-req') p.target = id(own(o, 'target'), 'target')
    const mb = own(o, 'mb')
    if (mb !== undefined) p.mb = arr(mb, 'mb', C.MAX_ITEMS_PER_PACKET).map((u, i) => memberUpdate(u, `mb[${i}]`))
    const tb = own(o, 'tb')
    if (tb !== undefined) p.tb = tablesMsgs(tb, 'tb')
    const sh = own(o, 'sh')
    if (sh !== undefined) {
      p.sh = arr(sh, 'sh', C.MAX_SYNC_HASHES_PER_PACKET).map((h, i) => {
        const r = validateSyncHash(h)
        if (typeof r === 'string') throw new Bad(`sh[${i}]: ${r}`, 'tables')
        return r
      })
    }
    const sd = own(o, 'sd')
    if (sd !== undefined) {
      p.sd = arr(sd, 'sd', C.MAX_SYNC_HASHES_PER_PACKET).map((x, i) => {
        if (!isScopeName(x)) throw new Bad(`sd[${i}]`, 'tables')
        return x
      })
    }
    return p
  })
}

/** Check a decoded request. */
export function validateRequest (x: unknown): Checked<RequestMsg> {
  return run((): RequestMsg => {
    const o = obj(x, 'request')
    const t = own(o, 't')
    if (t === 'push-pull') {
      return { t, join: bool(own(o, 'join'), 'join'), members: arr(own(o, 'members'), 'members', C.MAX_PUSH_PULL_MEMBERS).map((m, i) => snapshot(m, `members[${i}]`)) }
    }
    if (t === 'sync') {
      const r = validateSyncRequest(own(o, 'req'))
      if (typeof r === 'string') throw new Bad(`req: ${r}`, 'tables')
      return { t, req: r }
    }
    throw new Bad('t')
  })
}

/** Check a decoded response. */
export function validateResponse (x: unknown): Checked<ResponseMsg> {
  return run((): ResponseMsg => {
    const o = obj(x, 'response')
    const t = own(o, 't')
    if (t === 'push-pull') {
      return { t, members: arr(own(o, 'members'), 'members', C.MAX_PUSH_PULL_MEMBERS).map((m, i) => snapshot(m, `members[${i}]`)) }
    }
    if (t === 'sync') {
      const r = validateSyncResponse(own(o, 'res'))
      if (typeof r === 'string') throw new Bad(`res: ${r}`, 'tables')
      return { t, res: r }
    }
    throw new Bad('t')
  })
}
