import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { withTimeout } from '../../clock.js'
import { MAX_ADDRS } from '../../constants.js'
import { logRepeated, type Logger } from '../../logger.js'
import type { Clock, NodeId } from '../../types.js'
import * as C from './constants.js'
import { BadFrameError, DialFailedError, InboundLimitError, InvalidTransportOptionError, InvalidResponseError, ListenFailedError, NoRequestHandlerError, PeerUnreachableError, TransportNotStartedError } from './errors.js'
import { chunksOf, encodeFrame, FrameDecoder } from './frames.js'
import { peerIdFromKey } from './keys.js'
import { InboundLimits, type LimitReason } from './limits.js'
import { describe, resolveTransportInit, type Libp2pTransport, type Libp2pTransportInit, type Libp2pTransportStats, type ResolvedTransportOptions } from './options.js'
import { parseNodeId, parsePeerAddr, readOneFrame, requestOverStream } from './streams.js'
import { batchYamuxWindowUpdates } from './yamux-window.js'

interface PeerState {
  addrs: Multiaddr[]
  stream?: Stream
  opening: boolean
  queue: Uint8Array[]
  queueBytes: number
  lastUsed: number
}

/**
 * Create a Transport over libp2p: TCP + (pnet) + Noise + Yamux, no other
 * protocols. Throws ClusterKeyRequiredError without `clusterKey` unless
 * `insecure: true`, and InvalidTransportOptionError naming a bad option.
 */
export function createLibp2pTransport (init: Libp2pTransportInit): Libp2pTransport {
  const r = resolveTransportInit(init)
  return new Libp2pTransportImpl(r.privateKey, r.listen, r.announce, r.clusterKey, r.opts, r.logger, r.clock)
}

class Libp2pTransportImpl implements Libp2pTransport {
  readonly id: NodeId
  private node: Libp2p | undefined
  private starting: Promise<void> | undefined
  private readonly peers = new Map<NodeId, PeerState>()
  private messageHandler: (from: NodeId, bytes: Uint8Array) => void = () => {}
  private requestHandler: ((from: NodeId, bytes: Uint8Array) => Promise<Uint8Array> | Uint8Array) | undefined
  private cancelIdleCheck: (() => void) | undefined
  /** When we first saw each connection open, on our clock (libp2p's timeline uses the system clock). */
  private readonly openedAt = new WeakMap<Connection, number>()
  private readonly counters: Omit<Libp2pTransportStats, 'bufferedBytes' | 'bufferedBytesPeak'> = { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0, requestsSent: 0, requestsServed: 0, dropped: {}, evicted: 0, idleClosed: 0 }
  private readonly limits: InboundLimits
  /** Peers whose connections are refused and closed (revoked members: {@link Libp2pTransportImpl.denyPeers}). */
  private denied: ReadonlySet<NodeId> = new Set()

  constructor (
    private readonly privateKey: PrivateKey,
    private readonly listen: string[],
    private readonly announce: string[] | undefined,
    private readonly clusterKey: Uint8Array | undefined,
    private readonly opts: ResolvedTransportOptions,
    private readonly log: Logger,
    private readonly clock: Clock
  ) {
    this.id = peerIdFromKey(privateKey)
    // a peer may always have one request of the configured maximum in flight beside its gossip streams
    const perPeer = Math.max(C.LIBP2P_MAX_BUFFERED_BYTES_PER_PEER, opts.maxRequestBytes + C.LIBP2P_MAX_GOSSIP_STREAMS * opts.maxMessageBytes)
    this.limits = new InboundLimits({
      gossipPerPeer: C.LIBP2P_MAX_GOSSIP_STREAMS,
      syncPerPeer: C.LIBP2P_MAX_SYNC_STREAMS,
      syncTotal: C.LIBP2P_MAX_SYNC_STREAMS_TOTAL,
      bufferedPerPeer: perPeer,
      bufferedTotal: Math.max(C.LIBP2P_MAX_BUFFERED_BYTES, 2 * perPeer)
    })
  }

  addrs (): string[] {
    return this.node?.getMultiaddrs().map(a => a.toString()) ?? []
  }

  async start (): Promise<void> {
    if (this.node !== undefined) return
    this.starting ??= this.doStart().finally(() => { this.starting = undefined })
    await this.starting
  }

  private async doStart (): Promise<void> {
    batchYamuxWindowUpdates()
    const node = await createLibp2p({
      privateKey: this.privateKey,
      addresses: { listen: this.listen, ...(this.announce !== undefined ? { announce: this.announce } : {}) },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      // no yamux keep-alive pings (one per connection every 30 s, each way): yamux 8 does not act on a lost
      // ping, SWIM probes find dead peers, and connections idle for idleTimeoutMs are closed by us
      streamMuxers: [yamux({ maxInboundStreams: C.LIBP2P_MAX_MUXED_INBOUND_STREAMS, maxOutboundStreams: C.LIBP2P_MAX_MUXED_OUTBOUND_STREAMS, enableKeepAlive: false })],
      ...(this.clusterKey !== undefined ? { connectionProtector: preSharedKey({ psk: this.clusterKey }) } : {}),
      connectionManager: {
        maxConnections: this.opts.maxConnections,
        // every dial of ours carries its own deadline (dialTimeoutMs, or a longer one for joins): libp2p's must not cut it short
        dialTimeout: Math.max(this.opts.dialTimeoutMs, C.LIBP2P_MAX_DIAL_TIMEOUT_MS),
        // libp2p also gives each address 6 s of its own by default
        addressDialTimeout: Math.max(this.opts.dialTimeoutMs, C.LIBP2P_MAX_DIAL_TIMEOUT_MS),
        // a peer with another cluster key stalls the handshake; do not hold its socket for long,
        // but give a joiner's handshake time when this node is busy (many agents starting on few cores)
        inboundUpgradeTimeout: Math.max(this.opts.dialTimeoutMs, C.LIBP2P_INBOUND_UPGRADE_TIMEOUT_MS),
        inboundConnectionThreshold: C.LIBP2P_INBOUND_CONNECTIONS_PER_SECOND,
        maxIncomingPendingConnections: Math.max(10, Math.min(this.opts.maxConnections, 64))
      },
      // the monitor pings over /ipfs/ping, which this minimal node does not run
      connectionMonitor: { enabled: false },
      // a revoked member still holds the cluster key (pnet passes it): it is refused once Noise names it
      connectionGater: {
        denyDialPeer: (peer) => this.denied.has(peer.toString()),
        denyInboundEncryptedConnection: (peer) => this.denied.has(peer.toString()),
        denyOutboundEncryptedConnection: (peer) => this.denied.has(peer.toString())
      },
      start: false
    })
    await node.handle(C.GOSSIP_PROTOCOL, (stream, conn) => { this.onGossipStream(stream, conn) }, { maxInboundStreams: C.LIBP2P_MAX_GOSSIP_STREAMS, maxOutboundStreams: C.LIBP2P_MAX_GOSSIP_STREAMS })
    await node.handle(C.SYNC_PROTOCOL, (stream, conn) => { void this.onSyncStream(stream, conn) }, { maxInboundStreams: C.LIBP2P_MAX_SYNC_STREAMS, maxOutboundStreams: C.LIBP2P_MAX_OUTBOUND_SYNC_STREAMS })
    node.addEventListener('connection:open', (evt) => { this.onConnectionOpen(evt.detail) })
    node.addEventListener('peer:disconnect', (evt) => { this.onPeerDisconnect(evt.detail.toString()) })
    try {
      await node.start()
    } catch (err) {
      try { await node.stop() } catch { /* already failed; keep the listen error */ }
      throw new ListenFailedError(this.listen, describe(err))
    }
    this.node = node
    const every = Math.max(50, Math.min(5_000, Math.floor(this.opts.idleTimeoutMs / 2)))
    this.scheduleIdleCheck(every)
    this.log.info('libp2p transport started', { id: this.id, addrs: this.addrs(), secure: this.clusterKey !== undefined })
  }

  async stop (): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    const node = this.node
    if (node === undefined) return
    this.node = undefined
    this.cancelIdleCheck?.()
    this.cancelIdleCheck = undefined
    for (const st of this.peers.values()) {
      st.stream = undefined
      st.queue = []
      st.queueBytes = 0
    }
    await node.stop()
    this.log.info('libp2p transport stopped', { id: this.id })
  }

  async dial (addr: string, opts: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<NodeId> {
    const node = this.requireNode('dial')
    const ma = parsePeerAddr(addr)
    const timeoutMs = opts.timeoutMs ?? this.opts.dialTimeoutMs
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > Math.max(this.opts.dialTimeoutMs, C.LIBP2P_MAX_DIAL_TIMEOUT_MS)) throw new InvalidTransportOptionError('timeoutMs', `must be a positive integer up to ${Math.max(this.opts.dialTimeoutMs, C.LIBP2P_MAX_DIAL_TIMEOUT_MS)} ms, got ${String(timeoutMs)}`)
    let conn: Connection
    try {
      conn = await withTimeout(this.clock, timeoutMs, opts.signal, async signal => await node.dial(ma, { signal }))
    } catch (err) {
      throw new DialFailedError(addr, describe(err))
    }
    const id = conn.remotePeer.toString()
    const st = this.peer(id)
    const withId = ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${id}`)
    if (!st.addrs.some(a => a.equals(withId))) st.addrs.unshift(withId)
    st.lastUsed = this.clock.now()
    if (st.queue.length > 0) this.ensureStream(id, st)
    return id
  }

  addPeerAddrs (id: NodeId, addrs: string[]): void {
    if (id === this.id) return
    let peerId: PeerId
    try {
      peerId = parseNodeId(id)
    } catch (err) {
      this.log.debug('ignoring addresses of an invalid node id', { id, err: String(err) })
      return
    }
    const st = this.peer(id)
    for (const a of addrs) {
      let ma: Multiaddr
      try {
        ma = parsePeerAddr(a)
      } catch {
        this.log.debug('ignoring invalid peer address', { id, addr: a })
        continue
      }
      const p2p = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (p2p !== undefined && p2p !== peerId.toString()) continue
      const full = p2p === undefined ? ma.encapsulate(`/p2p/${id}`) : ma
      if (!st.addrs.some(x => x.equals(full))) st.addrs.push(full)
    }
    if (st.addrs.length > MAX_ADDRS) st.addrs.splice(0, st.addrs.length - MAX_ADDRS)
  }

  denyPeers (ids: ReadonlySet<NodeId>): void {
    this.denied = new Set(ids)
    for (const id of ids) {
      const st = this.peers.get(id)
      if (st !== undefined) {
        st.queue = []
        st.queueBytes = 0
        st.addrs = []
      }
    }
    const node = this.node
    if (node === undefined) return
    for (const c of node.getConnections()) if (this.denied.has(c.remotePeer.toString())) this.closeConnection(c, 'revoked')
  }

  send (to: NodeId, bytes: Uint8Array): void {
    try {
      this.sendUnsafe(to, bytes)
    } catch (err) {
      this.drop('send-failed')
      this.log.debug('send failed', { to, err: String(err) })
    }
  }

  private sendUnsafe (to: NodeId, bytes: Uint8Array): void {
    if (this.node === undefined) { this.drop('not-started'); return }
    if (to === this.id) { this.drop('self'); return }
    if (this.denied.has(to)) { this.drop('revoked'); return }
    if (bytes.byteLength > this.opts.maxMessageBytes) { this.drop('oversize-out'); return }
    const st = this.peers.get(to) ?? (this.isValidId(to) ? this.peer(to) : undefined)
    if (st === undefined) { this.drop('unreachable'); return }
    const frame = encodeFrame(bytes)
    st.lastUsed = this.clock.now()
    const s = st.stream
    if (s !== undefined && s.status === 'open' && s.writeStatus === 'writable') {
      // datagram semantics: a peer that does not keep up loses frames instead of growing our buffers
      if (s.writableNeedsDrain) { this.drop('backpressure'); return }
      s.send(frame)
      this.counters.framesSent++
      this.counters.bytesSent += frame.byteLength
      return
    }
    st.stream = undefined
    if (st.queue.length >= C.LIBP2P_MAX_PENDING_FRAMES || st.queueBytes + frame.byteLength > C.LIBP2P_MAX_PENDING_BYTES) { this.drop('queue-full'); return }
    st.queue.push(frame)
    st.queueBytes += frame.byteLength
    this.ensureStream(to, st)
  }

  async request (to: NodeId, bytes: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    this.requireNode('request')
    const st = this.peer(to, true)
    st.lastUsed = this.clock.now()
    this.counters.requestsSent++
    const conn = await this.connection(to, st, opts.signal)
    const res = await requestOverStream(conn, to, C.SYNC_PROTOCOL, bytes, {
      clock: this.clock,
      timeoutMs: this.opts.requestTimeoutMs,
      maxResponseBytes: this.opts.maxRequestBytes,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {})
    })
    st.lastUsed = this.clock.now()
    return res
  }

  onMessage (handler: (from: NodeId, bytes: Uint8Array) => void): void {
    this.messageHandler = handler
  }

  onRequest (handler: (from: NodeId, bytes: Uint8Array) => Promise<Uint8Array> | Uint8Array): void {
    this.requestHandler = handler
  }

  connectedPeers (): NodeId[] {
    const ids = new Set<NodeId>()
    for (const c of this.node?.getConnections() ?? []) if (c.status === 'open') ids.add(c.remotePeer.toString())
    return [...ids]
  }

  connectionCount (): number {
    return (this.node?.getConnections() ?? []).filter(c => c.status === 'open').length
  }

  stats (): Libp2pTransportStats {
    return { ...this.counters, dropped: { ...this.counters.dropped }, bufferedBytes: this.limits.buffered, bufferedBytesPeak: this.limits.peakBuffered }
  }

  // ---- internals ----

  private requireNode (op: string): Libp2p {
    if (this.node === undefined) throw new TransportNotStartedError(op)
    return this.node
  }

  private isValidId (id: NodeId): boolean {
    try {
      parseNodeId(id)
      return true
    } catch {
      return false
    }
  }

  private peer (id: NodeId, validate = false): PeerState {
    let st = this.peers.get(id)
    if (st === undefined) {
      if (validate) parseNodeId(id)
      st = { addrs: [], opening: false, queue: [], queueBytes: 0, lastUsed: this.clock.now() }
      this.peers.set(id, st)
    }
    return st
  }

  private drop (reason: string, n = 1): number {
    const total = (this.counters.dropped[reason] ?? 0) + n
    this.counters.dropped[reason] = total
    return total
  }

  /** An inbound stream or frame over a limit: count, log (rate-limited), and reset the stream if given. */
  /** A stream of a revoked peer (opened before its connection was closed): aborted, counted. */
  private refusedRevoked (from: NodeId, stream: Stream): boolean {
    if (!this.denied.has(from)) return false
    this.drop('revoked')
    stream.abort(new Error(`peer ${from} is revoked`))
    return true
  }

  private refuse (from: NodeId, reason: LimitReason, stream?: Stream): void {
    logRepeated(this.log, this.drop(reason), 'refused inbound stream or frame', { from, reason })
    stream?.abort(new InboundLimitError(reason, `refused a stream of ${from}`))
  }

  /** An open connection to `id`, dialling its known addresses if needed. */
  private async connection (id: NodeId, st: PeerState, signal?: AbortSignal): Promise<Connection> {
    const node = this.requireNode('connect')
    const peerId = parseNodeId(id)
    const open = node.getConnections(peerId).find(c => c.status === 'open')
    if (open !== undefined) return open
    if (st.addrs.length === 0) throw new PeerUnreachableError(id, 'not connected and no known address')
    try {
      return await withTimeout(this.clock, this.opts.dialTimeoutMs, signal, async dialSignal => await node.dial(st.addrs, { signal: dialSignal }))
    } catch (err) {
      throw new DialFailedError(id, describe(err))
    }
  }

  /** Open the outbound gossip stream to `id` (once at a time) and flush its queue. */
  private ensureStream (id: NodeId, st: PeerState): void {
    if (st.opening || this.node === undefined) return
    st.opening = true
    void (async () => {
      const conn = await this.connection(id, st)
      const stream = await withTimeout(this.clock, this.opts.dialTimeoutMs, undefined, async signal => await conn.newStream(C.GOSSIP_PROTOCOL, { signal }))
      if (this.node === undefined) { stream.abort(new TransportNotStartedError('send')); return }
      stream.addEventListener('close', () => { if (st.stream === stream) st.stream = undefined })
      // this stream is write-only; anything the remote sends on it is ignored
      stream.addEventListener('message', () => {})
      st.stream = stream
      const queued = st.queue
      st.queue = []
      st.queueBytes = 0
      for (const frame of queued) {
        stream.send(frame)
        this.counters.framesSent++
        this.counters.bytesSent += frame.byteLength
      }
    })().catch((err: unknown) => {
      this.drop('unreachable', st.queue.length)
      st.queue = []
      st.queueBytes = 0
      this.log.debug('cannot open gossip stream', { peer: id, err: describe(err) })
    }).finally(() => {
      st.opening = false
    })
  }

  private onGossipStream (stream: Stream, conn: Connection): void {
    const from = conn.remotePeer.toString()
    if (this.refusedRevoked(from, stream)) return
    const refused = this.limits.open(from, 'gossip')
    if (refused !== undefined) { this.refuse(from, refused, stream); return }
    this.peer(from).lastUsed = this.clock.now()
    const decoder = new FrameDecoder(this.opts.maxMessageBytes, (d) => this.limits.buffer(from, d))
    stream.addEventListener('close', () => {
      decoder.release()
      this.limits.close(from, 'gossip')
    })
    stream.addEventListener('message', (evt) => {
      const st = this.peer(from)
      st.lastUsed = this.clock.now()
      for (const chunk of chunksOf(evt.data)) {
        this.counters.bytesReceived += chunk.byteLength
        for (const ev of decoder.push(chunk)) {
          if (ev.kind === 'oversize') {
            this.drop('oversize-in')
            this.log.debug('dropped oversized frame', { from, bytes: ev.length })
          } else if (ev.kind === 'limit') {
            this.refuse(from, 'buffer-limit')
          } else if (ev.kind === 'malformed') {
            this.drop('malformed')
            this.log.warn('malformed gossip stream, closing it', { from })
            stream.abort(new BadFrameError('malformed', 'malformed length prefix'))
            return
          } else {
            this.counters.framesReceived++
            try {
              this.messageHandler(from, ev.frame)
            } catch (err) {
              this.drop('handler-error')
              this.log.debug('message handler threw', { from, err: String(err) })
            }
          }
        }
      }
    })
    // we never write on an inbound gossip stream
    stream.close().catch(() => {})
  }

  private async onSyncStream (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    if (this.refusedRevoked(from, stream)) return
    const refused = this.limits.open(from, 'sync')
    if (refused !== undefined) { this.refuse(from, refused, stream); return }
    try {
      const req = await withTimeout(this.clock, this.opts.requestTimeoutMs, undefined, async signal => await readOneFrame(stream, this.opts.maxRequestBytes, signal, (d) => this.limits.buffer(from, d)))
      this.peer(from).lastUsed = this.clock.now()
      const handler = this.requestHandler
      if (handler === undefined) throw new NoRequestHandlerError(from)
      const res = await handler(from, req)
      if (!(res instanceof Uint8Array)) throw new InvalidResponseError(from, res === null ? 'null' : typeof res)
      if (res.byteLength > this.opts.maxRequestBytes) throw new BadFrameError('oversize', `response of ${res.byteLength} bytes exceeds maxRequestBytes (${this.opts.maxRequestBytes})`)
      stream.send(encodeFrame(res))
      await withTimeout(this.clock, this.opts.requestTimeoutMs, undefined, async signal => { await stream.close({ signal }) })
      this.counters.requestsServed++
    } catch (err) {
      if (err instanceof InboundLimitError) this.refuse(from, err.reason)
      else this.log.debug('sync request failed', { from, err: err instanceof Error ? err.message : String(err) })
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.limits.close(from, 'sync')
    }
  }

  private onConnectionOpen (conn: Connection): void {
    const id = conn.remotePeer.toString()
    const now = this.clock.now()
    this.openedAt.set(conn, now)
    this.peer(id).lastUsed = now
    const node = this.node
    if (node === undefined) return
    // keep one slot free so inbound connections are not refused at the cap
    const conns = node.getConnections().filter(c => c.status === 'open' && c !== conn)
    let excess = conns.length + 1 - (this.opts.maxConnections - 1)
    if (excess <= 0) return
    const lru = conns
      .filter(c => c.remotePeer.toString() !== id)
      .sort((a, b) => (this.peers.get(a.remotePeer.toString())?.lastUsed ?? 0) - (this.peers.get(b.remotePeer.toString())?.lastUsed ?? 0))
    for (const c of lru) {
      if (excess-- <= 0) break
      this.counters.evicted++
      this.closeConnection(c, 'connection cap')
    }
  }

  private onPeerDisconnect (id: NodeId): void {
    const st = this.peers.get(id)
    if (st !== undefined) st.stream = undefined
  }

  private closeIdle (): void {
    const node = this.node
    if (node === undefined) return
    const now = this.clock.now()
    const connected = new Set(this.connectedPeers())
    for (const [id, st] of this.peers) {
      // forget peers we cannot reach and have not heard from (addresses come back through gossip)
      if (st.addrs.length === 0 && !st.opening && st.queue.length === 0 && !connected.has(id) && now - st.lastUsed >= this.opts.idleTimeoutMs) this.peers.delete(id)
    }
    for (const c of node.getConnections()) {
      const st = this.peers.get(c.remotePeer.toString())
      if (c.status !== 'open' || st === undefined) continue
      // a connection younger than the timeout may still be negotiating its first stream
      const opened = this.openedAt.get(c)
      if (opened === undefined) { this.openedAt.set(c, now); continue }
      if (now - opened < this.opts.idleTimeoutMs) continue
      if (now - st.lastUsed >= this.opts.idleTimeoutMs && !st.opening) {
        this.counters.idleClosed++
        this.closeConnection(c, 'idle')
      }
    }
  }

  private closeConnection (c: Connection, why: string): void {
    const st = this.peers.get(c.remotePeer.toString())
    if (st?.stream !== undefined && c.streams.includes(st.stream)) st.stream = undefined
    this.log.debug('closing connection', { peer: c.remotePeer.toString(), why })
    withTimeout(this.clock, C.LIBP2P_CLOSE_TIMEOUT_MS, undefined, async signal => { await c.close({ signal }) })
      .catch((err: unknown) => { c.abort(err instanceof Error ? err : new Error(String(err))) })
  }

  /** Run closeIdle every `everyMs` on our clock until stop. */
  private scheduleIdleCheck (everyMs: number): void {
    this.cancelIdleCheck = this.clock.setTimer(everyMs, () => {
      this.closeIdle()
      if (this.node !== undefined) this.scheduleIdleCheck(everyMs)
    })
  }
}
