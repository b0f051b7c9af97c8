import type { NodeId, ScopeName } from '../types.js'
import { SCOPES_TABLE } from './constants.js'
import type { Rec } from './record.js'
import { isScopeName } from './validate.js'

/**
 * Which node joined which network scope, derived from the cluster-scope
 * `scopes` table (key = node id, value = its network scope names). Only a
 * node's own record about itself counts. Kept incrementally on every change
 * of a `scopes` record.
 */
export class ScopeIndex {
  private readonly byScope = new Map<ScopeName, Set<NodeId>>()

  /** Nodes that declared `scope` (no liveness filter). */
  members (scope: ScopeName): ReadonlySet<NodeId> | undefined {
    return this.byScope.get(scope)
  }

  /** The network scopes a record declares, if it is a valid live `scopes` record of the cluster scope. */
  declared (scope: ScopeName, r: Rec): ScopeName[] | undefined {
    if (scope !== 'cluster' || r.table !== SCOPES_TABLE || r.deleted || r.origin !== r.key || !Array.isArray(r.value)) return undefined
    return (r.value as unknown[]).filter((s): s is ScopeName => isScopeName(s) && s !== 'cluster')
  }

  /** Move `node` from the scopes it declared before to the ones it declares now. */
  update (node: NodeId, before: ScopeName[] | undefined, after: ScopeName[] | undefined): void {
    for (const s of before ?? []) {
      const set = this.byScope.get(s)
      set?.delete(node)
      if (set?.size === 0) this.byScope.delete(s)
    }
    for (const s of after ?? []) {
      let set = this.byScope.get(s)
      if (set === undefined) {
        set = new Set()
        this.byScope.set(s, set)
      }
      set.add(node)
    }
  }
}
