import { logRepeated } from '../logger.js'
import type { NodeId, ScopeName } from '../types.js'
import { LAMPORT_JUMP_REFILL_MS, MAX_LAMPORT_JUMP, MAX_SEQ_JUMP } from './constants.js'
import type { Logger, WireEntry } from './types.js'

/**
 * Why a remote entry was refused before it was applied, relayed or allowed to
 * move our counters (label values of `GossipStats.dropped`). Signature checks
 * and authority checks (tables.ts) count their refusals here too.
 */
export type EntryDropReason = 'lamport-jump' | 'seq-jump' | 'unsigned' | 'bad-signature' | 'not-owner' | 'not-manager' | 'refused-key' | 'bad-cert' | 'unknown-origin' | 'revoked-origin'

/**
 * This node's Lamport clock with a bound on how far remote values may move
 * it. An honest clock advances only by its own writes and by what it sees, so
 * a remote value is at most "the writes made where we could not see them"
 * ahead of ours (a partition, a fresh node). A value further ahead than the
 * allowance is refused and moves the clock only by what is left of the
 * allowance; the allowance (at most `maxJump`) is spent by every forward
 * move made by remote values and refills at `maxJump` per `refillMs`.
 *
 * So one entry, however far ahead, moves the clock by at most `maxJump`, and
 * a member sending such entries for ever by at most `maxJump` per `refillMs`:
 * with the defaults (2^36 per 24 h) the counters' 2^48 ceiling, above which
 * every write would be refused by every validator, is 4,096 days away. A
 * node behind by more than `maxJump` (a fresh node in an old busy cluster)
 * still catches up, at the refill rate.
 */
export class LamportClock {
  /** Highest Lamport time written or admitted. */
  value = 0
  private allowance: number
  private refilledAt = NaN

  constructor (private readonly maxJump = MAX_LAMPORT_JUMP, private readonly refillMs = LAMPORT_JUMP_REFILL_MS) {
    this.allowance = maxJump
  }

  /** Time of a local write (the clock moves to it). */
  next (): number {
    return ++this.value
  }

  /**
   * A remote Lamport time `v` seen at `now`. True: admitted (the clock is at
   * least `v` now). False: too far ahead; the clock moved toward it by what
   * the allowance permits, so a later offer of the same value may pass.
   */
  witness (now: number, v: number): boolean {
    if (v <= this.value) return true
    this.refill(now)
    const jump = v - this.value
    const allowed = Math.floor(this.allowance)
    if (jump <= allowed) {
      this.allowance -= jump
      this.value = v
      return true
    }
    this.value += allowed
    this.allowance -= allowed
    return false
  }

  private refill (now: number): void {
    if (Number.isNaN(this.refilledAt) || now < this.refilledAt) {
      this.refilledAt = now
      return
    }
    this.allowance = Math.min(this.maxJump, this.allowance + (now - this.refilledAt) * (this.maxJump / this.refillMs))
    this.refilledAt = now
  }
}

/**
 * The checks a remote entry must pass before it is merged, relayed, or
 * moves our clock or sequence; refusals are counted by reason and logged
 * (rate-limited). Signature checks (a later change) belong in `admit` too.
 *
 * A sequence number only matters for our own entries (it orders an
 * origin's writes and a restarted node continues above what its earlier life
 * wrote), so it is bounded there: an own entry more than `MAX_SEQ_JUMP`
 * writes ahead of ours is corrupt or forged. It is checked first, so a
 * refused entry never moves the clock.
 */
export class EntryAdmission {
  readonly clock = new LamportClock()
  /** Refused entries by reason. */
  readonly dropped: Record<string, number> = {}

  constructor (private readonly self: NodeId, private readonly log: Logger) {}

  /** True if `w` may be applied; `seq` is our own sequence. */
  admit (now: number, scope: ScopeName, w: WireEntry, seq: number): boolean {
    let reason: EntryDropReason | undefined
    if (w[2] === this.self && w[4] > seq + MAX_SEQ_JUMP) reason = 'seq-jump'
    else if (!this.clock.witness(now, w[3])) reason = 'lamport-jump'
    else return true
    this.refuse(reason, scope, w)
    return false
  }

  /** Count and log (rate-limited) a refused entry. */
  refuse (reason: EntryDropReason, scope: ScopeName, w: WireEntry): void {
    const n = (this.dropped[reason] ?? 0) + 1
    this.dropped[reason] = n
    logRepeated(this.log, n, 'refused a remote entry', { reason, scope, table: w[0], key: w[1], origin: w[2], lamport: w[3], seq: w[4], clock: this.clock.value })
  }
}
