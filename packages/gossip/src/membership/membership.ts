import { retransmitLimit, suspicionTimeoutMin, type GossipConfig } from '../config.js'
import { MAX_ALIVE_INCARNATION_JUMP, MAX_INCARNATION_JUMP, NACK_TIMEOUT_FRACTION } from '../constants.js'
import type { Logger } from '../logger.js'
import type { Keyring } from '../sign/keyring.js'
import type { Member, MemberState, Millis, NodeId, Rng } from '../types.js'
import type { MemberSnapshot, MemberUpdate, Packet, RequestMsg } from '../codec/messages.js'
import { MemberBroadcastQueue } from './broadcast-queue.js'
import { MemberIndex, MemberTable, toMember, type Rec } from './member-table.js'
import { signedOfSnapshot, snapshotOf } from './signing.js'
import { Suspicions } from './suspicions.js'
import { MemberTrust, signedPart, type MemberDropReason } from './trust.js'

/** Where the membership core puts what it wants sent. */
export interface Outbox {
  packets: Array<{ to: NodeId, packet: Packet }>
  requests: Array<{ to: NodeId, req: RequestMsg }>
}


interface Probe { seq: number, target: NodeId, timeoutAt: Millis, endAt: Millis, indirect: boolean, expectedNacks: number, nacks: number }

interface Relay { origSeq: number, requester: NodeId, nackAt: Millis }

/** Construction options of the membership core. */
export interface MembershipInit {
  self: NodeId
  addrs: string[]
  incarnation: number
  cfg: GossipConfig
  rng: Rng
  logger: Logger
  /** ID index, shared by the simulator's nodes to save memory. @default a private one */
  index?: MemberIndex
  /**
   * Keys: `alive` and `left` facts are signed by the member they are about
   * and checked before they are applied or relayed; its `self` must be ours.
   * @default none: nothing is signed or checked (tests, benchmarks)
   */
  keyring?: Keyring
  /** Called after every member state/incarnation/restarting change. */
  onChange: (now: Millis, member: Member, previous: MemberState | undefined) => void
  /** Called for every member update refused before it was applied. */
  onDrop?: (reason: MemberDropReason) => void
}

/**
 * SWIM + Lifeguard membership, sans-IO: `handlePacket`/`tick` append to an
 * outbox; the node piggybacks broadcasts and sends. Follows memberlist's
 * state.go (probe, indirect probe, suspicion, refutation, awareness).
 *
 * With a keyring, alive and left are signed by their subject and checked by
 * every node; suspect and dead stay unsigned, bounded by refutation (see
 * MemberTrust).
 */
export class Membership {
  readonly self: NodeId
  private readonly cfg: GossipConfig
  private readonly rng: Rng
  private readonly log: Logger
  private readonly onChange: MembershipInit['onChange']
  private readonly trust: MemberTrust
  /** Our latest (signed) word about ourselves: the alive or left we last made. */
  private own: MemberUpdate | undefined
  private addrs: string[]
  private inc: number
  private readonly index: MemberIndex
  private readonly table: MemberTable
  private probe: Probe | undefined
  private readonly relays = new Map<number, Relay>()
  private readonly suspicions = new Suspicions()
  private readonly restarting = new Set<NodeId>()
  /** Members the cluster's managers revoked ({@link Membership.revoke}). */
  private revoked: ReadonlySet<NodeId> = new Set()
  /** Revoked members whose record this node marked left for it (forgotten when the revocation is withdrawn). */
  private readonly leftByRevocation = new Set<NodeId>()
  /** Dead or left members that sent us a packet: when we may push-pull with them again. */
  private readonly deadTalkers = new Map<NodeId, Millis>()
  private readonly queue: MemberBroadcastQueue
  private seq = 0
  private awareness = 0
  private nextProbeAt = 0
  private nextPushPullAt = 0
  private nextReconnectAt = 0
  private nextReapAt = 0
  private leaving = false
  /** We announced a restart and are about to stop: do not refute our own restarting record. */
  private restartingSelf = false
  private started = false

  constructor (init: MembershipInit) {
    this.trust = new MemberTrust(init.self, init.keyring, init.logger, init.onDrop ?? (() => {}))
    this.self = init.self
    this.addrs = init.addrs
    this.inc = init.incarnation
    this.cfg = init.cfg
    this.rng = init.rng
    this.log = init.logger
    this.onChange = init.onChange
    this.queue = new MemberBroadcastQueue(init.self)
    this.index = init.index ?? new MemberIndex()
    this.table = new MemberTable(this.index, init.rng)
  }

  /** Begin probing at `now` (jittered so nodes do not probe in lockstep). */
  start (now: Millis): void {
    if (this.started) return
    this.started = true
    this.leaving = false
    this.restartingSelf = false
    this.nextProbeAt = now + Math.floor(this.rng.next() * this.cfg.probeIntervalMs)
    this.nextPushPullAt = now + this.pushPullInterval() * (0.5 + this.rng.next())
    this.nextReconnectAt = now + this.cfg.reconnectIntervalMs * (0.5 + this.rng.next())
    this.nextReapAt = now + this.cfg.reconnectIntervalMs
    this.queue.push(this.aliveSelf(false))
  }

  /** Our incarnation. */
  incarnation (): number { return this.inc }

  /** Lifeguard local health score (0..awarenessMax-1). */
  health (): number { return this.awareness }

  /** Update our advertised addresses (gossiped with a new incarnation). */
  setAddrs (addrs: string[]): void {
    this.addrs = addrs
    this.inc++
    this.queue.push(this.aliveSelf(false))
  }

  /** Everything we know, ourselves included. */
  members (now: Millis): Member[] {
    const out: Member[] = [{ id: this.self, addrs: this.addrs, state: this.leaving ? 'left' : 'alive', incarnation: this.inc, since: now, restarting: false }]
    this.table.forEach(r => { out.push(toMember(r)) })
    return out
  }

  /** One member, or undefined. */
  member (id: NodeId): Member | undefined {
    const r = this.table.get(id)
    return r === undefined ? undefined : toMember(r)
  }

  /** Count of other members that are alive or suspect (our "live" view) plus us. */
  liveCount (): number {
    return 1 + this.table.byState.alive + this.table.byState.suspect
  }

  /**
   * The members the cluster's managers revoked, whole (replaces the last
   * set). A revoked member is held left at once (its entries withdrawn, then
   * reaped as a left member's), its alive is refused for as long as it stays
   * revoked (counted `member-revoked`), it is neither probed nor gossiped to,
   * and push-pull snapshots leave it out. A member no longer revoked is
   * held dead: gossiped to and reconnected to, so it refutes and is alive again.
   */
  revoke (now: Millis, ids: ReadonlySet<NodeId>): void {
    const before = this.revoked
    this.revoked = new Set([...ids].filter((id) => id !== this.self))
    for (const id of this.revoked) {
      const r0 = this.table.get(id)
      if (r0 === undefined || r0.state === 'left') continue
      const prev = r0.state
      const r = this.setGone(now, r0, 'left')
      this.leftByRevocation.add(id)
      this.onChange(now, toMember(r), prev)
    }
    for (const id of before) {
      if (this.revoked.has(id) || !this.leftByRevocation.delete(id)) continue
      const r0 = this.table.get(id)
      if (r0 === undefined || r0.state !== 'left') continue
      // held dead now: gossiped to (it refutes with a newer alive) and reconnected to, as any dead member
      this.onChange(now, toMember(this.setGone(now, r0, 'dead')), 'left')
    }
  }

  /** True if the cluster's managers revoked `id`. */
  isRevoked (id: NodeId): boolean { return this.revoked.has(id) }

  /** True if `id` is a member we know (any state, until reaped). */
  knows (id: NodeId): boolean { return this.table.has(id) }

  /** IDs of other live (alive or suspect) members. */
  liveIds (): NodeId[] {
    const out: NodeId[] = []
    this.table.forEach(r => { if (r.state === 'alive' || r.state === 'suspect') out.push(r.id) })
    return out
  }

  /** Estimated cluster size (all known nodes), as memberlist's estNumNodes. */
  size (): number { return this.table.count + 1 }

  /** Member updates for one outgoing packet. */
  broadcasts (budget: number, first?: MemberUpdate): MemberUpdate[] {
    return this.queue.take(budget, retransmitLimit(this.cfg.retransmitMult, this.size()), first)
  }

  /** Pending member updates. */
  pendingBroadcasts (): number { return this.queue.size }

  /** Our full state for push-pull. */
  snapshot (): MemberSnapshot[] {
    const out: MemberSnapshot[] = [snapshotOf({ id: this.self, addrs: this.addrs, state: this.leaving ? 'left' : 'alive', inc: this.inc, restarting: false, signed: this.own })]
    // a revoked member's record is held left here, with its last signed alive: not for others to take
    this.table.forEach(r => { if (!this.revoked.has(r.id)) out.push(snapshotOf(r)) })
    return out
  }

  /** A push-pull request for `to`. */
  pushPullRequest (join: boolean): RequestMsg {
    return { t: 'push-pull', join, members: this.snapshot() }
  }

  /** Pick `k` random members matching `ok`, excluding `exclude`. */
  randomMembers (k: number, ok: (r: Rec) => boolean, exclude?: NodeId): NodeId[] {
    return this.table.random(k, ok, exclude)
  }

  /** Members to gossip to this interval: alive, suspect, or recently dead. */
  gossipTargets (now: Millis): NodeId[] {
    const deadCut = now - this.cfg.gossipToTheDeadMs
    return this.randomMembers(this.cfg.gossipNodes, r => r.state === 'alive' || r.state === 'suspect' || (r.state === 'dead' && r.since >= deadCut))
  }

  /** Handle a decoded, validated datagram from `from`. */
  handlePacket (now: Millis, from: NodeId, p: Packet, out: Outbox): void {
    if (p.mb !== undefined) for (const u of p.mb) this.applyUpdate(now, u)
    if (!this.started) return
    // a member we hold dead (or left) is talking to us: our views disagree (a healed partition, a
    // claim it never heard of); exchange state, so it learns the claim and refutes it
    const sender = this.table.get(from)
    if (sender !== undefined && (sender.state === 'dead' || sender.state === 'left') && now >= (this.deadTalkers.get(from) ?? 0)) {
      this.deadTalkers.set(from, now + this.cfg.reconnectIntervalMs)
      out.requests.push({ to: from, req: this.pushPullRequest(false) })
    }
    switch (p.t) {
      case 'ping':
        if (p.target !== this.self) return
        out.packets.push({ to: from, packet: { t: 'ack', seq: p.seq as number } })
        return
      case 'ping-req': {
        const target = p.target as NodeId
        if (target === this.self || !this.table.has(target)) return
        const seq = this.seq++
        this.relays.set(seq, { origSeq: p.seq as number, requester: from, nackAt: now + Math.floor(this.cfg.probeTimeoutMs * NACK_TIMEOUT_FRACTION) })
        out.packets.push({ to: target, packet: { t: 'ping', seq, target } })
        return
      }
      case 'ack': {
        const seq = p.seq as number
        const relay = this.relays.get(seq)
        if (relay !== undefined) {
          this.relays.delete(seq)
          out.packets.push({ to: relay.requester, packet: { t: 'ack', seq: relay.origSeq } })
          return
        }
        if (this.probe !== undefined && this.probe.seq === seq) {
          this.probe = undefined
          this.applyAwareness(-1)
        }
        return
      }
      case 'nack':
        if (this.probe !== undefined && this.probe.seq === p.seq) this.probe.nacks++
        return
      case 'gossip':
      case 'push':
        return
    }
  }

  /**
   * Merge a remote push-pull state (memberlist mergeState). Each member's
   * signed alive/left goes through the same checks as gossip: one that fails
   * leaves that member out (counted), the rest is merged.
   */
  mergeState (now: Millis, from: NodeId, members: MemberSnapshot[]): void {
    for (const s of members) {
      const signed = signedOfSnapshot(s)
      switch (s.state) {
        case 'alive':
          // members new to us are not re-gossiped: the peer we exchanged with already spreads them;
          // the peer itself is (a joiner's own alive would otherwise reach only the members it knows)
          this.applyUpdate(now, signed ?? { k: 'alive', id: s.id, inc: s.inc, addrs: s.addrs, restarting: s.restarting }, s.id !== from)
          break
        case 'left':
          this.applyUpdate(now, signed ?? { k: 'left', id: s.id, inc: s.inc })
          break
        default:
          // dead and suspect are only suspicion here: a remote view must not kill a member we see alive;
          // a member new to us is learned from its own (signed) alive, which may be older than the suspicion
          if (!this.table.has(s.id) && s.id !== this.self) this.applyUpdate(now, signed ?? { k: 'alive', id: s.id, inc: s.inc, addrs: s.addrs }, true)
          this.applyUpdate(now, { k: 'suspect', id: s.id, inc: s.inc, from })
      }
    }
  }

  /** Run timers due at `now`. */
  tick (now: Millis, out: Outbox): void {
    if (!this.started) return
    const cfg = this.cfg
    // our own earliest timer overdue by more than a probe timeout: this node stalled (a GC pause, a
    // stopped VM, a starved CPU), and what arrived meanwhile is read only after this tick
    const overdue = now - this.nextWake()
    if (overdue > cfg.probeTimeoutMs) this.stalled(now, overdue)
    // probe round
    const pr = this.probe
    if (pr !== undefined) {
      if (!pr.indirect && now >= pr.timeoutAt) {
        pr.indirect = true
        const helpers = this.randomMembers(cfg.indirectChecks, r => r.state === 'alive', pr.target)
        pr.expectedNacks = helpers.length
        for (const h of helpers) out.packets.push({ to: h, packet: { t: 'ping-req', seq: pr.seq, target: pr.target } })
      }
      if (now >= pr.endAt) {
        this.probe = undefined
        const missing = pr.expectedNacks > 0 ? Math.max(0, pr.expectedNacks - pr.nacks) : 1
        this.applyAwareness(missing)
        const r = this.table.get(pr.target)
        if (r !== undefined && (r.state === 'alive' || r.state === 'suspect') && !(r.restarting && now < r.restartUntil)) {
          // also when already suspect: our failed probe is an independent confirmation (Lifeguard)
          this.log.debug('probe failed, suspecting', { member: r.id, nacks: pr.nacks, expectedNacks: pr.expectedNacks })
          this.applyUpdate(now, { k: 'suspect', id: r.id, inc: r.inc, from: this.self })
        }
      }
    }
    if (this.probe === undefined && now >= this.nextProbeAt) {
      // Lifeguard local health: a node that misses acks and nacks (its own CPU or network is the
      // likely cause) probes less often and waits longer for acks (memberlist awareness.ScaleTimeout)
      const scale = this.awareness + 1
      const interval = cfg.probeIntervalMs * scale
      this.nextProbeAt = now + interval
      const target = this.nextProbeTarget()
      if (target !== undefined) {
        const seq = this.seq++
        this.probe = { seq, target: target.id, timeoutAt: now + cfg.probeTimeoutMs * scale, endAt: now + interval, indirect: false, expectedNacks: 0, nacks: 0 }
        const packet: Packet = { t: 'ping', seq, target: target.id }
        // Lifeguard buddy system: tell a suspect at once that it is suspected
        if (target.state === 'suspect') packet.mb = [{ k: 'suspect', id: target.id, inc: target.inc, from: this.self }]
        out.packets.push({ to: target.id, packet })
      }
    }
    // relays: nack the requester if the target stayed silent
    for (const [seq, r] of this.relays) {
      if (now >= r.nackAt) {
        this.relays.delete(seq)
        out.packets.push({ to: r.requester, packet: { t: 'nack', seq: r.origSeq } })
      }
    }
    // suspicion timeouts
    for (const { id, s } of this.suspicions.due(now)) {
      const r = this.table.get(id)
      if (r === undefined || r.state !== 'suspect' || r.inc !== s.inc) continue
      this.log.info('member failed', { member: id, incarnation: r.inc, confirmations: s.confirmers.size - 1 })
      this.applyUpdate(now, { k: 'dead', id, inc: r.inc, from: this.self })
    }
    // restart grace expiry
    for (const id of this.restarting) {
      const r = this.table.get(id)
      if (r === undefined || !r.restarting) { this.restarting.delete(id); continue }
      if (now < r.restartUntil) continue
      this.restarting.delete(id)
      this.table.mutable(r).restarting = false
      this.log.info('restart grace expired, member failed', { member: id })
      this.applyUpdate(now, { k: 'dead', id, inc: r.inc, from: this.self })
    }
    // periodic full state exchange
    if (cfg.pushPullIntervalMs > 0 && now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + this.pushPullInterval()
      const [peer] = this.randomMembers(1, r => r.state === 'alive')
      if (peer !== undefined) out.requests.push({ to: peer, req: this.pushPullRequest(false) })
    }
    // reconnect to failed members with probability failed/alive (Serf)
    if (now >= this.nextReconnectAt) {
      this.nextReconnectAt = now + cfg.reconnectIntervalMs
      const failed = this.table.byState.dead
      const alive = this.liveCount()
      if (failed > 0 && this.rng.next() < failed / alive) {
        const [peer] = this.randomMembers(1, r => r.state === 'dead')
        if (peer !== undefined) out.requests.push({ to: peer, req: this.pushPullRequest(false) })
      }
    }
    if (now >= this.nextReapAt) {
      this.nextReapAt = now + cfg.reconnectIntervalMs
      this.reap(now)
    }
  }

  /** The next time `tick` has something to do. */
  nextWake (): Millis {
    if (!this.started) return Infinity
    const cfg = this.cfg
    let wake = Math.min(this.nextProbeAt, this.nextReconnectAt, this.nextReapAt)
    if (cfg.pushPullIntervalMs > 0) wake = Math.min(wake, this.nextPushPullAt)
    if (this.probe !== undefined) wake = Math.min(wake, this.probe.indirect ? this.probe.endAt : this.probe.timeoutAt)
    for (const r of this.relays.values()) wake = Math.min(wake, r.nackAt)
    wake = Math.min(wake, this.suspicions.nextDeadline())
    for (const id of this.restarting) wake = Math.min(wake, this.table.get(id)?.restartUntil ?? Infinity)
    return wake
  }

  /**
   * Learn members without gossiping them (bootstrap from a persisted or
   * simulated member list). Unknown members are added as given: this is
   * trusted local input, signatures in it are kept for relaying, not checked.
   * `announceAlive` false: `onChange` is called only for members seeded in
   * another state than alive (for a node with no listeners yet, whose tables
   * need no word of alive members: 10,000 simulated nodes seeded with 10,000
   * members each would make 10^8 calls).
   */
  seed (now: Millis, members: MemberSnapshot[], announceAlive = true): void {
    // an empty table takes the list's shared slot array (one per process for all simulated nodes)
    if (this.table.adoptSeed(this.index.seedBase(members, now), this.self)) {
      this.table.forEach(r => { if (announceAlive || r.state !== 'alive') this.onChange(now, toMember(r), undefined) })
      return
    }
    for (const s of members) {
      if (s.id === this.self || this.table.has(s.id)) continue
      const rec = this.index.seedRec(s, now)
      this.table.addShared(rec)
      if (announceAlive || rec.state !== 'alive') this.onChange(now, toMember(rec), undefined)
    }
  }

  /** Graceful leave: mark ourselves left and queue the announcement. */
  leave (): MemberUpdate {
    this.leaving = true
    const u = this.ownWord({ k: 'left', id: this.self, inc: this.inc })
    this.queue.push(u)
    return u
  }

  /** Announce a restart: peers keep us live for the restart grace. */
  announceRestart (): MemberUpdate {
    this.inc++
    this.restartingSelf = true
    const u = this.aliveSelf(true)
    this.queue.push(u)
    return u
  }

  /** Stop probing (the node is stopping). */
  stop (): void {
    this.started = false
    this.probe = undefined
    this.relays.clear()
  }

  /**
   * Apply one member update (from gossip, push-pull or our own timers).
   * `quietNew`: a member new to us is added without being gossiped on.
   * An alive/left that would change something is checked first (see
   * MemberTrust); one that changes nothing is ignored unchecked.
   */
  applyUpdate (now: Millis, u: MemberUpdate, quietNew = false): void {
    if (u.id === this.self) { this.updateAboutSelf(u); return }
    if (this.revoked.has(u.id)) {
      // held left for as long as it is revoked: its alive is refused, what others say of it changes nothing
      if (u.k === 'alive') this.trust.refuse(u, 'member-revoked')
      return
    }
    const r0 = this.table.get(u.id)
    if (r0 !== undefined && u.inc > r0.inc + (u.k === 'alive' ? MAX_ALIVE_INCARNATION_JUMP : MAX_INCARNATION_JUMP)) {
      this.trust.refuse(u, 'incarnation-jump', r0.inc)
      return
    }
    switch (u.k) {
      case 'alive': {
        if (r0 === undefined) {
          if (!this.trust.authentic(u)) return
          const rec = this.table.add(u.id, { addrs: u.addrs ?? [], state: 'alive', inc: u.inc, since: now, restarting: false, restartUntil: 0, signed: signedPart(u) })
          this.setRestarting(now, rec, u.restarting === true)
          if (!quietNew) this.queue.push(u)
          this.onChange(now, toMember(rec), undefined)
          return
        }
        const restarting = u.restarting === true
        if (u.inc < r0.inc || (u.inc === r0.inc && !(restarting && !r0.restarting))) return
        if (!this.trust.authentic(u)) return
        const r = this.table.mutable(r0)
        const prev = r.state
        r.inc = u.inc
        r.signed = signedPart(u)
        if (u.addrs !== undefined && u.addrs.length > 0) r.addrs = u.addrs
        if (prev !== 'alive') { this.table.setState(r, 'alive'); r.since = now }
        this.setRestarting(now, r, restarting)
        this.suspicions.delete(r.id)
        this.queue.push(u)
        this.onChange(now, toMember(r), prev)
        return
      }
      case 'suspect': {
        if (r0 === undefined || u.inc < r0.inc) return
        const s = this.suspicions.get(r0.id)
        if (s !== undefined && r0.state === 'suspect') {
          if (u.inc === r0.inc && u.from !== undefined && this.suspicions.confirm(r0.id, s, u.from)) {
            // re-gossip new independent confirmations so others shrink their timers too
            this.queue.push(u)
          }
          if (u.inc <= r0.inc) return
        }
        if (r0.state === 'dead' || r0.state === 'left') return
        if (r0.restarting && now < r0.restartUntil) return
        const r = this.table.mutable(r0)
        const prev = r.state
        this.table.setState(r, 'suspect')
        r.inc = u.inc
        r.since = now
        this.startSuspicion(now, r, u.from ?? this.self)
        this.queue.push({ k: 'suspect', id: r.id, inc: r.inc, from: u.from ?? this.self })
        this.onChange(now, toMember(r), prev)
        return
      }
      case 'dead':
      case 'left': {
        if (r0 === undefined || u.inc < r0.inc) return
        if (r0.state === 'left' || (r0.state === 'dead' && u.k === 'dead')) return
        if (u.k === 'dead' && r0.restarting && now < r0.restartUntil) return
        if (u.k === 'left' && !this.trust.authentic(u)) return
        const prev = r0.state
        const r = this.setGone(now, r0, u.k === 'left' ? 'left' : 'dead')
        r.inc = u.inc
        // dead keeps the member's last alive as its signed word
        if (u.k === 'left') r.signed = signedPart(u)
        this.queue.push(u)
        this.onChange(now, toMember(r), prev)
      }
    }
  }

  /** `r0` moved to dead or left from now: no longer restarting or suspected. Returns the (mutable) record. */
  private setGone (now: Millis, r0: Rec, state: 'dead' | 'left'): Rec {
    const r = this.table.mutable(r0)
    this.table.setState(r, state)
    r.since = now
    r.restarting = false
    this.restarting.delete(r.id)
    this.suspicions.delete(r.id)
    return r
  }

  /**
   * A claim about us. Suspect and dead are refuted whenever they are not
   * older than our incarnation; an alive or left only if it is our own
   * signed word from an earlier life (a restart that lost our incarnation):
   * a forged one is dropped here as everywhere else, nothing to refute.
   */
  private updateAboutSelf (u: MemberUpdate): void {
    if (this.leaving || this.restartingSelf) return
    if (u.inc > this.inc + MAX_ALIVE_INCARNATION_JUMP) {
      // nobody who knows us can have admitted it (see MAX_INCARNATION_JUMP): nothing to refute
      this.trust.refuse(u, 'incarnation-jump', this.inc)
      return
    }
    if (u.k === 'alive') {
      // a stale view of us (e.g. from before a restart) with a newer incarnation, or a restarting flag
      if ((u.inc > this.inc || (u.inc === this.inc && u.restarting === true)) && this.trust.authentic(u)) this.refute(u.inc)
      return
    }
    if (u.inc < this.inc) return
    if (u.k === 'left' && !this.trust.authentic(u)) return
    this.log.debug('refuting', { kind: u.k, incarnation: u.inc, from: u.from })
    this.refute(u.inc)
  }

  private refute (inc: number): void {
    this.inc = Math.max(this.inc, inc) + 1
    this.queue.push(this.aliveSelf(false))
    this.applyAwareness(1)
  }

  /** Our alive at our current incarnation, signed. */
  private aliveSelf (restarting: boolean): MemberUpdate {
    const u: MemberUpdate = { k: 'alive', id: this.self, inc: this.inc, addrs: this.addrs }
    if (restarting) u.restarting = true
    return this.ownWord(u)
  }

  /** Sign our own alive or left and remember it for our snapshots. */
  private ownWord (u: MemberUpdate): MemberUpdate {
    this.own = this.trust.sign(u)
    return u
  }

  private setRestarting (now: Millis, r: Rec, on: boolean): void {
    r.restarting = on
    if (on) {
      r.restartUntil = now + this.cfg.restartGraceMs
      this.restarting.add(r.id)
    } else {
      this.restarting.delete(r.id)
    }
  }

  /**
   * After a stall, pass no verdict on what the stall itself made look failed:
   * the probe in flight is dropped (its ack may be among the unread input),
   * overdue relays send no nack, and suspicions due are put off by one probe
   * interval, once each, so a refutation that arrived during the stall is read
   * first. The stall counts against local health, as a missed ack does.
   */
  private stalled (now: Millis, overdueMs: Millis): void {
    this.log.debug('stalled: verdicts put off', { overdueMs })
    this.applyAwareness(1)
    const pr = this.probe
    if (pr !== undefined && now >= pr.timeoutAt) {
      this.probe = undefined
      this.nextProbeAt = Math.min(this.nextProbeAt, now)
    }
    for (const [seq, r] of this.relays) if (now >= r.nackAt) this.relays.delete(seq)
    this.suspicions.postponeDue(now, now + this.cfg.probeIntervalMs)
  }

  private startSuspicion (now: Millis, r: Rec, from: NodeId): void {
    const n = this.liveCount()
    let k = this.cfg.suspicionMult - 2
    if (n - 2 < k) k = 0
    const min = suspicionTimeoutMin(this.cfg.suspicionMult, n, this.cfg.probeIntervalMs, this.cfg.suspicionFloorMs)
    this.suspicions.start(now, r.id, r.inc, from, k, min, this.cfg.suspicionMaxTimeoutMult * min)
  }

  private applyAwareness (delta: number): void {
    this.awareness = Math.max(0, Math.min(this.cfg.awarenessMax - 1, this.awareness + delta))
  }

  private pushPullInterval (): number {
    // memberlist pushPullScale: back off beyond 32 nodes
    const n = this.size()
    const mult = n <= 32 ? 1 : Math.ceil(Math.log2(n) - Math.log2(32)) + 1
    return this.cfg.pushPullIntervalMs * mult
  }

  private nextProbeTarget (): Rec | undefined {
    return this.table.nextProbe(r => r.state === 'alive' || r.state === 'suspect')
  }

  private reap (now: Millis): void {
    for (const [id, until] of this.deadTalkers) if (until <= now) this.deadTalkers.delete(id)
    const cut = now - this.cfg.reconnectTimeoutMs
    if (this.table.byState.dead + this.table.byState.left === 0) return
    for (const r of this.table.filter(r => (r.state === 'dead' || r.state === 'left') && r.since <= cut)) this.table.remove(r)
  }
}
