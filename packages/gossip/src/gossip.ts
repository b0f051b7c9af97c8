import { encodeFrame } from './codec/codec.js'
import type { RequestMsg } from './codec/messages.js'
import { CONFIG_KEYS, resolveConfig, type GossipConfig } from './config.js'
import { REQUEST_TIMEOUT_MS } from './constants.js'
import { InvalidGossipConfigError, JoinFailedError, NotStartedError, RequestDroppedError, SelfAddressError } from './errors.js'
import type { Keyring } from './sign/keyring.js'
import { InvalidScopeError, isScopeName, type AuthorityPolicy } from './tables/index.js'
import { createNullLogger, type Logger } from './logger.js'
import { createNode, type GossipNode, type NodeOutput } from './node.js'
import type { Clock, Entry, EntryEvent, Gossip, GossipStats, Member, MemberEvent, NodeId, ProfileName, Rng, ScopeName, Transport } from './types.js'

/** Options and components of {@link createGossip}; any GossipConfig field overrides the profile. */
export interface GossipInit extends Partial<GossipConfig> {
  /** Our node ID; must equal `transport.id`. @default transport.id */
  id?: NodeId
  transport: Transport
  clock: Clock
  rng: Rng
  /** Timing profile. @default 'lan' */
  profile?: ProfileName
  /** Starting incarnation (persisted last incarnation + 1 after a restart). @default 0 */
  incarnation?: number
  /** Tombstone TTL (ms). @default 1800000 */
  tombstoneTtlMs?: number
  /** Anti-entropy period (ms). @default 2000 */
  syncIntervalMs?: number
  /** Request/response timeout (ms). @default 10000 */
  requestTimeoutMs?: number
  logger?: Logger
  /** Keys to sign and verify entries and membership facts (see NodeInit). */
  keyring?: Keyring
  /** Who may write each table key (see Tables). */
  authority?: AuthorityPolicy
}

function checkScope (scope: string): ScopeName {
  if (!isScopeName(scope)) throw new InvalidScopeError(scope)
  return scope
}

class GossipDriver implements Gossip {
  readonly id: NodeId
  private readonly transport: Transport
  private readonly clock: Clock
  private readonly log: Logger
  private readonly node: GossipNode
  private readonly requestTimeoutMs: number
  private cancelTimer: (() => void) | undefined
  private timerAt = Infinity
  private started = false
  private stopping = false
  private readonly inflight = new Set<AbortController>()

  constructor (init: GossipInit) {
    const id = init.id ?? init.transport.id
    if (id !== init.transport.id) throw new InvalidGossipConfigError('id', `must equal transport.id (${init.transport.id})`)
    const overrides: Partial<GossipConfig> = {}
    for (const [k, v] of Object.entries(init)) if (CONFIG_KEYS.has(k) && v !== undefined) (overrides as Record<string, unknown>)[k] = v
    const cfg = resolveConfig(init.profile ?? 'lan', overrides)
    this.id = id
    this.transport = init.transport
    this.clock = init.clock
    this.log = init.logger ?? createNullLogger()
    this.requestTimeoutMs = init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
    this.node = createNode({
      id,
      addrs: [],
      cfg,
      rng: init.rng,
      logger: this.log,
      // every write goes through set/delete below, which re-arm the timer
      skipIdleGossipRounds: true,
      ...(init.keyring !== undefined ? { keyring: init.keyring } : {}),
      ...(init.authority !== undefined ? { authority: init.authority } : {}),
      ...(init.incarnation !== undefined ? { incarnation: init.incarnation } : {}),
      ...(init.tombstoneTtlMs !== undefined ? { tombstoneTtlMs: init.tombstoneTtlMs } : {}),
      ...(init.syncIntervalMs !== undefined ? { syncIntervalMs: init.syncIntervalMs } : {})
    })
    this.node.onMember(ev => {
      if (ev.member.id !== this.id && ev.member.addrs.length > 0) this.transport.addPeerAddrs(ev.member.id, ev.member.addrs)
    })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.transport.onMessage((from, bytes) => {
      if (!this.started) return
      this.flush(this.node.receive(this.clock.now(), from, bytes))
    })
    this.transport.onRequest((from, bytes) => {
      if (!this.started) throw new NotStartedError('answer requests')
      const { response, out } = this.node.receiveRequest(this.clock.now(), from, bytes)
      this.flush(out)
      if (response === undefined) throw new RequestDroppedError(from)
      return response
    })
    await this.transport.start()
    this.started = true
    this.stopping = false
    this.setAddrs()
    this.flush(this.node.start(this.clock.now()))
    this.log.info('gossip started', { id: this.id, addrs: this.transport.addrs() })
  }

  private setAddrs (): void {
    const addrs = this.transport.addrs()
    if (addrs.length > 0) this.node.setAddrs(addrs)
  }

  async stop (opts: { restart?: boolean } = {}): Promise<void> {
    if (!this.started) return
    if (opts.restart === true) {
      this.flush(this.node.announceRestart(this.clock.now()))
      // give the transport one gossip interval to put the announcement on the wire
      await new Promise<void>(resolve => { this.clock.setTimer(this.node.config().gossipIntervalMs, resolve) })
      if (!this.started) return
    }
    this.halt()
    await this.transport.stop()
    this.log.info('gossip stopped', { id: this.id, restart: opts.restart === true })
  }

  private halt (): void {
    this.started = false
    this.stopping = true
    this.cancelTimer?.()
    this.cancelTimer = undefined
    this.timerAt = Infinity
    for (const c of this.inflight) c.abort()
    this.inflight.clear()
    this.node.stop()
  }

  /** Resolves as soon as one address answered (with the count answered by then); the others carry on in the background. */
  async join (addrs: string[], opts: { signal?: AbortSignal, dialTimeoutMs?: number } = {}): Promise<number> {
    if (!this.started) throw new NotStartedError('join')
    if (addrs.length === 0) return 0
    const causes: Array<{ addr: string, reason: string }> = []
    let ok = 0
    let pending = addrs.length
    return await new Promise<number>((resolve, reject) => {
      let done = false
      const settle = (): void => {
        pending--
        if (done || (pending > 0 && ok === 0)) return
        done = true
        if (ok > 0) {
          this.log.info('joined', { contacted: ok, tried: addrs.length })
          resolve(ok)
        } else {
          reject(new JoinFailedError(causes))
        }
      }
      for (const addr of addrs) {
        (async () => {
          const peer = await this.transport.dial(addr, {
            ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
            ...(opts.dialTimeoutMs !== undefined ? { timeoutMs: opts.dialTimeoutMs } : {})
          })
          if (peer === this.id) throw new SelfAddressError(addr)
          await this.runRequest(peer, this.node.pushPullRequest(true), opts.signal)
        })().then(() => { ok++; settle() }, (err: unknown) => {
          causes.push({ addr, reason: err instanceof Error ? err.message : String(err) })
          settle()
        })
      }
    })
  }

  async leave (_opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.started) return
    this.flush(this.node.leave(this.clock.now()))
    // let a couple of gossip rounds carry the tombstones and the leave
    const gossipMs = 2 * this.node.config().gossipIntervalMs
    await new Promise<void>(resolve => { this.clock.setTimer(gossipMs, resolve) })
    this.halt()
    await this.transport.stop()
    this.log.info('left the cluster', { id: this.id })
  }

  members (): Member[] { return this.node.members(this.clock.now()) }
  onMember (cb: (ev: MemberEvent) => void): () => void { return this.node.onMember(cb) }
  revoke (ids: Iterable<NodeId>): void {
    const set = new Set([...ids].filter((id) => id !== this.id))
    this.node.revoke(this.clock.now(), set)
    this.transport.denyPeers?.(set)
    if (this.started) this.flush(this.node.tick(this.clock.now()))
  }

  joinScope (scope: ScopeName): void {
    this.node.joinScope(this.clock.now(), checkScope(scope))
    if (this.started) this.flush(this.node.tick(this.clock.now()))
  }

  leaveScope (scope: ScopeName): void {
    this.node.leaveScope(this.clock.now(), checkScope(scope))
    if (this.started) this.flush(this.node.tick(this.clock.now()))
  }

  scopes (): ScopeName[] { return this.node.tables.scopes() }
  scopeMembers (scope: ScopeName): NodeId[] { return this.node.tables.scopeMembers(checkScope(scope)) }
  set<V> (scope: ScopeName, table: string, key: string, value: V): Entry<V> {
    const e = this.node.set(this.clock.now(), checkScope(scope), table, key, value)
    this.arm(this.node.nextWake())
    return e
  }

  delete (scope: ScopeName, table: string, key: string): void {
    this.node.delete(this.clock.now(), checkScope(scope), table, key)
    this.arm(this.node.nextWake())
  }

  get<V> (scope: ScopeName, table: string, key: string): Entry<V> | undefined { return this.node.tables.get<V>(checkScope(scope), table, key) }
  entries<V> (scope: ScopeName, table?: string): Entry<V>[] { return this.node.tables.entries<V>(checkScope(scope), table) }
  onEntry (cb: (ev: EntryEvent) => void): () => void { return this.node.onEntry(cb) }
  stats (): GossipStats { return this.node.stats() }

  /** Send what the node asked for and re-arm the wake-up timer. */
  private flush (out: NodeOutput): void {
    for (const { to, msg } of out.send) {
      const bytes = encodeFrame(msg)
      this.node.counters.sent(msg.t, bytes.length)
      try { this.transport.send(to, bytes) } catch (err) { this.log.debug('send failed', { to, err: String(err) }) }
    }
    for (const { to, req } of out.requests) {
      this.runRequest(to, req).catch(() => { /* counted in requestFailed */ })
    }
    this.arm(out.wakeAt)
  }

  private async runRequest (to: NodeId, req: RequestMsg, signal?: AbortSignal): Promise<void> {
    const ctl = new AbortController()
    this.inflight.add(ctl)
    const onAbort = (): void => { ctl.abort() }
    signal?.addEventListener('abort', onAbort)
    const cancel = this.clock.setTimer(this.requestTimeoutMs, () => { ctl.abort() })
    try {
      const bytes = encodeFrame(req)
      this.node.counters.sent(`${req.t}-req`, bytes.length)
      const res = await this.transport.request(to, bytes, { signal: ctl.signal })
      if (!this.started) return
      this.flush(this.node.receiveResponse(this.clock.now(), to, res))
    } catch (err) {
      this.node.requestFailed(this.clock.now(), to, req)
      throw err
    } finally {
      cancel()
      signal?.removeEventListener('abort', onAbort)
      this.inflight.delete(ctl)
    }
  }

  /**
   * Keep one timer, set for the node's next wake-up. Every caller passes
   * `node.nextWake()` (or earlier), so a later time than the timer's means
   * what the timer was for is gone (an ack came before its probe's
   * deadline): the timer moves later rather than wake the process for
   * nothing (at rest that was every probe's timeout, 2 of ~5 wake-ups a
   * second).
   */
  private arm (wakeAt: number): void {
    if (!this.started || this.stopping) return
    if (this.cancelTimer !== undefined && this.timerAt === wakeAt) return
    if (!Number.isFinite(wakeAt)) {
      this.cancelTimer?.()
      this.cancelTimer = undefined
      this.timerAt = Infinity
      return
    }
    this.cancelTimer?.()
    this.timerAt = wakeAt
    this.cancelTimer = this.clock.setTimer(Math.max(0, wakeAt - this.clock.now()), () => {
      this.cancelTimer = undefined
      this.timerAt = Infinity
      if (!this.started) return
      this.flush(this.node.tick(this.clock.now()))
    })
  }
}

/**
 * Create a gossip member: SWIM+Lifeguard membership and replicated tables
 * over the given transport and clock.
 */
export function createGossip (init: GossipInit): Gossip {
  return new GossipDriver(init)
}
