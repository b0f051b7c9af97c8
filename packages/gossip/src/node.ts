import { decodePacket, decodeRequest, decodeResponse, encodeFrame } from './codec/codec.js'
import type { MemberSnapshot, Packet, RequestMsg, ResponseMsg } from './codec/messages.js'
import type { GossipConfig } from './config.js'
import { createNullLogger, type Logger } from './logger.js'
import type { MemberIndex } from './membership/member-table.js'
import { Membership, type Outbox } from './membership/membership.js'
import { StatsCounter } from './stats.js'
import type { Keyring } from './sign/keyring.js'
import { createTables, digestHash, emptySyncResponse, type RecordShare, type AuthorityPolicy, type LivePeers, type SyncHash, type Tables, type TablesMsg } from './tables/index.js'
import type { Entry, EntryEvent, GossipStats, Member, MemberEvent, Millis, NodeId, Rng, ScopeName } from './types.js'

const NO_TABLES: TablesMsg[] = []

/** msgpack bytes of one sync hash beside its scope name: map header, keys `scope` and `h`, two uint32s. */
const SYNC_HASH_OVERHEAD_BYTES = 24

/** What the node wants done after an input: datagrams, requests, and when to call `tick` next. */
export interface NodeOutput {
  send: Array<{ to: NodeId, msg: Packet }>
  requests: Array<{ to: NodeId, req: RequestMsg }>
  /** Call `tick` at (or soon after) this time. */
  wakeAt: Millis
}

/** Options and components of {@link createNode}. */
export interface NodeInit {
  id: NodeId
  addrs: string[]
  cfg: GossipConfig
  rng: Rng
  logger?: Logger
  /** Starting incarnation (a restarted node may pass its last one + 1). @default 0 */
  incarnation?: number
  /** Tombstone TTL for the tables (ms). */
  tombstoneTtlMs?: number
  /** Anti-entropy period (ms). */
  syncIntervalMs?: number
  /** Member ID index shared by many nodes of one process (the simulator) to save memory. @default a private one */
  memberIndex?: MemberIndex
  /** Stored records shared by many nodes of one process (the simulator) to save memory: one per version, not one per node. @default none */
  shareRecords?: RecordShare
  /** Keys to sign and verify entries and membership facts; without one nothing is signed or checked (tests, benchmarks). */
  keyring?: Keyring
  /** Who may write each table key (see Tables). */
  authority?: AuthorityPolicy
  /**
   * Do not wake for gossip rounds while nothing is queued for broadcast:
   * an idle node then wakes only for probes and syncs. The caller must read
   * `nextWake()` after `set`/`delete` (they queue broadcasts without
   * returning a wake-up); the real-time driver does, the simulator's
   * scenarios write behind the node's back and keep this off.
   * @default false
   */
  skipIdleGossipRounds?: boolean
}

/** Sans-IO gossip node: SWIM+Lifeguard membership plus the replicated tables. */
export interface GossipNode {
  readonly id: NodeId
  readonly tables: Tables
  /** Begin probing and gossiping; returns the first wake-up. */
  start(now: Millis): NodeOutput
  /** Stop probing (the driver stops delivering input). */
  stop(): void
  /** Learn members without gossiping them (simulator bootstrap, persisted peers). */
  seed(now: Millis, members: MemberSnapshot[]): void
  /** A decoded, validated datagram. */
  handle(now: Millis, from: NodeId, msg: Packet): NodeOutput
  /** Raw datagram bytes: decoded, validated (drops counted by reason), then handled. Never throws. */
  receive(now: Millis, from: NodeId, bytes: Uint8Array): NodeOutput
  /** Timers. */
  tick(now: Millis): NodeOutput
  /** When `tick` should run next (as the last output's `wakeAt`, also after `set`/`delete`). */
  nextWake(): Millis
  /** Answer a request (push-pull or sync). */
  handleRequest(now: Millis, from: NodeId, req: RequestMsg): { response: ResponseMsg, out: NodeOutput }
  /** Raw request bytes; undefined response if the request was dropped. Never throws. */
  receiveRequest(now: Millis, from: NodeId, bytes: Uint8Array): { response: Uint8Array | undefined, out: NodeOutput }
  /** The answer to a request we sent. */
  handleResponse(now: Millis, from: NodeId, res: ResponseMsg): NodeOutput
  /** Raw response bytes. Never throws. */
  receiveResponse(now: Millis, from: NodeId, bytes: Uint8Array): NodeOutput
  /** A request we sent failed (timeout, unreachable). */
  requestFailed(now: Millis, to: NodeId, req: RequestMsg): void
  /** A push-pull request (join or reconnect). */
  pushPullRequest(join: boolean): RequestMsg
  /** Announce a restart: packets to a few members; peers keep us live for the restart grace. */
  announceRestart(now: Millis): NodeOutput
  /** Leave for good: tombstone own entries, announce leave. */
  leave(now: Millis): NodeOutput
  /**
   * The members the cluster's managers revoked (the whole set): held left,
   * their alive refused, their packets, requests, responses and newer
   * entries dropped, on this node, for as long as they stay in the set.
   */
  revoke(now: Millis, ids: ReadonlySet<NodeId>): void
  members(now: Millis): Member[]
  member(id: NodeId): Member | undefined
  onMember(cb: (ev: MemberEvent) => void): () => void
  /** Set the addresses we advertise (bumps our incarnation). */
  setAddrs(addrs: string[]): void
  /** The resolved configuration. */
  config(): GossipConfig
  /** Lifeguard local health score. */
  health(): number
  incarnation(): number
  set<V>(now: Millis, scope: ScopeName, table: string, key: string, value: V): Entry<V>
  delete(now: Millis, scope: ScopeName, table: string, key: string): void
  joinScope(now: Millis, scope: ScopeName): void
  leaveScope(now: Millis, scope: ScopeName): void
  onEntry(cb: (ev: EntryEvent) => void): () => void
  /** Message counters (the driver and simulator count bytes through it). */
  readonly counters: StatsCounter
  stats(): GossipStats
}

/** The answer to a request refused whole (a revoked or unadmitted requester): nothing. */
function emptyResponse (req: RequestMsg): ResponseMsg {
  return req.t === 'push-pull' ? { t: 'push-pull', members: [] } : { t: 'sync', res: emptySyncResponse(req.req.scope) }
}

class Node implements GossipNode {
  readonly id: NodeId
  readonly tables: Tables
  readonly counters = new StatsCounter()
  private readonly cfg: GossipConfig
  private readonly rng: Rng
  private readonly log: Logger
  private readonly membership: Membership
  private readonly memberSubs = new Set<(ev: MemberEvent) => void>()
  /** Live members for the tables' anti-entropy, read from membership when needed. */
  private readonly peers: LivePeers
  private nextGossipAt = Infinity
  private tablesWakeAt = Infinity
  private running = false
  private readonly skipIdleGossip: boolean
  private readonly admissionRequired: boolean

  constructor (init: NodeInit) {
    this.id = init.id
    this.cfg = init.cfg
    this.rng = init.rng
    this.log = init.logger ?? createNullLogger()
    this.skipIdleGossip = init.skipIdleGossipRounds === true
    this.admissionRequired = init.keyring?.admissionRequired === true
    this.tables = createTables({
      self: init.id,
      rng: init.rng,
      reconnectTimeoutMs: init.cfg.reconnectTimeoutMs,
      maxMessageBytes: Math.max(1024, init.cfg.maxMessageBytes - 1024),
      retransmitMult: init.cfg.retransmitMult,
      // one probe interval: a ping goes to some member every interval, so a cluster-scope hash always finds one
      syncWindowMs: init.cfg.probeIntervalMs,
      logger: this.log,
      knowsMember: (id) => this.membership.knows(id),
      isRevoked: (id) => this.membership.isRevoked(id),
      ...(init.shareRecords !== undefined ? { shareRecords: init.shareRecords } : {}),
      ...(init.keyring !== undefined ? { keyring: init.keyring } : {}),
      ...(init.authority !== undefined ? { authority: init.authority } : {}),
      ...(init.tombstoneTtlMs !== undefined ? { tombstoneTtlMs: init.tombstoneTtlMs } : {}),
      ...(init.syncIntervalMs !== undefined ? { syncIntervalMs: init.syncIntervalMs } : {})
    })
    this.membership = new Membership({
      self: init.id,
      addrs: init.addrs,
      incarnation: init.incarnation ?? 0,
      cfg: init.cfg,
      rng: init.rng,
      logger: this.log,
      ...(init.keyring !== undefined ? { keyring: init.keyring } : {}),
      ...(init.memberIndex !== undefined ? { index: init.memberIndex } : {}),
      onDrop: (reason) => { this.counters.drop(reason, 0) },
      onChange: (now, member, previous) => {
        this.tables.memberChanged(now, member)
        if (member.state !== previous) this.log.debug('member changed', { member: member.id, state: member.state, previous, incarnation: member.incarnation })
        for (const cb of this.memberSubs) {
          try { cb({ member, previous }) } catch (err) { this.log.error('member listener threw', { err: String(err) }) }
        }
      }
    })
    const live = (r: { state: string }): boolean => r.state === 'alive' || r.state === 'suspect'
    this.peers = { ids: () => this.membership.liveIds(), sample: (want) => this.membership.randomMembers(want, live) }
  }

  start (now: Millis): NodeOutput {
    if (this.running) return this.tick(now)
    this.running = true
    this.membership.start(now)
    this.tables.memberChanged(now, { id: this.id, addrs: [], state: 'alive', incarnation: this.membership.incarnation(), since: now, restarting: false })
    this.nextGossipAt = now + Math.floor(this.rng.next() * this.cfg.gossipIntervalMs)
    this.tablesWakeAt = now
    return this.tick(now)
  }

  stop (): void {
    this.running = false
    this.membership.stop()
    this.nextGossipAt = Infinity
    this.tablesWakeAt = Infinity
  }

  seed (now: Millis, members: MemberSnapshot[]): void {
    // the tables ask membership which members it knows: only listeners need to hear of alive ones
    this.membership.seed(now, members, this.memberSubs.size > 0)
  }

  revoke (now: Millis, ids: ReadonlySet<NodeId>): void {
    this.membership.revoke(now, ids)
  }

  /**
   * A request of a node that is not a member, in a cluster that admits only
   * admitted members (its alive, carrying no valid admission, was refused):
   * answered empty, counted. A member's table entries need no such check
   * (an origin must be a member); this keeps a holder of the cluster key
   * alone from reading the tables and the member list.
   */
  private notAdmitted (from: NodeId): boolean {
    if (!this.admissionRequired || from === this.id || this.membership.knows(from)) return false
    this.counters.drop('not-admitted-peer', 0)
    return true
  }

  /** A revoked member's packet, request or response: dropped whole, counted. */
  private fromRevoked (from: NodeId, bytes: number): boolean {
    if (!this.membership.isRevoked(from)) return false
    this.counters.drop('revoked-peer', bytes)
    return true
  }

  handle (now: Millis, from: NodeId, msg: Packet): NodeOutput {
    const out = newOutbox()
    if (this.fromRevoked(from, 0)) return this.finish(now, out)
    if (msg.tb !== undefined) for (const m of msg.tb) this.tables.handle(now, from, m, msg.t === 'push')
    if (msg.sh !== undefined) {
      const differ = msg.sh.filter((h) => this.tables.handleSyncHash(now, from, h)).map((h) => h.scope)
      if (differ.length > 0) out.packets.push({ to: from, packet: { t: 'gossip', sd: differ } })
    }
    if (msg.sd !== undefined) {
      for (const scope of msg.sd) {
        const s = this.tables.handleSyncDiffers(now, from, scope)
        if (s !== undefined) out.requests.push({ to: s.to, req: { t: 'sync', req: s.req } })
      }
    }
    this.membership.handlePacket(now, from, msg, out)
    // a packet that brought a sync hash is not answered with ours: the two syncs would race, and the one
    // that won would leave the other's new entries learned by sync (not re-gossiped) instead of pushed
    return this.finish(now, out, msg.sh !== undefined ? from : undefined)
  }

  receive (now: Millis, from: NodeId, bytes: Uint8Array): NodeOutput {
    if (this.fromRevoked(from, bytes.length)) return this.finish(now, newOutbox())
    const r = decodePacket(bytes, this.cfg.maxMessageBytes)
    if (!r.ok) {
      this.counters.drop(r.reason, bytes.length)
      this.log.debug('dropped frame', { from, reason: r.reason, field: r.field })
      return this.finish(now, newOutbox())
    }
    this.counters.received(r.value.t, bytes.length)
    return this.handle(now, from, r.value)
  }

  tick (now: Millis): NodeOutput {
    const out = newOutbox()
    if (!this.running) return this.finish(now, out)
    this.membership.tick(now, out)
    if (now >= this.nextGossipAt) {
      this.nextGossipAt += this.cfg.gossipIntervalMs
      if (this.nextGossipAt <= now) this.nextGossipAt = now + this.cfg.gossipIntervalMs
      // with nothing queued no gossip packet would be sent: skip choosing targets
      if (!this.skipIdleGossip || this.gossipPending()) for (const to of this.gossipTargets(now)) out.packets.push({ to, packet: { t: 'gossip' } })
    }
    if (now >= this.tablesWakeAt) {
      // probes first: a sync due now rides on this tick's ping rather than going alone
      for (const { to, packet } of out.packets) this.attachSyncHashes(now, to, packet)
      const r = this.tables.tick(now, this.peers)
      this.tablesWakeAt = Math.max(r.wakeAt, now + 1)
      // periodic syncs go as digest hashes, one gossip packet per peer; a peer whose digest differs answers
      // `sd` and we run the full sync then
      const hashes = new Map<NodeId, SyncHash[]>()
      for (const s of r.syncs) {
        if (s.periodic !== true) { out.requests.push({ to: s.to, req: { t: 'sync', req: s.req } }); continue }
        const sh: SyncHash = { scope: s.req.scope, h: digestHash(s.req.digest) }
        const list = hashes.get(s.to)
        if (list === undefined) hashes.set(s.to, [sh])
        else list.push(sh)
      }
      for (const [to, sh] of hashes) out.packets.push({ to, packet: { t: 'gossip', sh } })
    }
    return this.finish(now, out)
  }

  handleRequest (now: Millis, from: NodeId, req: RequestMsg): { response: ResponseMsg, out: NodeOutput } {
    const out = newOutbox()
    // (receiveRequest answers a revoked member nothing; a caller of this one gets an empty answer)
    if (this.fromRevoked(from, 0)) return { response: emptyResponse(req), out: this.finish(now, out) }
    if (req.t === 'push-pull') {
      // merge first so our answer already carries any refutation
      this.membership.mergeState(now, from, req.members)
      // where members must be admitted, a requester whose own alive we refused learns nothing of the cluster
      if (this.notAdmitted(from)) return { response: emptyResponse(req), out: this.finish(now, out) }
      return { response: { t: 'push-pull', members: this.membership.snapshot() }, out: this.finish(now, out) }
    }
    if (this.notAdmitted(from)) return { response: emptyResponse(req), out: this.finish(now, out) }
    const res = this.tables.handleSyncRequest(now, from, req.req)
    return { response: { t: 'sync', res }, out: this.finish(now, out) }
  }

  receiveRequest (now: Millis, from: NodeId, bytes: Uint8Array): { response: Uint8Array | undefined, out: NodeOutput } {
    if (this.fromRevoked(from, bytes.length)) return { response: undefined, out: this.finish(now, newOutbox()) }
    const r = decodeRequest(bytes, this.cfg.maxRequestBytes)
    if (!r.ok) {
      this.counters.drop(r.reason, bytes.length)
      this.log.debug('dropped request', { from, reason: r.reason, field: r.field })
      return { response: undefined, out: this.finish(now, newOutbox()) }
    }
    this.counters.received(`${r.value.t}-req`, bytes.length)
    const { response, out } = this.handleRequest(now, from, r.value)
    const enc = encodeFrame(response)
    this.counters.sent(`${response.t}-res`, enc.length)
    return { response: enc, out }
  }

  handleResponse (now: Millis, from: NodeId, res: ResponseMsg): NodeOutput {
    const out = newOutbox()
    if (this.fromRevoked(from, 0)) return this.finish(now, out)
    if (res.t === 'push-pull') {
      this.membership.mergeState(now, from, res.members)
    } else {
      for (const m of this.tables.handleSyncResponse(now, from, res.res)) out.packets.push({ to: from, packet: { t: 'push', tb: [m] } })
    }
    return this.finish(now, out)
  }

  receiveResponse (now: Millis, from: NodeId, bytes: Uint8Array): NodeOutput {
    const r = decodeResponse(bytes, this.cfg.maxRequestBytes)
    if (!r.ok) {
      this.counters.drop(r.reason, bytes.length)
      this.log.debug('dropped response', { from, reason: r.reason, field: r.field })
      return this.finish(now, newOutbox())
    }
    this.counters.received(`${r.value.t}-res`, bytes.length)
    return this.handleResponse(now, from, r.value)
  }

  requestFailed (now: Millis, to: NodeId, req: RequestMsg): void {
    this.counters.requestsFailed++
    if (req.t === 'sync') this.tables.syncFailed(now, to, req.req)
    this.log.debug('request failed', { to, type: req.t })
  }

  pushPullRequest (join: boolean): RequestMsg { return this.membership.pushPullRequest(join) }

  announceRestart (now: Millis): NodeOutput {
    const u = this.membership.announceRestart()
    return this.announce(now, [u])
  }

  leave (now: Millis): NodeOutput {
    this.tables.leaveAll(now)
    const u = this.membership.leave()
    return this.announce(now, [u])
  }

  private announce (now: Millis, mb: Packet['mb']): NodeOutput {
    const out = newOutbox()
    const targets = this.membership.randomMembers(this.cfg.gossipNodes * 2, r => r.state === 'alive' || r.state === 'suspect')
    for (const to of targets) out.packets.push({ to, packet: { t: 'gossip', mb } })
    const r = this.finish(now, out)
    r.wakeAt = Math.min(r.wakeAt, now + this.cfg.gossipIntervalMs)
    return r
  }

  members (now: Millis): Member[] { return this.membership.members(now) }
  member (id: NodeId): Member | undefined { return this.membership.member(id) }
  onMember (cb: (ev: MemberEvent) => void): () => void {
    this.memberSubs.add(cb)
    return () => { this.memberSubs.delete(cb) }
  }

  setAddrs (addrs: string[]): void { this.membership.setAddrs(addrs) }
  config (): GossipConfig { return this.cfg }
  health (): number { return this.membership.health() }
  incarnation (): number { return this.membership.incarnation() }

  set<V> (now: Millis, scope: ScopeName, table: string, key: string, value: V): Entry<V> {
    this.keepGossipSlot(now)
    return this.tables.set(now, scope, table, key, value)
  }

  delete (now: Millis, scope: ScopeName, table: string, key: string): void {
    this.keepGossipSlot(now)
    this.tables.delete(now, scope, table, key)
  }

  joinScope (now: Millis, scope: ScopeName): void {
    this.tables.joinScope(now, scope)
    this.tablesWakeAt = now
  }

  leaveScope (now: Millis, scope: ScopeName): void {
    this.tables.leaveScope(now, scope)
    this.tablesWakeAt = now
  }

  onEntry (cb: (ev: EntryEvent) => void): () => void { return this.tables.onEntry(cb) }

  stats (): GossipStats { return this.counters.snapshot(this.tables.stats()) }

  /**
   * Random cluster members, plus `gossipNodes` random members of every network
   * scope with queued broadcasts (its entries only ride on packets to its members).
   */
  private gossipTargets (now: Millis): NodeId[] {
    const targets = this.membership.gossipTargets(now)
    for (const scope of this.tables.pendingScopes()) {
      const cands = this.tables.scopeMembers(scope).filter(id => id !== this.id && !targets.includes(id) && this.isLive(id))
      for (let i = 0; i < this.cfg.gossipNodes && cands.length > 0; i++) {
        const j = Math.floor(this.rng.next() * cands.length)
        targets.push(cands[j] as NodeId)
        cands[j] = cands[cands.length - 1] as NodeId
        cands.pop()
      }
    }
    return targets
  }

  private isLive (id: NodeId): boolean {
    const m = this.membership.member(id)
    return m !== undefined && (m.state === 'alive' || m.state === 'suspect')
  }

  /** Periodic sync hashes within their window ride on a ping or ack to a live member (the tables pick the scopes `to` is in). */
  private attachSyncHashes (now: Millis, to: NodeId, packet: Packet): void {
    if ((packet.t !== 'ping' && packet.t !== 'ack') || packet.sh !== undefined || !this.running || !this.isLive(to)) return
    const sh = this.tables.syncHashesFor(now, to)
    if (sh.length > 0) packet.sh = [...sh]
  }

  /**
   * Piggyback member updates and table messages on every outgoing
   * ping/ack/gossip, and the hashes of periodic syncs within their window on
   * pings and acks (one frame fewer per sync: at rest a node's frames are
   * its probes and their acks).
   */
  private finish (now: Millis, out: Outbox, noHashTo?: NodeId): NodeOutput {
    this.keepGossipSlot(now)
    const send: NodeOutput['send'] = []
    const n = this.membership.size()
    for (const { to, packet } of out.packets) {
      if (to !== noHashTo) this.attachSyncHashes(now, to, packet)
      // sync hashes and answers sent alone (gossip packets) stay alone: they are not made broadcast carriers
      if (packet.t === 'ping' || packet.t === 'ack' || (packet.t === 'gossip' && packet.sh === undefined && packet.sd === undefined)) {
        const budget = Math.max(0, this.cfg.packetBytes - (packet.sh === undefined ? 0 : syncHashesBytes(packet.sh)))
        const first = packet.mb?.[0]
        // both queues busy: half the packet each; otherwise the busy one may fill it
        const membersBusy = first !== undefined || this.membership.pendingBroadcasts() > 0
        // a packet with a sync hash carries no table broadcasts: anti-entropy repairs lost broadcasts, so it
        // must not share their fate (a table message a peer refuses drops the whole packet)
        const tb: TablesMsg[] = packet.tb ?? (packet.sh !== undefined ? NO_TABLES : this.tables.broadcastsFor(to, membersBusy ? budget / 2 : budget, n))
        const mb = this.membership.broadcasts(tb.length === 0 ? budget : budget / 2, first)
        if (mb.length > 0) packet.mb = mb
        else delete packet.mb
        if (tb.length > 0) packet.tb = tb
        // a gossip packet with nothing to carry is not sent
        if (packet.t === 'gossip' && packet.mb === undefined && packet.tb === undefined) continue
      }
      send.push({ to, msg: packet })
    }
    return { send, requests: out.requests, wakeAt: this.nextWake() }
  }

  /**
   * Skipping idle rounds, the round time falls behind while nothing is
   * queued: move it to the first slot from `now` on its grid, so what is
   * queued next waits for that slot (and shares its packets with what
   * follows within it) as it would have without skipping.
   */
  private keepGossipSlot (now: Millis): void {
    if (!this.skipIdleGossip || !this.running || this.nextGossipAt >= now) return
    const gi = this.cfg.gossipIntervalMs
    this.nextGossipAt += Math.ceil((now - this.nextGossipAt) / gi) * gi
  }

  nextWake (): Millis {
    if (!this.running) return Infinity
    const gossipAt = !this.skipIdleGossip || this.gossipPending() ? this.nextGossipAt : Infinity
    return Math.min(this.membership.nextWake(), gossipAt, this.tablesWakeAt)
  }

  private gossipPending (): boolean {
    return this.membership.pendingBroadcasts() > 0 || this.tables.pendingBroadcasts() > 0
  }
}

/** Estimated msgpack bytes of sync hashes on a packet: the key, and per hash its scope name and two uint32s. */
function syncHashesBytes (sh: readonly SyncHash[]): number {
  let b = 4
  for (const h of sh) b += SYNC_HASH_OVERHEAD_BYTES + h.scope.length
  return b
}

function newOutbox (): Outbox { return { packets: [], requests: [] } }


/** Create a sans-IO gossip node. */
export function createNode (init: NodeInit): GossipNode {
  return new Node(init)
}

/** Encode a packet for the wire (exported for drivers and tests). */
export { encodeFrame }
