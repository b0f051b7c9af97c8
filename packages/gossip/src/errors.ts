/** Typed errors of @scalelb/gossip; callers branch on `name`. */

/** An option or profile value is invalid. */
export class InvalidGossipConfigError extends Error {
  override name = 'InvalidGossipConfigError'
  /** The offending option name. */
  readonly field: string
  constructor (field: string, message: string) {
    super(`invalid gossip option ${field}: ${message}`)
    this.field = field
  }
}

/** `join` could not reach any of the given addresses. */
export class JoinFailedError extends Error {
  override name = 'JoinFailedError'
  /** Per-address failure reasons. */
  readonly causes: Array<{ addr: string, reason: string }>
  constructor (causes: Array<{ addr: string, reason: string }>) {
    super(`join failed: no address answered (${causes.map(c => `${c.addr}: ${c.reason}`).join('; ')})`)
    this.causes = causes
  }
}

/**
 * An inbound request was not answered: it did not decode, failed validation,
 * or came from a member we refuse. The transport fails the exchange, so the
 * requester sees its own transport error.
 */
export class RequestDroppedError extends Error {
  override name = 'RequestDroppedError'
  /** The requesting node. */
  readonly from: string
  constructor (from: string) {
    super(`request from ${from} dropped (undecodable, invalid or refused; see the dropped counters)`)
    this.from = from
  }
}

/** A join address led back to this node itself. */
export class SelfAddressError extends Error {
  override name = 'SelfAddressError'
  /** The address dialled. */
  readonly addr: string
  constructor (addr: string) {
    super(`address ${addr} is this node`)
    this.addr = addr
  }
}

/** An operation needs a started node. */
export class NotStartedError extends Error {
  override name = 'NotStartedError'
  constructor (op: string) {
    super(`gossip not started: cannot ${op}`)
  }
}
