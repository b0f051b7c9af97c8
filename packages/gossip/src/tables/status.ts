import type { Entry, EntryEvent, EntryStatus, NodeId, ScopeName } from '../types.js'
import type { Rec } from './record.js'
import { claimCanHide, claimHides, type ScopeClaim, type ScopeIndex } from './scope-index.js'
import type { ScopeStore } from './store.js'

/** What we remember of a member whose entries are not live (dead without restart grace, or left). */
export interface Gone {
  state: 'dead' | 'left'
  since: number
  reaped: boolean
}

/** A held scope's name and records, as the status scans need them. */
export interface HeldScope {
  readonly name: ScopeName
  readonly store: ScopeStore
}

/**
 * The status consumers see for a stored record: `deleted` for a tombstone,
 * for a record of a member that left, and for a record in a network scope
 * that its origin's current `scopes` record says it left after writing it
 * (the leave's tombstones may all have been lost); `suspended` for a record
 * of a dead member; else `live`.
 */
export class Statuses {
  /** Only members whose entries are not live are remembered: memory O(gone), not O(members). */
  readonly gone = new Map<NodeId, Gone>()

  /**
   * @param netHolds false only if no held network scope holds a record of the origin (claimChanged's first check)
   */
  constructor (private readonly self: NodeId, private readonly index: ScopeIndex, private readonly netHolds: (origin: NodeId) => boolean = () => true) {}

  /** Status that an origin's membership gives its records. */
  origin (origin: NodeId): EntryStatus {
    if (origin === this.self) return 'live'
    const g = this.gone.get(origin)
    if (g === undefined) return 'live'
    return g.state === 'dead' ? 'suspended' : 'deleted'
  }

  /** A record of another origin in a network scope that the origin's current claim says it left after writing it. */
  hidden (scope: ScopeName, r: Rec): boolean {
    return scope !== 'cluster' && r.origin !== this.self && claimHides(this.index.claim(r.origin), scope, r.lamport)
  }

  /** Status of a stored record of `scope`. */
  rec (scope: ScopeName, r: Rec): EntryStatus {
    if (r.deleted || this.hidden(scope, r)) return 'deleted'
    return this.origin(r.origin)
  }

  /** The entry consumers see (value hidden when deleted). */
  entry (scope: ScopeName, r: Rec): Entry {
    const status = this.rec(scope, r)
    const deleted = status === 'deleted'
    return { scope, table: r.table, key: r.key, value: deleted ? undefined : r.value, origin: r.origin, lamport: r.lamport, seq: r.seq, deleted, status }
  }

  /** Events for an origin's records after its membership status changed from `before`; records deleted either way get none. */
  originChanged (scopes: Iterable<HeldScope>, origin: NodeId, before: EntryStatus): EntryEvent[] {
    const out: EntryEvent[] = []
    for (const st of scopes) {
      if (!st.store.mayHold(origin)) continue
      for (const r of st.store.all()) {
        if (r.origin !== origin || r.deleted || this.hidden(st.name, r)) continue
        out.push({ entry: this.entry(st.name, r), previousStatus: before, previousValue: r.value })
      }
    }
    return out
  }

  /**
   * Events for an origin's records in network scopes whose status changed
   * because its claim changed from `before` to the current one (hidden now
   * and not before, or the reverse). Cost: a scan of the records of each held
   * network scope that one of the two claims does not list and that holds
   * records of the origin (network scopes count their records per origin:
   * a settling cluster's claims would otherwise scan every scope of every
   * node once per claim). A per-record index by origin would cost memory on
   * every record.
   */
  claimChanged (scopes: Iterable<HeldScope>, origin: NodeId, before: ScopeClaim | undefined): EntryEvent[] {
    const out: EntryEvent[] = []
    if (origin === this.self || !this.netHolds(origin)) return out
    const base = this.origin(origin)
    if (base === 'deleted') return out
    const after = this.index.claim(origin)
    for (const st of scopes) {
      if (st.name === 'cluster' || !(claimCanHide(before, st.name) || claimCanHide(after, st.name)) || !st.store.mayHold(origin)) continue
      for (const r of st.store.all()) {
        if (r.origin !== origin || r.deleted) continue
        const was = claimHides(before, st.name, r.lamport)
        if (was === claimHides(after, st.name, r.lamport)) continue
        out.push({ entry: this.entry(st.name, r), previousStatus: was ? 'deleted' : base, previousValue: r.value })
      }
    }
    return out
  }
}
