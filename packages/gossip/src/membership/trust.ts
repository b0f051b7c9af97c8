import type { MemberUpdate } from '../codec/messages.js'
import { InvalidGossipConfigError } from '../errors.js'
import { logRepeated, type Logger } from '../logger.js'
import { admissionBytes } from '../sign/admission.js'
import type { Keyring } from '../sign/keyring.js'
import type { NodeId } from '../types.js'
import { memberSigBytes } from './signing.js'

/** Why a member update was refused before it changed anything (GossipStats.dropped labels). */
export type MemberDropReason = 'incarnation-jump' | 'member-unsigned' | 'member-bad-signature' | 'member-revoked' | 'member-not-admitted' | 'member-bad-admission'

/**
 * Who may state which membership fact, and the refusals.
 *
 * Every member holds the cluster PSK, so the wire alone does not tell who
 * stated a fact. What only a node may say about itself is signed with its
 * node key: `alive` (so nobody else can move its addresses or incarnation,
 * or announce its restart) and `left` (so nobody can keep it out of the
 * cluster). Every node checks the subject's signature before an alive/left,
 * gossiped or in a push-pull snapshot, changes anything (incarnation,
 * state, broadcast queue), and relays it with the original signature.
 *
 * `suspect` and `dead` stay unsigned: SWIM needs any member to state what it
 * observed about another (its probe failed), which the subject cannot sign.
 * They are bounded instead: (1) a claim more than MAX_INCARNATION_JUMP ahead
 * of the incarnation we know is refused; (2) a claim we take is gossiped on,
 * so it reaches its subject (dead members are still gossiped to for
 * gossipToTheDeadMs, acks to their probes carry it, and a member held dead
 * that talks to us gets a push-pull), which refutes it with a signed alive
 * one incarnation higher; (3) that refutation beats any suspect/dead at a
 * lower incarnation on every node, and MAX_ALIVE_INCARNATION_JUMP (far above
 * the claim bound) lets even nodes whose view lags take it. A forged
 * suspect or dead therefore lasts until the refutation spreads, never past
 * it; it can neither mark a node left nor change its addresses.
 *
 * Without a keyring nothing is signed or checked (tests, benchmarks).
 */
export class MemberTrust {
  private refused = 0

  constructor (
    self: NodeId,
    private readonly keyring: Keyring | undefined,
    private readonly log: Logger,
    private readonly onDrop: (reason: MemberDropReason) => void
  ) {
    if (keyring !== undefined && keyring.self !== self) throw new InvalidGossipConfigError('keyring', `holds the key of ${keyring.self}, not of this node (${self})`)
  }

  /** Sign our own alive or left (a no-op without a keyring); an alive carries our admission, if we have one. */
  sign (u: MemberUpdate): MemberUpdate {
    if (this.keyring === undefined) return u
    u.sig = this.keyring.sign(memberSigBytes(u))
    const adm = this.keyring.admission
    if (u.k === 'alive' && adm !== undefined) u.adm = adm
    return u
  }

  /**
   * True if `u` (an alive or left) is signed by its subject, and an alive
   * also carries the subject's admission where the cluster requires one, or
   * nothing is checked; otherwise it is refused.
   */
  authentic (u: MemberUpdate): boolean {
    const keys = this.keyring
    if (keys === undefined) return true
    if (u.sig === undefined) { this.refuse(u, 'member-unsigned'); return false }
    if (u.k === 'alive' && keys.admissionRequired) {
      if (u.adm === undefined) { this.refuse(u, 'member-not-admitted'); return false }
      if (!keys.verifyManager(admissionBytes(u.id), u.adm)) { this.refuse(u, 'member-bad-admission'); return false }
    }
    if (!keys.verify(u.id, memberSigBytes(u), u.sig)) { this.refuse(u, 'member-bad-signature'); return false }
    return true
  }

  /** An update refused before it changed anything (a peer can send these at will): counted, logged rate-limited. */
  refuse (u: MemberUpdate, reason: MemberDropReason, known?: number): void {
    this.onDrop(reason)
    logRepeated(this.log, ++this.refused, 'refused a member update', { reason, kind: u.k, member: u.id, incarnation: u.inc, known, from: u.from })
  }
}

/** What a record keeps of an alive or left: the update itself when signed (relayed as received). */
export function signedPart (u: MemberUpdate): MemberUpdate | undefined {
  return u.sig === undefined ? undefined : u
}
