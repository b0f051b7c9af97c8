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

/** An operation needs a started node. */
export class NotStartedError extends Error {
  override name = 'NotStartedError'
  constructor (op: string) {
    super(`gossip not started: cannot ${op}`)
  }
}
