import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, REQUEST_TIMEOUT_MS } from '../../constants.js'
import { createSystemClock } from '../../clock.js'
import { createNullLogger, type Logger } from '../../logger.js'
import type { Clock, NodeId, Transport } from '../../types.js'
import * as C from './constants.js'
import { ClusterKeyRequiredError, InvalidTransportOptionError } from './errors.js'
import { parseClusterKey } from './keys.js'

/** Options of createLibp2pTransport. */
export interface Libp2pTransportInit {
  /** The node's Ed25519 key (generateNodeKey / nodeKeyFromBytes); its PeerId is the NodeId. */
  privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. */
  listen: string[]
  /** Addresses to advertise instead of the listen addresses (e.g. the host's underlay IP when listening on 0.0.0.0). @default the listen addresses */
  announce?: string[]
  /** Pre-shared cluster key: the bytes of a pnet key file (parseClusterKey). Required unless `insecure`. */
  clusterKey?: Uint8Array
  /** Run without a pre-shared key (Noise only, anyone can connect). Must be set explicitly. @default false */
  insecure?: boolean
  /** Most open connections; the least recently used peer is disconnected to stay below. @default 128 */
  maxConnections?: number
  /** Close a peer's connections after this long without traffic (ms). @default 60000 */
  idleTimeoutMs?: number
  /** Largest gossip frame sent or accepted (bytes); bigger inbound frames are dropped. @default 65536 */
  maxMessageBytes?: number
  /** Largest request or response accepted (bytes). @default 8 MiB */
  maxRequestBytes?: number
  /** Deadline of one request/response exchange (ms). @default 10000 */
  requestTimeoutMs?: number
  /** Deadline of one dial (ms). @default 5000 */
  dialTimeoutMs?: number
  /** Logger (winston fits). @default discard */
  logger?: Logger
  /**
   * Clock of the transport's own timers and times: request, dial and stream
   * deadlines, the idle check, last-use times. libp2p's internal timers
   * (connection manager, muxer) keep the system clock. @default createSystemClock()
   */
  clock?: Clock
}

/** Counters of the libp2p transport. */
export interface Libp2pTransportStats {
  framesSent: number
  framesReceived: number
  bytesSent: number
  bytesReceived: number
  requestsSent: number
  requestsServed: number
  /**
   * Dropped frames and refused streams by reason: oversize-in, oversize-out, malformed, unreachable, queue-full,
   * backpressure, not-started, self, handler-error, send-failed; stream-limit (inbound gossip streams per peer),
   * sync-limit (sync requests served at once per peer or in total), buffer-limit (bytes of partly received
   * frames per peer or in total).
   */
  dropped: Record<string, number>
  /** Bytes of partly received inbound frames held now (they grow as bytes arrive, never to an announced length). */
  bufferedBytes: number
  /** Highest `bufferedBytes` since start. */
  bufferedBytesPeak: number
  /** Connections closed by this transport because of the cap or idleness. */
  evicted: number
  idleClosed: number
}

/** The libp2p Transport plus introspection used by the agent and tests. */
export interface Libp2pTransport extends Transport {
  /** Close the connections of these peers and refuse new ones both ways (the whole set, replacing the last): revoked members. */
  denyPeers(ids: ReadonlySet<NodeId>): void
  /** NodeIds of peers with at least one open connection. */
  connectedPeers(): NodeId[]
  /** Number of open connections (a peer may briefly have two). */
  connectionCount(): number
  stats(): Libp2pTransportStats
}

/** Options after validation and defaults. */
export interface ResolvedTransportOptions {
  maxConnections: number
  idleTimeoutMs: number
  maxMessageBytes: number
  maxRequestBytes: number
  requestTimeoutMs: number
  dialTimeoutMs: number
}

/** An error (or DOMException) as `name: message`. */
export function describe (err: unknown): string {
  if (err instanceof Error || err instanceof DOMException) return `${err.name}: ${err.message}`
  return String(err)
}

function positiveInt (field: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new InvalidTransportOptionError(field, `must be a positive integer, got ${String(v)}`)
  return v
}

function parseAddrList (field: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw new InvalidTransportOptionError(field, 'expected an array of multiaddr strings')
  return v.map((a: unknown, i) => {
    if (typeof a !== 'string') throw new InvalidTransportOptionError(`${field}[${i}]`, `not a multiaddr: expected a string, got ${typeof a}`)
    try {
      return multiaddr(a).toString()
    } catch (err) {
      throw new InvalidTransportOptionError(`${field}[${i}]`, `not a multiaddr: ${err instanceof Error ? err.message : String(err)}`)
    }
  })
}

/** Everything createLibp2pTransport needs, validated. */
export interface ResolvedTransportInit {
  privateKey: PrivateKey
  listen: string[]
  announce: string[] | undefined
  clusterKey: Uint8Array | undefined
  opts: ResolvedTransportOptions
  logger: Logger
  clock: Clock
}

/**
 * Validate `init` and apply defaults. Throws ClusterKeyRequiredError without
 * `clusterKey` unless `insecure: true`, InvalidClusterKeyError for a bad key
 * and InvalidTransportOptionError naming any other bad option.
 */
export function resolveTransportInit (init: Libp2pTransportInit): ResolvedTransportInit {
  if (init === null || typeof init !== 'object') throw new InvalidTransportOptionError('init', 'expected an object')
  if (init.privateKey?.type !== 'Ed25519') throw new InvalidTransportOptionError('privateKey', 'expected an Ed25519 private key (generateNodeKey)')
  const listen = parseAddrList('listen', init.listen)
  const announce = init.announce === undefined ? undefined : parseAddrList('announce', init.announce)
  if (init.insecure !== undefined && typeof init.insecure !== 'boolean') throw new InvalidTransportOptionError('insecure', 'expected a boolean')
  let clusterKey: Uint8Array | undefined
  if (init.clusterKey !== undefined) {
    if (init.insecure === true) throw new InvalidTransportOptionError('insecure', 'cannot be combined with clusterKey')
    clusterKey = parseClusterKey(init.clusterKey)
  } else if (init.insecure !== true) {
    throw new ClusterKeyRequiredError()
  }
  const opts: ResolvedTransportOptions = {
    maxConnections: positiveInt('maxConnections', init.maxConnections, C.LIBP2P_MAX_CONNECTIONS),
    idleTimeoutMs: positiveInt('idleTimeoutMs', init.idleTimeoutMs, C.LIBP2P_IDLE_TIMEOUT_MS),
    maxMessageBytes: positiveInt('maxMessageBytes', init.maxMessageBytes, MAX_MESSAGE_BYTES),
    maxRequestBytes: positiveInt('maxRequestBytes', init.maxRequestBytes, MAX_REQUEST_BYTES),
    requestTimeoutMs: positiveInt('requestTimeoutMs', init.requestTimeoutMs, REQUEST_TIMEOUT_MS),
    dialTimeoutMs: positiveInt('dialTimeoutMs', init.dialTimeoutMs, C.LIBP2P_DIAL_TIMEOUT_MS)
  }
  const clock = init.clock ?? createSystemClock()
  if (typeof clock?.now !== 'function' || typeof clock.setTimer !== 'function') throw new InvalidTransportOptionError('clock', 'expected a Clock (now, setTimer)')
  return { privateKey: init.privateKey, listen, announce, clusterKey, opts, logger: init.logger ?? createNullLogger(), clock }
}
