import type { NodeId, ScopeName } from '../types.js'
import { SCOPES_TABLE } from './constants.js'
import type { Rec } from './record.js'
import { isScopeName } from './validate.js'

/**
 * What a node's own current `scopes` record says: the network scopes it is in
 * and the Lamport time it said so. A tombstone or a malformed value claims no
 * scope (it still carries a time).
 */
export interface ScopeClaim {
  readonly lamport: number
  readonly scopes: ReadonlySet<ScopeName>
}

const NO_SCOPES: ReadonlySet<ScopeName> = new Set()

/**
 * Claims already made from a `scopes` value, by the value object: a value is
 * never changed once stored, and in one process (the simulator's thousands of
 * nodes) every replica of a version holds the same value object, so they
 * share one claim instead of a set of scope names each. Keyed weakly: a claim
 * lives as long as some record holds its value.
 */
const CLAIMS_OF_VALUE = new WeakMap<object, ScopeClaim>()

/** The claim a cluster-scope `scopes` record makes, or undefined if it is not a node's own record about itself. */
export function claimOf (r: Rec): ScopeClaim | undefined {
  if (r.table !== SCOPES_TABLE || r.origin !== r.key) return undefined
  if (r.deleted || !Array.isArray(r.value)) return { lamport: r.lamport, scopes: NO_SCOPES }
  const known = CLAIMS_OF_VALUE.get(r.value)
  if (known !== undefined && known.lamport === r.lamport) return known
  const scopes = new Set<ScopeName>()
  for (const s of r.value as unknown[]) if (isScopeName(s) && s !== 'cluster') scopes.add(s)
  const claim = { lamport: r.lamport, scopes }
  if (known === undefined) CLAIMS_OF_VALUE.set(r.value, claim)
  return claim
}

/**
 * True if `claim` hides a record of its node in network scope `scope`: the
 * node's current record does not list the scope and was written after the
 * record (Lamport is one clock per node across scopes, so everything the node
 * wrote in the scope before it left is older than its leave record, and
 * anything written after a rejoin is newer).
 */
export function claimHides (claim: ScopeClaim | undefined, scope: ScopeName, lamport: number): boolean {
  return claim !== undefined && lamport < claim.lamport && !claim.scopes.has(scope)
}

/** True if `claim` can hide some record in `scope` (it exists and does not list the scope). */
export function claimCanHide (claim: ScopeClaim | undefined, scope: ScopeName): boolean {
  return claim !== undefined && !claim.scopes.has(scope)
}

/**
 * Which node joined which network scope, derived from the cluster-scope
 * `scopes` table (key = node id, value = its network scope names). Only a
 * node's own record about itself counts. Claims are kept incrementally on
 * every change of a `scopes` record (O(nodes), each claim shared with the
 * other records of the same value); the members of a scope are indexed from
 * the first time they are asked (a node asks for the scopes it holds), not
 * for every scope of the cluster: a node in 5 of 1,000 networks keeps 5 sets.
 * A scope's set lists its members in the order of their claims' last change,
 * as the claims map does (a changed claim moves to its end).
 */
export class ScopeIndex {
  private readonly byScope = new Map<ScopeName, Set<NodeId>>()
  /** Scopes whose members are indexed (byScope holds those with members). */
  private readonly indexed = new Set<ScopeName>()
  private readonly claims = new Map<NodeId, ScopeClaim>()

  /** Nodes that declared `scope` (no liveness filter). */
  members (scope: ScopeName): ReadonlySet<NodeId> | undefined {
    if (!this.indexed.has(scope)) this.index(scope)
    return this.byScope.get(scope)
  }

  /** The current claim of `node` (undefined if we hold no record of it about itself). */
  claim (node: NodeId): ScopeClaim | undefined {
    return this.claims.get(node)
  }

  /**
   * The stored cluster `scopes` record of key `node` is now `r` (undefined:
   * removed). Returns the node's claim before the change.
   */
  set (node: NodeId, r: Rec | undefined): ScopeClaim | undefined {
    const before = this.claims.get(node)
    const after = r === undefined || r.key !== node ? undefined : claimOf(r)
    for (const s of before?.scopes ?? NO_SCOPES) {
      const set = this.byScope.get(s)
      set?.delete(node)
      if (set?.size === 0) this.byScope.delete(s)
    }
    this.claims.delete(node)
    if (after === undefined) return before
    this.claims.set(node, after)
    for (const s of after.scopes) {
      if (!this.indexed.has(s)) continue
      let set = this.byScope.get(s)
      if (set === undefined) {
        set = new Set()
        this.byScope.set(s, set)
      }
      set.add(node)
    }
    return before
  }

  /** Index the members of `scope` from the claims, in the claims' order. */
  private index (scope: ScopeName): void {
    this.indexed.add(scope)
    let set: Set<NodeId> | undefined
    for (const [node, c] of this.claims) {
      if (!c.scopes.has(scope)) continue
      set ??= new Set()
      set.add(node)
    }
    if (set !== undefined) this.byScope.set(scope, set)
  }
}
