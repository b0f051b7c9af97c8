import type { NodeId, ScopeName } from '../types.js'
import { EARLIER_LIFE_PROBE_TRIES } from './constants.js'
import type { SyncPlan, SyncResponse } from './types.js'
import { isScopeName } from './validate.js'

/** What the tables tell the probes about a scope at tick time. */
export type ProbeScopeState = 'joined' | 'syncing' | 'out'

interface Pending {
  tries: number
  nextAt: number
}

/**
 * Network scopes that an earlier life of this node (before a restart that
 * lost its Lamport clock) listed in its `scopes` record and this process is
 * not in. Its entries there may carry Lamport times above everything this
 * process has seen: a scopes record written now (without those scopes) would
 * then not hide them at peers, and they would stay live forever if their
 * tombstones never went out. One sync request with an empty digest to a
 * member of each such scope brings that scope's records; the highest Lamport
 * time of our own entries among them lets the node write its scopes record
 * above them. Cost: one full answer per such scope per restart (within the
 * sync response limit: a scope bigger than that is seen only in part).
 */
export class EarlierLifeProbes {
  private readonly pending = new Map<ScopeName, Pending>()

  /** Scopes waiting for a probe. */
  get size (): number { return this.pending.size }

  /** Probe the network scopes an earlier life's `scopes` value lists (a value that is not a list adds none). */
  add (value: unknown): void {
    if (!Array.isArray(value)) return
    for (const s of value as unknown[]) {
      if (isScopeName(s) && s !== 'cluster' && !this.pending.has(s)) this.pending.set(s, { tries: EARLIER_LIFE_PROBE_TRIES, nextAt: -Infinity })
    }
  }

  /**
   * Requests to send now. A joined scope needs no probe once its join sync
   * ran (that sync brings our old entries, which are then re-asserted or
   * tombstoned above); one still syncing waits; one we are out of is probed
   * at a member from `peerOf`, at most once per `intervalMs`, up to
   * EARLIER_LIFE_PROBE_TRIES times.
   */
  due (now: number, intervalMs: number, state: (s: ScopeName) => ProbeScopeState, peerOf: (s: ScopeName) => NodeId | undefined): SyncPlan[] {
    const out: SyncPlan[] = []
    for (const [scope, p] of this.pending) {
      const st = state(scope)
      if (st === 'joined' || p.tries <= 0) {
        this.pending.delete(scope)
        continue
      }
      if (st === 'syncing' || now < p.nextAt) continue
      const to = peerOf(scope)
      if (to === undefined) continue
      p.tries--
      p.nextAt = now + intervalMs
      out.push({ to, req: { scope, digest: [] } })
    }
    return out
  }

  /**
   * A member's answer for a scope this process does not hold joined: if it
   * answers a probe, the highest Lamport time of `self`'s entries in it (0 if
   * none), else undefined.
   */
  answered (res: SyncResponse, self: NodeId): number | undefined {
    if (!res.member || !this.pending.has(res.scope)) return undefined
    this.pending.delete(res.scope)
    let max = 0
    for (const w of res.entries) if (w[2] === self && w[3] > max) max = w[3]
    return max
  }
}
