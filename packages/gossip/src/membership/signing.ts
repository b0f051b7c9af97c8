import { Packr } from 'msgpackr'
import type { MemberSnapshot, MemberUpdate } from '../codec/messages.js'
import type { MemberState, NodeId } from '../types.js'

/**
 * Domain tag of signed membership facts: a node key signs table entries too,
 * so a member signature can never be taken for an entry's (or the reverse).
 * Bump it with any change of the encoding below.
 */
export const MEMBER_SIG_DOMAIN = 'scalelb/member/1'

// plain arrays of strings, numbers and booleans: the same bytes on every node
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false })

/**
 * The bytes a member signs for its own `alive` or `left`:
 * msgpack `[domain, 'alive', id, inc, addrs, restarting]` or
 * `[domain, 'left', id, inc]`. Missing `addrs` sign as `[]` (an alive
 * without addresses keeps the known ones either way).
 */
export function memberSigBytes (u: MemberUpdate): Uint8Array {
  return u.k === 'left'
    ? packr.pack([MEMBER_SIG_DOMAIN, 'left', u.id, u.inc])
    : packr.pack([MEMBER_SIG_DOMAIN, 'alive', u.id, u.inc, u.addrs ?? [], u.restarting === true])
}

/**
 * The signed fact a push-pull snapshot carries: the member's `left` (state
 * left) or its latest `alive`; undefined when it carries none.
 */
export function signedOfSnapshot (s: MemberSnapshot): MemberUpdate | undefined {
  if (s.state === 'left') return s.sig === undefined ? undefined : { k: 'left', id: s.id, inc: s.inc, sig: s.sig }
  if (s.sig === undefined) return undefined
  const u: MemberUpdate = { k: 'alive', id: s.id, inc: s.sigInc ?? s.inc, addrs: s.addrs, sig: s.sig }
  if (s.sigRestarting ?? s.restarting) u.restarting = true
  if (s.adm !== undefined) u.adm = s.adm
  return u
}

/** What a snapshot states about a member besides its signed fact. */
export interface SnapshotView {
  id: NodeId
  addrs: string[]
  state: MemberState
  inc: number
  restarting: boolean
  /** The latest verified `alive` or `left` by the member itself, if any. */
  signed: MemberUpdate | undefined
}

/**
 * A member's push-pull snapshot, carrying its signed fact so the receiver can
 * check it: addresses are the signed ones, `sigInc`/`sigRestarting` only when
 * they differ from the member's current `inc`/`restarting`.
 */
export function snapshotOf (r: SnapshotView): MemberSnapshot {
  const s: MemberSnapshot = { id: r.id, addrs: r.addrs, state: r.state, inc: r.inc, restarting: r.restarting }
  const p = r.signed
  if (p?.sig === undefined || (p.k === 'left') !== (r.state === 'left')) return s
  if (p.k === 'left') {
    if (p.inc === r.inc) s.sig = p.sig
    return s
  }
  s.sig = p.sig
  if (p.adm !== undefined) s.adm = p.adm
  s.addrs = p.addrs ?? []
  if (p.inc !== r.inc) s.sigInc = p.inc
  if ((p.restarting === true) !== r.restarting) s.sigRestarting = p.restarting === true
  return s
}
