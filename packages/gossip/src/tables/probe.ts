import type { NodeId, ScopeName } from '../types.js'
import { EARLIER_LIFE_PROBE_TRIES } from './constants.js'
import { compareRecWire } from './record.js'
import { ScopeStore, type Version } from './store.js'
import type { SyncPlan, SyncResponse } from './types.js'
import { isScopeName } from './validate.js'

/** What the tables tell the probes about a scope at tick time. */
export type ProbeScopeState = 'joined' | 'syncing' | 'out'

interface Pending {
  tries: number
  nextAt: number
  /** The scope's records as learned from the answers so far: later requests carry its digest, so answers hold only what is new. */
  readonly store: ScopeStore
  /** Highest Lamport time of our own entries seen in the answers. */
  ownMax: number
}

/**
 * Network scopes that an earlier life of this node (before a restart that
 * lost its Lamport clock) listed in its `scopes` record and this process is
 * not in. Its entries there may carry Lamport times above everything this
 * process has seen: a scopes record written now (without those scopes) would
 * then not hide them at peers, and they would stay live forever if their
 * tombstones never went out. Sync requests to members of each such scope
 * bring that scope's records; the highest Lamport time of our own entries
 * among them lets the node write its scopes record above them.
 *
 * Cost per restart and such scope: EARLIER_LIFE_PROBE_TRIES exchanges (the
 * first one answers with the whole scope, within the sync response limit;
 * later ones only with differences), and a copy of the scope's records held
 * while probing (about one adoption grace).
 */
export class EarlierLifeProbes {
  private readonly pending = new Map<ScopeName, Pending>()
  /** Scopes this process got a sync answer for (joined or probing): its clock has seen our entries there. */
  private readonly synced = new Set<ScopeName>()

  /** Scopes being probed. */
  get size (): number { return this.pending.size }

  /**
   * Probe the network scopes a `scopes` value of ours lists (a value that is
   * not a list adds none), unless this process already got a sync answer
   * for them.
   */
  add (value: unknown, held?: (s: ScopeName) => boolean): void {
    if (!Array.isArray(value)) return
    for (const s of value as unknown[]) {
      if (this.wants(s, held)) this.pending.set(s, { tries: EARLIER_LIFE_PROBE_TRIES, nextAt: -Infinity, store: new ScopeStore(), ownMax: 0 })
    }
  }

  /**
   * True if `add(value, held)` would probe some scope: a scope `held` says
   * this process holds joined (its join sync, done or to come, brings our old
   * entries there; leaving it before that adds it explicitly) needs none.
   */
  adds (value: unknown, held?: (s: ScopeName) => boolean): boolean {
    return Array.isArray(value) && (value as unknown[]).some((s) => this.wants(s, held))
  }

  private wants (s: unknown, held?: (s: ScopeName) => boolean): s is ScopeName {
    return isScopeName(s) && s !== 'cluster' && !this.pending.has(s) && !this.synced.has(s) && held?.(s) !== true
  }

  /**
   * Requests to send now. A joined scope needs no probe once its join sync
   * ran (that sync brings our old entries, which are then re-asserted or
   * tombstoned above); one still syncing waits; one we are out of is probed
   * at a member from `peerOf`, once per `intervalMs`, EARLIER_LIFE_PROBE_TRIES
   * times, then forgotten.
   */
  due (now: number, intervalMs: number, state: (s: ScopeName) => ProbeScopeState, peerOf: (s: ScopeName) => NodeId | undefined): SyncPlan[] {
    const out: SyncPlan[] = []
    for (const [scope, p] of this.pending) {
      const st = state(scope)
      if (st === 'joined' || (p.tries <= 0 && now >= p.nextAt)) {
        this.pending.delete(scope)
        continue
      }
      if (st === 'syncing' || p.tries <= 0 || now < p.nextAt) continue
      const to = peerOf(scope)
      if (to === undefined) continue
      p.tries--
      p.nextAt = now + intervalMs
      out.push({ to, req: { scope, digest: p.store.digest() } })
    }
    return out
  }

  /** This process got a sync answer for `scope` as a member. */
  markSynced (scope: ScopeName): void {
    this.synced.add(scope)
  }

  /**
   * A member's answer for a scope this process does not hold joined: if it
   * answers a probe, the highest Lamport time of `self`'s entries learned by
   * the probes of that scope so far (0 if none), else undefined.
   */
  answered (now: number, res: SyncResponse, self: NodeId): number | undefined {
    const p = this.pending.get(res.scope)
    if (!res.member || p === undefined) return undefined
    this.synced.add(res.scope)
    for (const w of res.entries) {
      const deleted = w[5] === 1
      const cur = p.store.get(w[0], w[1])
      if (cur !== undefined && compareRecWire(cur, w) >= 0) continue
      const v: Version = { value: deleted ? undefined : w[6], origin: w[2], lamport: w[3], seq: w[4], deleted, deadAt: deleted ? now - (w[6] as number) : now }
      if (cur === undefined) p.store.insert(w[0], w[1], v)
      else p.store.replace(cur, v)
      if (w[2] === self && w[3] > p.ownMax) p.ownMax = w[3]
    }
    return p.ownMax
  }
}
