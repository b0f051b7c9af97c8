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
  /** Each listed scope's number (scopeNumber), -1 if it has none. */
  readonly nums: Int32Array
}

const NO_SCOPES: ReadonlySet<ScopeName> = new Set()
const NO_LIST: readonly ScopeName[] = []
const NO_NUMS = new Int32Array(0)

/**
 * Numbers of the scope names the claims of this process list, so that a claim
 * change is checked against a node's indexed scopes by number (an array
 * read), not by a string lookup per listed scope. Bounded: a member making up
 * names cannot grow the table past MAX_SCOPE_NUMBERS (~4 MB); names past it
 * have none and are looked up by name.
 */
const SCOPE_NUMBERS = new Map<ScopeName, number>()
const MAX_SCOPE_NUMBERS = 65_536

function scopeNumber (s: ScopeName): number {
  const n = SCOPE_NUMBERS.get(s)
  if (n !== undefined) return n
  if (SCOPE_NUMBERS.size >= MAX_SCOPE_NUMBERS) return -1
  SCOPE_NUMBERS.set(s, SCOPE_NUMBERS.size)
  return SCOPE_NUMBERS.size - 1
}

/**
 * The claim made from a `scopes` value, kept on the value (an array) under a
 * symbol, hidden: a value is never changed once stored, and in one process
 * (the simulator's thousands of nodes) every replica of a version holds the
 * same value object, so they share one claim instead of a set of scope names
 * each. The claim lives as long as the value. Not enumerable and not an
 * index, so the value encodes, compares and clones as before (a WeakMap by
 * value did the same at ~10x the cost of a lookup: a settling cluster asks
 * for every claim it learns).
 */
const CLAIM = Symbol('claim')

type ClaimCarrier = unknown[] & { [CLAIM]?: ScopeClaim }

/** The claim a cluster-scope `scopes` record makes, or undefined if it is not a node's own record about itself. */
export function claimOf (r: Rec): ScopeClaim | undefined {
  if (r.table !== SCOPES_TABLE || r.origin !== r.key) return undefined
  if (r.deleted || !Array.isArray(r.value)) return { lamport: r.lamport, scopes: NO_SCOPES, list: NO_LIST, nums: NO_NUMS }
  const value = r.value as ClaimCarrier
  const known = value[CLAIM]
  if (known !== undefined && known.lamport === r.lamport) return known
  const scopes = new Set<ScopeName>()
  for (const s of value) if (isScopeName(s) && s !== 'cluster') scopes.add(s)
  const list = [...scopes]
  const claim = { lamport: r.lamport, scopes, list, nums: Int32Array.from(list, scopeNumber) }
  if (known === undefined && Object.isExtensible(value)) Object.defineProperty(value, CLAIM, { value: claim })
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
  /** 1 at the number (scopeNumber) of each indexed scope that has one. */
  private flags = new Uint8Array(0)

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
    if (was !== undefined) {
      for (let i = 0; i < was.list.length; i++) {
        if (!this.isIndexed(was, i)) continue
        const s = was.list[i] as ScopeName
        const set = this.byScope.get(s)
        if (set === undefined) continue
        set.delete(node)
        if (set.size === 0) this.byScope.delete(s)
      }
    }
    for (let i = 0; i < (now?.list.length ?? 0); i++) {
      if (!this.isIndexed(now as ScopeClaim, i)) continue
      const s = (now as ScopeClaim).list[i] as ScopeName
      let set = this.byScope.get(s)
      if (set === undefined) {
        set = new Set()
        this.byScope.set(s, set)
      }
      set.add(node)
    }
    return was
  }

  /** Whether the i-th scope `claim` lists is indexed here (by its number if it has one). */
  private isIndexed (claim: ScopeClaim, i: number): boolean {
    const n = claim.nums[i] as number
    if (n < 0) return this.indexed.has(claim.list[i] as ScopeName)
    return n < this.flags.length && this.flags[n] === 1
  }

  /** Index the members of `scope` from the stored claims, in the store's order. */
  private index (scope: ScopeName): void {
    this.indexed.add(scope)
    const n = scopeNumber(scope)
    if (n >= 0) {
      if (n >= this.flags.length) {
        const grown = new Uint8Array(Math.max(n + 1, 2 * this.flags.length))
        grown.set(this.flags)
        this.flags = grown
      }
      this.flags[n] = 1
    }
    const found: NodeId[] = []
    for (const r of this.records().all()) {
      const c = claimAt(r.key, r)
      if (c !== undefined && c.scopes.has(scope)) found.push(r.key)
    }
    // in ID order, whatever order the store lists its records in (a map's or a dense array's: see DenseKeys)
    if (found.length > 0) this.byScope.set(scope, new Set(found.sort()))
  }
}
