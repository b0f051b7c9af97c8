import type { Entry, EntryEvent, EntryStatus, Member, NodeId, Rng, ScopeName } from '../types.js'
import { MAX_MESSAGE_BYTES, RECONNECT_TIMEOUT_MS, RETRANSMIT_MULT } from '../constants.js'
import {
  CERT_BUDGET_BYTES, JOIN_SYNC_PEERS, MAX_NAMES, MAX_RELAYED_BROADCASTS, MAX_ENTRIES_PER_MSG, MAX_ENTRY_BYTES, OWN_ADOPT_GRACE_MS, MAX_SYNC_RESPONSE_BYTES, SCOPE_LEAVE_LINGER_MS, SCOPES_TABLE,
  FINE_RETRY_MS, SYNC_INTERVAL_MS, TOMBSTONE_TTL_MS
} from './constants.js'
import { entryBytes, entryHeader, valuePart } from '../sign/entry.js'
import { writeRefusal } from './authority.js'
import { ScopeCerts } from './certs.js'
import { type Keyring, NotManagerError } from '../sign/keyring.js'
import { InvalidScopeError, InvalidValueError, NotInScopeError, NotOwnerError } from './errors.js'
import { BroadcastQueue } from './queue.js'
import { EntryAdmission, type EntryDropReason } from './admission.js'
import { compareRecWire, deadAtOf, type Rec, recSize, SIG_WIRE_BYTES, tagOfBytes, toWire } from './record.js'
import { EarlierLifeProbes, type ProbeScopeState } from './probe.js'
import { claimOf, ScopeIndex } from './scope-index.js'
import { Names, shareOrigin } from './names.js'
import { Statuses } from './status.js'
import { keptCopy } from './kept-bytes.js'
import { compactValue } from './compact-value.js'
import type { RecordShare } from './share.js'
import { OriginCounts, ScopeStore, type Version } from './store.js'
import { buildSyncResponse, digestHash, emptySyncResponse, msgOverhead, pickPeers, pushBack, syncRequest } from './sync.js'
import type { Authority, AuthorityPolicy, LivePeers, Logger, SyncHash, SyncPlan, SyncRequest, SyncResponse, Tables, TablesInit, TablesMsg, TablesStats, WireEntry } from './types.js'
import { assertWritable, checkValue, isScopeName } from './validate.js'

/** State of one scope on this node. */
interface ScopeState {
  readonly name: ScopeName
  readonly store: ScopeStore
  readonly queue: BroadcastQueue
  /** False while leaving: no new entries accepted, queue drains, then the scope is forgotten. */
  joined: boolean
  joinSyncPending: boolean
  nextSyncAt: number
  /** Peer of the last periodic sync (sent as a digest hash) not answered "differs" yet. */
  hashSentTo: NodeId | undefined
  /** When leaveScope was called (meaningful while not joined). */
  leftAt: number
  /** Certificates (signed tables only). */
  readonly certs: ScopeCerts | undefined
}

const ANY: Authority = { kind: 'any' }

/** Size of a record in a sync response of signed tables, where a certificate usually replaces its signature. */
function signedSize (r: Rec): number {
  return recSize(r) - (r.sig === undefined ? 0 : SIG_WIRE_BYTES)
}

const NO_PEERS: LivePeers = { ids: () => [], sample: () => [] }
const NO_HASHES: readonly SyncHash[] = []

function isPeerList (alive: readonly NodeId[] | LivePeers): alive is readonly NodeId[] {
  return Array.isArray(alive)
}

const NOOP = (): void => {}
const NULL_LOGGER: Logger = { debug: NOOP, info: NOOP, warn: NOOP, error: NOOP }

/** Fills one packet's table messages from scope queues, one message per scope, within a byte budget. */
class Filler {
  readonly out: TablesMsg[] = []
  private used = 0
  private readonly byScope = new Map<ScopeName, TablesMsg>()
  /** Records taken so far, by scope (a scope taken from twice must not send one twice). */
  private readonly taken = new Map<ScopeName, Rec[]>()

  constructor (private readonly budget: number, private readonly retransmitMult: number, private readonly now: number) {}

  /** Take entries of `st` (a scope of `n` members) while the packet holds at most `upTo` bytes. */
  take (st: ScopeState, n: number, upTo: number): void {
    if (st.queue.size === 0) return
    const msg = this.byScope.get(st.name)
    const overhead = msg === undefined ? msgOverhead(st.name) : 0
    const room = Math.min(upTo, this.budget) - this.used - overhead
    if (room <= 16) return
    const limit = this.retransmitMult * Math.ceil(Math.log10(Math.max(1, n) + 1))
    const taken = this.taken.get(st.name)
    const except = taken === undefined ? undefined : new Set(taken)
    const { recs, bytes } = st.queue.take(room, limit, recSize, MAX_ENTRIES_PER_MSG - (msg?.entries.length ?? 0), undefined, except)
    if (recs.length === 0) return
    this.used += overhead + bytes
    if (taken !== undefined) taken.push(...recs)
    else this.taken.set(st.name, recs)
    const entries = recs.map((r) => toWire(r, this.now))
    if (msg !== undefined) {
      msg.entries.push(...entries)
      return
    }
    const m: TablesMsg = { scope: st.name, entries }
    this.byScope.set(st.name, m)
    this.out.push(m)
  }
}

class TablesImpl implements Tables {
  private readonly self: NodeId
  private readonly rng: Rng
  private readonly ttlMs: number
  private readonly reconnectMs: number
  private readonly syncMs: number
  /** Peers whose fine-digest sync request failed, until when they are asked with the leaves' digest (syncFailed). */
  private readonly leafOnly = new Map<NodeId, number>()
  /** Phase of this node's grid of periodic syncs (staggerSyncs), undefined if not staggered. */
  private readonly syncPhase: number | undefined
  /** A periodic sync's hash may ride on another packet from this long before its due time ... */
  private readonly syncEarlyMs: number
  /** ... and is sent alone this long after it. */
  private readonly syncLateMs: number
  private readonly maxMsgBytes: number
  private readonly maxSyncBytes: number
  private readonly retransmitMult: number
  private readonly maxRelayed: number
  private readonly log: Logger
  private readonly scopeStates = new Map<ScopeName, ScopeState>()
  /** Records per origin over all network scopes held (does any hold one of an origin: one lookup per claim change). */
  private readonly netOrigins = new OriginCounts()
  private readonly listeners = new Set<(ev: EntryEvent) => void>()
  /** network scope -> nodes whose `scopes` entry lists it, and each node's claim. */
  private readonly scopeIndex = new ScopeIndex(() => {
    const store = (this.scopeStates.get('cluster') as ScopeState).store
    return { get: (node) => store.get(SCOPES_TABLE, node), all: () => store.all(SCOPES_TABLE) }
  })
  /** Status of records as consumers see them (membership and scope claims). */
  private readonly status: Statuses
  private alive: LivePeers = NO_PEERS
  /** Our Lamport clock and the checks remote entries pass before they are applied. */
  private readonly admission: EntryAdmission
  private seq = 0
  private lastNow = 0
  private syncCount = 0
  private syncsAgreed = 0
  /** Broadcasts pruned by the queues of scopes since forgotten. */
  private prunedGone = 0
  /** Entry versions written here (and their estimated bytes), applied from gossip packets, applied from anti-entropy (sync answers, push-backs), and entries put into packets. */
  private readonly flow = { written: 0, writtenBytes: 0, learnedPush: 0, learnedSync: 0, broadcastsSent: 0 }
  /** First tick's time; NaN before. */
  private bornAt = NaN
  /** Own-origin records of an earlier life, adopted as they arrived, not (yet) written by this process. */
  private readonly adopted = new Set<Rec>()
  private readonly adoptedScope = new WeakMap<Rec, ScopeState>()
  /** Network scopes an earlier life was in and this process is not: our entries there may be above our clock. */
  private readonly probes = new EarlierLifeProbes()
  private readonly keyring: Keyring | undefined
  private readonly authority: AuthorityPolicy | undefined
  /** Every origin membership has told us of (signed tables accept entries only from these and from us), unless `knowsMember` answers. */
  private readonly known = new Set<NodeId>()
  private readonly knowsMember: ((id: NodeId) => boolean) | undefined
  /** Whether the cluster's managers revoked a member (its entries are refused). */
  private readonly isRevoked: ((id: NodeId) => boolean) | undefined
  /** Shared copies of table names and origins for stored records. */
  private readonly names: Names
  /** Records shared with the other replicas of this process (the simulator's). */
  private readonly share: RecordShare | undefined

  constructor (init: TablesInit) {
    this.self = init.self
    this.status = new Statuses(init.self, this.scopeIndex, (origin) => this.netOrigins.has(origin))
    this.rng = init.rng
    this.ttlMs = init.tombstoneTtlMs ?? TOMBSTONE_TTL_MS
    this.reconnectMs = init.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS
    this.syncMs = init.syncIntervalMs ?? SYNC_INTERVAL_MS
    this.syncPhase = init.staggerSyncs === false ? undefined : Math.floor(this.rng.next() * this.syncMs)
    const windowMs = Math.max(0, Math.min(init.syncWindowMs ?? 0, this.syncMs))
    this.syncEarlyMs = Math.floor(windowMs / 2)
    this.syncLateMs = windowMs - this.syncEarlyMs
    this.maxMsgBytes = init.maxMessageBytes ?? MAX_MESSAGE_BYTES
    this.maxSyncBytes = init.maxSyncResponseBytes ?? MAX_SYNC_RESPONSE_BYTES
    this.retransmitMult = init.retransmitMult ?? RETRANSMIT_MULT
    this.maxRelayed = init.maxRelayedBroadcasts ?? MAX_RELAYED_BROADCASTS
    this.log = init.logger ?? NULL_LOGGER
    this.admission = new EntryAdmission(init.self, this.log)
    this.keyring = init.keyring
    this.authority = init.authority
    this.knowsMember = init.knowsMember
    this.isRevoked = init.isRevoked
    this.share = init.shareRecords
    this.names = init.shareRecords?.names ?? new Names(MAX_NAMES)
    this.addScope('cluster', 0)
  }

  // ---- local API -------------------------------------------------------

  set<V>(now: number, scope: ScopeName, table: string, key: string, value: V): Entry<V> {
    const st = this.writable(scope, table, key)
    const bad = checkValue(value)
    if (bad !== undefined) throw new InvalidValueError(bad)
    // a private copy: a caller mutating its object later must not change what we replicate
    return this.writeLocal(now, st, table, key, structuredClone(value), false) as Entry<V>
  }

  delete (now: number, scope: ScopeName, table: string, key: string): void {
    const st = this.writable(scope, table, key)
    const cur = st.store.get(table, key)
    if (cur === undefined || cur.deleted) return
    this.writeLocal(now, st, table, key, undefined, true)
  }

  get<V>(scope: ScopeName, table: string, key: string): Entry<V> | undefined {
    const st = this.scopeStates.get(scope)
    const r = st?.store.get(table, key)
    return r === undefined ? undefined : this.status.entry(scope, r) as Entry<V>
  }

  entries<V>(scope: ScopeName, table?: string): Entry<V>[] {
    const st = this.scopeStates.get(scope)
    if (st === undefined) return []
    const out: Entry<V>[] = []
    for (const r of st.store.all(table)) {
      if (r.deleted) continue
      const e = this.status.entry(scope, r)
      if (e.status !== 'deleted') out.push(e as Entry<V>)
    }
    return out
  }

  joinScope (now: number, scope: ScopeName): void {
    if (!isScopeName(scope)) throw new InvalidScopeError(scope)
    this.lastNow = now
    if (scope === 'cluster') return
    const st = this.scopeStates.get(scope) ?? this.addScope(scope, now)
    if (st.joined && this.ownScopesListed(scope)) return
    st.joined = true
    st.joinSyncPending = true
    this.writeOwnScopes(now)
  }

  leaveScope (now: number, scope: ScopeName): void {
    if (!isScopeName(scope)) throw new InvalidScopeError(scope)
    this.lastNow = now
    if (scope === 'cluster') {
      this.log.warn('leaveScope(cluster) ignored: use leaveAll', { scope })
      return
    }
    const st = this.scopeStates.get(scope)
    if (st === undefined || !st.joined) return
    this.tombstoneOwn(now, st)
    // left before any sync of it: entries of an earlier life there may be above the clock
    this.probes.add([scope])
    st.joined = false
    st.joinSyncPending = false
    st.leftAt = now
    this.writeOwnScopes(now)
  }

  scopes (): ScopeName[] {
    const out: ScopeName[] = []
    for (const st of this.scopeStates.values()) if (st.joined) out.push(st.name)
    return out
  }

  scopeMembers (scope: ScopeName): NodeId[] {
    if (scope === 'cluster') {
      const out: NodeId[] = [this.self]
      for (const id of this.alive.ids()) if (id !== this.self) out.push(id)
      return out
    }
    const out: NodeId[] = []
    const ids = this.scopeIndex.members(scope)
    if (ids === undefined) return out
    for (const id of ids) if (this.status.origin(id) === 'live') out.push(id)
    return out
  }

  onEntry (cb: (ev: EntryEvent) => void): () => void {
    this.listeners.add(cb)
    return () => { this.listeners.delete(cb) }
  }

  leaveAll (now: number): void {
    this.lastNow = now
    for (const st of this.scopeStates.values()) this.tombstoneOwn(now, st)
  }

  records (now: number, scope: ScopeName): WireEntry[] {
    const st = this.scopeStates.get(scope)
    if (st === undefined) return []
    const recs = [...st.store.all()].sort((a, b) => a.table < b.table ? -1 : a.table > b.table ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
    return recs.map((r) => toWire(r, now))
  }

  stats (): TablesStats {
    const entries: Record<string, number> = {}
    for (const st of this.scopeStates.values()) entries[st.name] = st.store.count
    let pruned = this.prunedGone
    for (const st of this.scopeStates.values()) pruned += st.queue.pruned
    let queued = 0
    for (const st of this.scopeStates.values()) queued += st.queue.size
    return { entries, syncs: this.syncCount, syncsAgreed: this.syncsAgreed, broadcastsPruned: pruned, broadcastsQueued: queued, ...this.flow, dropped: { ...this.admission.dropped } }
  }

  // ---- membership ------------------------------------------------------

  memberChanged (now: number, member: Member): void {
    this.lastNow = now
    if (member.id === this.self) return
    if (this.knowsMember === undefined) this.known.add(member.id)
    const before = this.status.origin(member.id)
    const prev = this.status.gone.get(member.id)
    if (member.state === 'left' || (member.state === 'dead' && !member.restarting)) {
      const since = Math.min(member.since, now)
      if (prev === undefined || prev.state !== member.state) {
        this.status.gone.set(member.id, { state: member.state, since, reaped: false })
      }
    } else {
      this.status.gone.delete(member.id)
    }
    if (this.status.origin(member.id) !== before) this.emitAll(this.status.originChanged(this.scopeStates.values(), member.id, before))
  }

  // ---- gossip ----------------------------------------------------------

  broadcastsFor (peer: NodeId, budgetBytes: number, clusterSize: number): TablesMsg[] {
    // the network scopes `peer` is in first: their entries can ride only on packets to their members, while the
    // cluster scope's can ride on any packet, so a cluster backlog must not crowd them out. While the cluster
    // scope has entries queued too, they get half the packet first and the cluster scope the rest; what the
    // cluster scope leaves goes to them again
    const cluster = this.scopeStates.get('cluster') as ScopeState
    const nets: Array<{ st: ScopeState, n: number }> = []
    for (const st of this.scopeStates.values()) {
      if (st === cluster || st.queue.size === 0) continue
      const members = this.scopeIndex.members(st.name)
      if (members === undefined || !members.has(peer)) continue
      nets.push({ st, n: members.size })
    }
    const fill = new Filler(budgetBytes, this.retransmitMult, this.lastNow)
    if (nets.length === 0) fill.take(cluster, clusterSize, budgetBytes)
    else {
      const clusterBusy = cluster.queue.size > 0
      for (const { st, n } of nets) fill.take(st, n, clusterBusy ? budgetBytes / 2 : budgetBytes)
      if (clusterBusy) {
        fill.take(cluster, clusterSize, budgetBytes)
        for (const { st, n } of nets) fill.take(st, n, budgetBytes)
      }
    }
    for (const m of fill.out) this.flow.broadcastsSent += m.entries.length
    return fill.out
  }

  pendingScopes (): ScopeName[] {
    const out: ScopeName[] = []
    for (const st of this.scopeStates.values()) if (st.name !== 'cluster' && st.queue.size > 0) out.push(st.name)
    return out
  }

  pendingBroadcasts (): number {
    let n = 0
    for (const st of this.scopeStates.values()) n += st.queue.size
    return n
  }

  handle (now: number, from: NodeId, msg: TablesMsg, bySync = false): void {
    this.lastNow = now
    const st = this.scopeStates.get(msg.scope)
    if (st === undefined || !st.joined) return
    let n = 0
    for (const w of msg.entries) if (this.merge(now, st, w, true)) n++
    if (bySync) this.flow.learnedSync += n
    else this.flow.learnedPush += n
  }

  // ---- anti-entropy and reaping ----------------------------------------

  tick (now: number, alive: readonly NodeId[] | LivePeers): { syncs: SyncPlan[], wakeAt: number } {
    this.lastNow = now
    this.alive = isPeerList(alive) ? this.listPeers(alive) : alive
    if (Number.isNaN(this.bornAt)) this.bornAt = now
    this.reapOrigins(now)
    if (this.adopted.size > 0 && now >= this.bornAt + OWN_ADOPT_GRACE_MS) this.dropAdopted(now)
    const syncs: SyncPlan[] = []
    let wakeAt = Infinity
    for (const st of [...this.scopeStates.values()]) {
      this.reapTombstones(now, st)
      if (!st.joined) {
        if (st.queue.size === 0 || now - st.leftAt >= SCOPE_LEAVE_LINGER_MS) this.dropScope(st)
        else wakeAt = Math.min(wakeAt, st.leftAt + SCOPE_LEAVE_LINGER_MS)
        continue
      }
      // a periodic sync not taken by a packet within its window (syncHashesFor) goes alone
      const dueAt = st.joinSyncPending ? now : st.nextSyncAt + this.syncLateMs
      if (now >= dueAt) {
        const periodic = !st.joinSyncPending
        const peers = this.pickPeers(st.name, periodic ? 1 : JOIN_SYNC_PEERS)
        if (peers.length > 0) {
          // a periodic sync goes as the hash of the leaves' digest (node.ts); the full exchange follows a "differs"
          if (periodic) {
            const req: SyncRequest = { scope: st.name, digest: st.store.digest() }
            for (const to of peers) syncs.push({ to, req, periodic })
          } else {
            for (const to of peers) syncs.push({ to, req: this.syncRequestTo(now, st, to) })
          }
          // the one peer a periodic sync's hash goes to: its "differs" answer is taken until the next
          if (periodic) st.hashSentTo = peers[0]
          st.joinSyncPending = false
        }
        st.nextSyncAt = periodic ? this.nextPeriodicSync(st, now) : this.firstPeriodicSync(now)
      }
      wakeAt = Math.min(wakeAt, st.nextSyncAt + this.syncLateMs, st.store.tombstones.peekTime())
    }
    if (this.probes.size > 0) syncs.push(...this.probes.due(now, this.syncMs, (s) => this.probeState(s), (s) => this.pickPeers(s, 1)[0]))
    for (const g of this.status.gone.values()) {
      if (!g.reaped) wakeAt = Math.min(wakeAt, g.since + (g.state === 'dead' ? this.reconnectMs : this.ttlMs))
    }
    if (this.adopted.size > 0) wakeAt = Math.min(wakeAt, this.bornAt + OWN_ADOPT_GRACE_MS)
    return { syncs, wakeAt: Math.max(wakeAt, now + 1) }
  }

  handleSyncRequest (now: number, _from: NodeId, req: SyncRequest): SyncResponse {
    this.lastNow = now
    const st = this.scopeStates.get(req.scope)
    if (st === undefined || !st.joined) return emptySyncResponse(req.scope)
    const fine = req.fine === true
    if (st.certs === undefined) return buildSyncResponse(req.scope, st.store, req.digest, now, this.rng, this.maxSyncBytes, recSize, fine)
    // sized as if certificates cover every entry (their signatures left out): what they do not cover
    // brings a response at most MAX_SYNC_ENTRIES signatures (0.5 MiB) over, far below the transport's frame limit
    const res = buildSyncResponse(req.scope, st.store, req.digest, now, this.rng, this.maxSyncBytes - CERT_BUDGET_BYTES, signedSize, fine, true)
    st.certs.attach(st.store, res, this.admission.clock.value)
    return res
  }

  handleSyncHash (now: number, _from: NodeId, sh: SyncHash): boolean {
    this.lastNow = now
    const st = this.scopeStates.get(sh.scope)
    if (st === undefined || !st.joined) return false
    const [a, b] = digestHash(st.store.digest())
    if (a === sh.h[0] && b === sh.h[1]) {
      this.syncsAgreed++
      return false
    }
    return true
  }

  syncHashesFor (now: number, to: NodeId): readonly SyncHash[] {
    let out: SyncHash[] | undefined
    if (to === this.self || this.status.origin(to) !== 'live') return NO_HASHES
    for (const st of this.scopeStates.values()) {
      if (!st.joined || st.joinSyncPending || now < st.nextSyncAt - this.syncEarlyMs) continue
      if (st.name !== 'cluster' && this.scopeIndex.members(st.name)?.has(to) !== true) continue
      this.lastNow = now
      st.hashSentTo = to
      st.nextSyncAt = this.nextPeriodicSync(st, now)
      ;(out ??= []).push({ scope: st.name, h: digestHash(st.store.digest()) })
    }
    return out ?? NO_HASHES
  }

  /**
   * Due time of a scope's first periodic sync after its join sync at `now`:
   * by default the first time of this node's grid (a random phase drawn at
   * start, then every sync interval) at least half an interval later, so 1/2
   * to 3/2 intervals after it. Nodes that joined together (a cluster started
   * at once, a network created on many nodes) then do not sync at the same
   * instants for ever after (memberlist staggers its push-pull timer the
   * same way), and a node's scopes, joined at different times, still sync in
   * one tick; the next ones keep the cadence.
   */
  private firstPeriodicSync (now: number): number {
    const phase = this.syncPhase
    if (phase === undefined) return now + this.syncMs
    const earliest = now + this.syncMs / 2
    return phase + Math.ceil((earliest - phase) / this.syncMs) * this.syncMs
  }

  /**
   * Due time of the periodic sync after the one made at `now`. Without a
   * window, a sync interval after it (as it always was); with one, a sync
   * interval after this one's due time, so the cadence does not drift with
   * the packets the hashes ride on, unless that has passed already (a
   * stalled node).
   */
  private nextPeriodicSync (st: ScopeState, now: number): number {
    if (this.syncEarlyMs === 0 && this.syncLateMs === 0) return now + this.syncMs
    const next = st.nextSyncAt + this.syncMs
    return next - this.syncEarlyMs > now ? next : now + this.syncMs
  }

  handleSyncDiffers (now: number, from: NodeId, scope: ScopeName): SyncPlan | undefined {
    this.lastNow = now
    const st = this.scopeStates.get(scope)
    if (st === undefined || !st.joined || st.hashSentTo !== from) return undefined
    st.hashSentTo = undefined
    return { to: from, req: this.syncRequestTo(now, st, from) }
  }

  /** The full exchange's request to `to`: the fine digest where the store is big, unless `to` refused one lately (syncFailed). */
  private syncRequestTo (now: number, st: ScopeState, to: NodeId): SyncRequest {
    const until = this.leafOnly.get(to)
    if (until !== undefined && now >= until) this.leafOnly.delete(to)
    return until !== undefined && now < until ? { scope: st.name, digest: st.store.digest() } : syncRequest(st.name, st.store)
  }

  syncFailed (now: number, to: NodeId, req: SyncRequest): void {
    if (req.fine !== true) return
    this.leafOnly.set(to, now + FINE_RETRY_MS)
    this.log.debug('a fine-digest sync failed: asking this peer with the leaves\' digest for a while', { peer: to, scope: req.scope })
  }

  handleSyncResponse (now: number, _from: NodeId, res: SyncResponse): TablesMsg[] {
    this.lastNow = now
    this.syncCount++
    const st = this.scopeStates.get(res.scope)
    if (st === undefined || !st.joined || !res.member) {
      this.probeAnswered(now, res)
      return []
    }
    this.probes.markSynced(res.scope)
    const certified = st.certs?.certify(res, (c) => { this.refuse('bad-cert', st.name, [st.name, '(certificate)', c[0], c[1], 0, 1, 0]) })
    // learned by sync, not re-gossiped: a joining node would otherwise flood the scope
    for (const w of res.entries) if (this.merge(now, st, w, false, certified?.get(w))) this.flow.learnedSync++
    return pushBack(res.scope, st.store, res, now, this.ttlMs, this.maxMsgBytes, this.keyring !== undefined)
  }

  // ---- internals -------------------------------------------------------

  private addScope (name: ScopeName, now: number): ScopeState {
    const st: ScopeState = {
      name,
      store: new ScopeStore(name !== 'cluster' && this.netOrigins, name === 'cluster' && this.share !== undefined ? { table: SCOPES_TABLE, keys: this.share.scopeKeys } : undefined),
      queue: new BroadcastQueue(this.self, this.maxRelayed),
      joined: true,
      joinSyncPending: true,
      nextSyncAt: now + this.syncMs,
      hashSentTo: undefined,
      leftAt: 0,
      certs: this.keyring === undefined ? undefined : new ScopeCerts(name, this.self, this.keyring, (table, key) => this.authorityOf(name, table, key).kind === 'manager', this.share === undefined)
    }
    this.scopeStates.set(name, st)
    return st
  }

  private dropScope (st: ScopeState): void {
    this.prunedGone += st.queue.pruned
    st.store.unsum()
    this.scopeStates.delete(st.name)
    this.log.debug('scope forgotten', { scope: st.name })
  }

  /** A local write's scope, after the checks of its address and of this node's authority over the key. */
  private writable (scope: ScopeName, table: string, key: string): ScopeState {
    assertWritable(scope, table, key)
    const st = this.scopeStates.get(scope)
    if (st === undefined || !st.joined) throw new NotInScopeError(scope)
    this.ownAuthority(scope, table, key)
    return st
  }

  /**
   * The authority of a key this node is about to write; throws NotManagerError
   * or NotOwnerError if it may not (in unsigned tables nothing holds a manager
   * key, so manager keys are not checked there).
   */
  private ownAuthority (scope: ScopeName, table: string, key: string): Authority {
    const auth = this.authorityOf(scope, table, key)
    const why = writeRefusal(auth, this.self, this.keyring?.manager ?? true)
    if (why === undefined) return auth
    throw auth.kind === 'manager' ? new NotManagerError(`write ${scope}/${table}/${key}`) : new NotOwnerError(scope, table, key, why)
  }

  private writeLocal (now: number, st: ScopeState, table: string, key: string, value: unknown, deleted: boolean): Entry {
    this.lastNow = now
    const auth = this.ownAuthority(st.name, table, key)
    const v: Version = { value: deleted ? undefined : value, origin: this.self, lamport: this.admission.clock.value + 1, seq: this.seq + 1, deleted, deadAt: now }
    if (this.keyring !== undefined) {
      const vb = valuePart(deleted, v.value)
      v.vt = deleted ? 0 : tagOfBytes(vb)
      const bytes = entryBytes(entryHeader(st.name, table, key, this.self, v.lamport, v.seq, deleted), vb)
      v.sig = auth.kind === 'manager' ? this.keyring.signManager(bytes) : this.keyring.sign(bytes)
    }
    const size = recSize({ table, key, leaf: 0, li: 0, ...v, vt: 0, size: 0, sig: v.sig })
    if (!deleted && size > MAX_ENTRY_BYTES) throw new InvalidValueError(`encoded entry is ${size} bytes, more than ${MAX_ENTRY_BYTES}`)
    this.admission.clock.next()
    this.seq++
    this.flow.written++
    this.flow.writtenBytes += size
    const cur = st.store.get(table, key)
    if (cur !== undefined) this.adopted.delete(cur)
    return this.apply(st, cur, table, key, v, true)
  }

  /**
   * Merge one remote entry; true if it changed our state. Checks run
   * cheapest first: the key's authority, whether it is newer than what we
   * hold (older ones are dropped unverified), its signature (unless
   * `certified` by its origin's certificate: then it is the entry's value
   * part, as hashed), then the counter bounds. Nothing of a refused entry is
   * applied, relayed or moves our counters.
   */
  private merge (now: number, st: ScopeState, w: WireEntry, requeue: boolean, certified?: Uint8Array): boolean {
    const [table, key, origin, lamport, seq] = w
    const deleted = w[5] === 1
    const auth = this.authorityOf(st.name, table, key)
    if (auth.kind === 'refused') return this.refuse('refused-key', st.name, w)
    if (auth.kind === 'node' && auth.node !== origin) return this.refuse('not-owner', st.name, w)
    const g = this.status.gone.get(origin)
    if (g?.reaped === true) return false
    // a key pair made up for the purpose signs as well as a member's: its entries would never be suspended
    // or reaped, as only members are. Refused until membership knows the origin (anti-entropy offers them again)
    if (this.keyring !== undefined && origin !== this.self && !(this.knowsMember?.(origin) ?? this.known.has(origin))) return this.refuse('unknown-origin', st.name, w)
    // a revoked member's entries: what we hold is withdrawn with it (held left), nothing newer is taken
    if (this.isRevoked?.(origin) === true) return this.refuse('revoked-origin', st.name, w)
    const cur = st.store.get(table, key)
    const ownScopes = origin === this.self && st.name === 'cluster' && table === SCOPES_TABLE && !deleted
    if (cur !== undefined && compareRecWire(cur, w) >= 0) {
      // a scopes record of ours (maybe of an earlier life, maybe equal to one of this life's): probe the scopes it lists
      if (ownScopes && this.probes.adds(w[6], this.heldJoined) && this.verified(st.name, w, auth)) this.probes.add(w[6], this.heldJoined)
      return false
    }
    // a certified entry's own signature (if any came) was not checked: not kept
    const sig = certified !== undefined && auth.kind !== 'manager' ? undefined : w[7]
    // a replica of this process (the simulator's) stored exactly this version, value object and signature, checked
    const same = this.share?.recordOf(w, origin, sig)
    let vb = certified
    if (this.keyring !== undefined && same === undefined && (vb === undefined || auth.kind === 'manager')) {
      // a certificate is signed with a node key; entries of manager keys need the manager key's own signature
      vb ??= valuePart(deleted, w[6])
      if (!this.signatureOk(st.name, w, auth, vb)) return false
    }
    if (ownScopes) this.probes.add(w[6], this.heldJoined)
    if (!this.admission.admit(now, st.name, w, this.seq)) return false
    if (origin === this.self && seq > this.seq) this.seq = seq
    if (origin === this.self && cur !== undefined && cur.origin === this.self) {
      // a write of ours from an earlier life (before a restart) beats what this
      // process holds: what we hold now is the truth, so write it again above it
      this.log.debug('re-asserting own entry over an older life\'s write', { scope: st.name, table, key })
      return this.tryWriteLocal(now, st, table, key, cur.deleted ? undefined : cur.value, cur.deleted)
    }
    const age = deleted ? (w[6] as number) : 0
    // an expired tombstone only matters if it deletes something we hold
    if (deleted && cur === undefined && age >= this.ttlMs) return false
    const shared = this.names.get(origin)
    if (!deleted) shareOrigin(w[6], shared)
    // a decoded signature is a view of its frame: stored as it is, it would keep the frame alive (tables/kept-bytes.ts);
    // the simulator hands replicas one message object (no frame), and shares records by the signature object
    const kept = sig === undefined || this.share !== undefined ? sig : keptCopy(sig)
    // a decoded object with its fields in one object (tables/compact-value.ts); the simulator shares the message's
    const value = deleted ? undefined : this.share === undefined ? compactValue(w[6]) : w[6]
    const v: Version = { value, origin: shared, lamport, seq, deleted, deadAt: now - age, sig: kept }
    if (vb !== undefined && !deleted && same === undefined) v.vt = tagOfBytes(vb)
    this.apply(st, cur, cur?.table ?? this.names.get(table), key, v, requeue, same)
    if (origin === this.self && !deleted) {
      // ours from an earlier life, unknown to this process: keep it live for now (no flap
      // during a restart), tombstone it after the grace unless this process writes it
      const rec = st.store.get(table, key) as Rec
      this.adopted.add(rec)
      this.adoptedScope.set(rec, st)
    }
    return true
  }

  /** Store version `v` of (table, key) over `cur` (as `shared`, another replica's record of it, if given). */
  private apply (st: ScopeState, cur: Rec | undefined, table: string, key: string, v: Version, requeue: boolean, shared?: Rec): Entry {
    const prevStatus = cur === undefined ? undefined : this.status.rec(st.name, cur)
    if (cur?.origin === this.self) st.certs?.ownChanged(cur.leaf)
    const rec = cur === undefined ? st.store.insert(table, key, v, shared) : st.store.replace(cur, v, shared)
    if (shared === undefined) this.share?.made(rec)
    if (v.deleted) st.store.tombstones.push(v.deadAt + this.ttlMs, rec)
    if (v.origin === this.self) st.certs?.ownChanged(rec.leaf)
    // the older version leaves the queue: the newer one goes to its end (requeue) or is not sent
    if (cur !== undefined) st.queue.drop(cur)
    if (requeue) st.queue.push(rec)
    const scopesRec = st.name === 'cluster' && table === SCOPES_TABLE
    const prevClaim = scopesRec ? this.scopeIndex.set(key, cur, rec) : undefined
    const entry = this.status.entry(st.name, rec)
    if (entry.status !== 'deleted' || (prevStatus !== undefined && prevStatus !== 'deleted')) this.emit({ entry, previousStatus: prevStatus, previousValue: cur === undefined || cur.deleted ? undefined : cur.value })
    if (scopesRec) this.emitAll(this.status.claimChanged(this.scopeStates.values(), key, prevClaim))
    return entry
  }

  private dropAdopted (now: number): void {
    for (const rec of this.adopted) {
      const st = this.adoptedScope.get(rec)
      if (st === undefined || !st.joined || !st.store.holds(rec) || rec.origin !== this.self || rec.deleted) continue
      if (st.name === 'cluster' && rec.table === SCOPES_TABLE) {
        // an earlier life's scopes record: say what this process is in (maybe nothing), never tombstone it
        this.writeOwnScopes(now)
        continue
      }
      this.log.info('tombstoning own entry left over from before a restart', { scope: st.name, table: rec.table, key: rec.key })
      this.tryWriteLocal(now, st, rec.table, rec.key, undefined, true)
    }
    this.adopted.clear()
  }

  private tombstoneOwn (now: number, st: ScopeState): void {
    for (const r of [...st.store.all()]) {
      if (r.origin === this.self && !r.deleted) this.tryWriteLocal(now, st, r.table, r.key, undefined, true)
    }
  }

  /**
   * A write the tables make on their own (restart, leave): false, logged, if
   * this node may no longer write the key (an earlier life held the manager
   * key, or the authority policy changed).
   */
  private tryWriteLocal (now: number, st: ScopeState, table: string, key: string, value: unknown, deleted: boolean): boolean {
    try {
      this.writeLocal(now, st, table, key, value, deleted)
      return true
    } catch (err) {
      this.log.warn('cannot rewrite own entry', { scope: st.name, table, key, error: (err as Error).message })
      return false
    }
  }

  private ownScopesListed (scope: ScopeName): boolean {
    const r = this.scopeStates.get('cluster')?.store.get(SCOPES_TABLE, this.self)
    return r !== undefined && r.origin === this.self && !r.deleted && Array.isArray(r.value) && (r.value as unknown[]).includes(scope)
  }

  /** A scope this node holds joined (an earlier life's scopes record needs no probe of it: see EarlierLifeProbes.adds). */
  private readonly heldJoined = (scope: ScopeName): boolean => this.scopeStates.get(scope)?.joined === true

  private probeState (scope: ScopeName): ProbeScopeState {
    const st = this.scopeStates.get(scope)
    if (st === undefined || !st.joined) return 'out'
    return st.joinSyncPending ? 'syncing' : 'joined'
  }

  /** A probe's answer: move the clock past it, and write our scopes record above our old entries there unless it lists the scope. */
  private probeAnswered (now: number, res: SyncResponse): void {
    // our own entries move our counters: only those we signed (others' only shape the probe's next digest)
    const entries = res.entries.filter((w) => w[2] !== this.self || this.verified(res.scope, w, this.authorityOf(res.scope, w[0], w[1])))
    const own = this.probes.answered(now, { ...res, entries }, this.self)
    if (own === undefined) return
    for (const w of entries) {
      if (w[2] === this.self && this.admission.admit(now, res.scope, w, this.seq) && w[4] > this.seq) this.seq = w[4]
    }
    const cur = this.scopeStates.get('cluster')?.store.get(SCOPES_TABLE, this.self)
    if (cur === undefined || cur.origin !== this.self || cur.lamport > own || claimOf(cur)?.scopes.has(res.scope) === true) return
    this.log.info('writing own scopes record above entries of an earlier life', { scope: res.scope })
    this.writeOwnScopes(now, true)
  }

  /** Write our `scopes` record: the joined network scopes, or an empty list (unless it already says that and not `force`). */
  private writeOwnScopes (now: number, force = false): void {
    const cluster = this.scopeStates.get('cluster') as ScopeState
    const joined = this.scopes().filter((s) => s !== 'cluster').sort()
    const cur = cluster.store.get(SCOPES_TABLE, this.self)
    if (joined.length === 0) {
      // an empty list, not a tombstone: peers hide our entries of scopes we left by comparing them with this
      // record (their tombstones may all have been lost), so it must outlive the tombstone ttl
      if (cur === undefined || (!force && !cur.deleted && Array.isArray(cur.value) && cur.value.length === 0)) return
      this.writeLocal(now, cluster, SCOPES_TABLE, this.self, [], false)
      return
    }
    this.writeLocal(now, cluster, SCOPES_TABLE, this.self, joined, false)
  }

  private emitAll (evs: EntryEvent[]): void {
    for (const ev of evs) this.emit(ev)
  }

  private reapTombstones (now: number, st: ScopeState): void {
    const heap = st.store.tombstones
    while (heap.peekTime() <= now) {
      const r = heap.pop() as Rec
      if (!r.deleted || deadAtOf(r) + this.ttlMs > now || !st.store.holds(r)) continue
      if (r.origin === this.self) st.certs?.ownChanged(r.leaf)
      st.store.remove(r)
      st.queue.drop(r)
      if (st.name === 'cluster' && r.table === SCOPES_TABLE) this.emitAll(this.status.claimChanged(this.scopeStates.values(), r.key, this.scopeIndex.set(r.key, r, undefined)))
    }
  }

  private reapOrigins (now: number): void {
    for (const [id, g] of this.status.gone) {
      if (g.reaped) continue
      const limit = g.state === 'dead' ? this.reconnectMs : this.ttlMs
      if (now - g.since < limit) continue
      g.reaped = true
      this.known.delete(id)
      this.names.forget(id)
      for (const st of this.scopeStates.values()) st.certs?.forget(id)
      // statuses first: removing its scopes record would change the status of its other records
      const reaped: Array<[ScopeState, Rec, EntryStatus]> = []
      for (const st of this.scopeStates.values()) {
        for (const r of st.store.all()) if (r.origin === id) reaped.push([st, r, this.status.rec(st.name, r)])
      }
      for (const [st, r, was] of reaped) {
        st.store.remove(r)
        st.queue.drop(r)
        if (st.name === 'cluster' && r.table === SCOPES_TABLE) this.scopeIndex.set(r.key, r, undefined)
        if (was !== 'deleted') {
          this.emit({ entry: { ...this.status.entry(st.name, r), value: undefined, deleted: true, status: 'deleted' }, previousStatus: was, previousValue: r.deleted ? undefined : r.value })
        }
      }
      this.log.info('reaped entries of gone member', { member: id, state: g.state })
    }
  }

  private pickPeers (scope: ScopeName, want: number): NodeId[] {
    if (scope === 'cluster') return this.alive.sample(want)
    const ids = this.scopeIndex.members(scope)
    if (ids === undefined) return []
    return pickPeers([...ids].filter((id) => this.status.origin(id) === 'live'), this.self, want, this.rng)
  }

  private listPeers (ids: readonly NodeId[]): LivePeers {
    return { ids: () => ids, sample: (want) => pickPeers(ids, this.self, want, this.rng) }
  }

  // ---- authority, signatures and certificates ----------------------------

  private authorityOf (scope: ScopeName, table: string, key: string): Authority {
    // the reserved scopes table: each node's record is its own
    if (scope === 'cluster' && table === SCOPES_TABLE) return { kind: 'node', node: key }
    return this.authority?.(scope, table, key) ?? ANY
  }

  private refuse (reason: EntryDropReason, scope: ScopeName, w: WireEntry): false {
    this.admission.refuse(reason, scope, w)
    return false
  }

  /** True in unsigned tables, else if the entry's own signature is valid (refusals counted). */
  private verified (scope: ScopeName, w: WireEntry, auth: Authority): boolean {
    return this.keyring === undefined || this.signatureOk(scope, w, auth, valuePart(w[5] === 1, w[6]))
  }

  /** True if the entry carries a valid signature by whom its key's authority requires; `vb` is its value part. Refusals are counted. */
  private signatureOk (scope: ScopeName, w: WireEntry, auth: Authority, vb: Uint8Array): boolean {
    const kr = this.keyring
    if (kr === undefined) return true
    const sig = w[7]
    if (sig === undefined) return this.refuse('unsigned', scope, w)
    const bytes = entryBytes(entryHeader(scope, w[0], w[1], w[2], w[3], w[4], w[5] === 1), vb)
    if (auth.kind === 'manager') return kr.verifyManager(bytes, sig) || this.refuse('not-manager', scope, w)
    return kr.verify(w[2], bytes, sig) || this.refuse('bad-signature', scope, w)
  }

  private emit (ev: EntryEvent): void {
    for (const cb of this.listeners) {
      try {
        cb(ev)
      } catch (err) {
        this.log.error('entry listener threw', { err: String(err), scope: ev.entry.scope, table: ev.entry.table })
      }
    }
  }
}

/** Create the replicated tables of one node (sans-IO). */
export function createTables (init: TablesInit): Tables {
  return new TablesImpl(init)
}
