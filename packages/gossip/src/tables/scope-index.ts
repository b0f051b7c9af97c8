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
  /** The same scopes as a list (walked on every claim change, where a Set's iterator costs more). */
  readonly list: readonly ScopeName[]
}

const NO_SCOPES: ReadonlySet<ScopeName> = new Set()
const NO_LIST: readonly ScopeName[] = []

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
  if (r.deleted || !Array.isArray(r.value)) return { lamport: r.lamport, scopes: NO_SCOPES, list: NO_LIST }
  const known = CLAIMS_OF_VALUE.get(r.value)
  if (known !== undefined && known.lamport === r.lamport) return known
  const scopes = new Set<ScopeName>()
  for (const s of r.value as unknown[]) if (isScopeName(s) && s !== 'cluster') scopes.add(s)
  const claim = { lamport: r.lamport, scopes, list: [...scopes] }
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

/** Where the claims come from: the cluster scope's `scopes` records. */
export interface ClaimRecords {
  /** The stored `scopes` record of key `node`. */
  get(node: NodeId): Rec | undefined
  /** Every stored `scopes` record. */
  all(): Iterable<Rec>
}

/** The claim a stored `scopes` record of key `node` makes (undefined: none). */
function claimAt (node: NodeId, r: Rec | undefined): ScopeClaim | undefined {
  return r === undefined || r.key !== node ? undefined : claimOf(r)
}

/**
 * Which node joined which network scope, derived from the cluster-scope
 * `scopes` table (key = node id, value = its network scope names). Only a
 * node's own record about itself counts. A node's claim is read from its
 * stored record (no second map of n claims: every node holds every node's
 * record, so that map cost an entry per (node, member) pair); the claim made
 * from a value is shared by every record holding that value. The members of
 * a scope are indexed from the first time they are asked (a node asks for
 * the scopes it holds), not for every scope of the cluster: a node in 5 of
 * 1,000 networks keeps 5 sets. A scope's set lists the members it had when
 * indexed in ID order (not the store's order, which differs between a map
 * and a dense array), and a changed claim moves to its end.
 */
export class ScopeIndex {
  private readonly byScope = new Map<ScopeName, Set<NodeId>>()
  /** Scopes whose members are indexed (byScope holds those with members). */
  private readonly indexed = new Set<ScopeName>()

  private source: ClaimRecords | undefined

  /** @param open gives the claims' records (called once, at the first use) */
  constructor (private readonly open: () => ClaimRecords) {}

  private records (): ClaimRecords {
    this.source ??= this.open()
    return this.source
  }

  /** Nodes that declared `scope` (no liveness filter). */
  members (scope: ScopeName): ReadonlySet<NodeId> | undefined {
    if (!this.indexed.has(scope)) this.index(scope)
    return this.byScope.get(scope)
  }

  /** The current claim of `node` (undefined if we hold no record of it about itself). */
  claim (node: NodeId): ScopeClaim | undefined {
    return claimAt(node, this.records().get(node))
  }

  /**
   * The stored cluster `scopes` record of key `node` went from `before` to
   * `after` (undefined: none). Returns the node's claim before the change.
   */
  set (node: NodeId, before: Rec | undefined, after: Rec | undefined): ScopeClaim | undefined {
    const was = claimAt(node, before)
    const now = claimAt(node, after)
    if (was === now || this.indexed.size === 0) return was
    for (const s of was?.list ?? NO_LIST) {
      const set = this.byScope.get(s)
      if (set === undefined) continue
      set.delete(node)
      if (set.size === 0) this.byScope.delete(s)
    }
    for (const s of now?.list ?? NO_LIST) {
      if (!this.indexed.has(s)) continue
      let set = this.byScope.get(s)
      if (set === undefined) {
        set = new Set()
        this.byScope.set(s, set)
      }
      set.add(node)
    }
    return was
  }

  /** Index the members of `scope` from the stored claims, in the store's order. */
  private index (scope: ScopeName): void {
    this.indexed.add(scope)
    const found: NodeId[] = []
    for (const r of this.records().all()) {
      const c = claimAt(r.key, r)
      if (c !== undefined && c.scopes.has(scope)) found.push(r.key)
    }
    // in ID order, whatever order the store lists its records in (a map's or a dense array's: see DenseKeys)
    if (found.length > 0) this.byScope.set(scope, new Set(found.sort()))
  }
}
