/** Typed errors of the libp2p transport; callers branch on `name`. */

/** A transport option is invalid; `field` names it. */
export class InvalidTransportOptionError extends Error {
  override name = 'InvalidTransportOptionError'
  /** The offending option. */
  readonly field: string
  constructor (field: string, message: string) {
    super(`invalid libp2p transport option ${field}: ${message}`)
    this.field = field
  }
}

/** No cluster key was given and `insecure: true` was not set explicitly. */
export class ClusterKeyRequiredError extends Error {
  override name = 'ClusterKeyRequiredError'
  readonly field = 'clusterKey'
  constructor () {
    super('clusterKey is required: pass the pre-shared key (generateClusterKey) or set insecure: true explicitly')
  }
}

/** A cluster key file is malformed; `field` names the bad part (file, header, encoding, key, manager). */
export class InvalidClusterKeyError extends Error {
  override name = 'InvalidClusterKeyError'
  /** Which part of the key file is wrong. */
  readonly field: string
  constructor (field: string, message: string) {
    super(`invalid cluster key (${field}): ${message}`)
    this.field = field
  }
}

/** Persisted node key bytes could not be decoded or are not Ed25519. */
export class InvalidNodeKeyError extends Error {
  override name = 'InvalidNodeKeyError'
  constructor (message: string) {
    super(`invalid node key: ${message}`)
  }
}

/** An address is not a valid multiaddr or a NodeId is not a valid PeerId. */
export class InvalidPeerAddressError extends Error {
  override name = 'InvalidPeerAddressError'
  /** The rejected input. */
  readonly input: string
  constructor (input: string, message: string) {
    super(`invalid peer address ${JSON.stringify(input)}: ${message}`)
    this.input = input
  }
}

/** The transport is not started (or was stopped). */
export class TransportNotStartedError extends Error {
  override name = 'TransportNotStartedError'
  constructor (op: string) {
    super(`libp2p transport not started: cannot ${op}`)
  }
}

/** No connection to the peer and no known address to dial it at. */
export class PeerUnreachableError extends Error {
  override name = 'PeerUnreachableError'
  /** The peer's NodeId. */
  readonly peer: string
  constructor (peer: string, message: string) {
    super(`peer ${peer} unreachable: ${message}`)
    this.peer = peer
  }
}

/** A request got no complete response within the timeout. */
export class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError'
  constructor (peer: string, ms: number) {
    super(`request to ${peer} timed out after ${ms} ms`)
  }
}

/** A request or response frame was larger than allowed, or malformed. */
export class BadFrameError extends Error {
  override name = 'BadFrameError'
  /** oversize | malformed | eof */
  readonly reason: 'oversize' | 'malformed' | 'eof'
  constructor (reason: 'oversize' | 'malformed' | 'eof', message: string) {
    super(`bad frame (${reason}): ${message}`)
    this.reason = reason
  }
}

/** An inbound stream or frame was refused by a per-peer or total limit (streams, sync requests, buffered bytes). */
export class InboundLimitError extends Error {
  override name = 'InboundLimitError'
  /** stream-limit | sync-limit | buffer-limit */
  readonly reason: 'stream-limit' | 'sync-limit' | 'buffer-limit'
  constructor (reason: 'stream-limit' | 'sync-limit' | 'buffer-limit', message: string) {
    super(`inbound limit (${reason}): ${message}`)
    this.reason = reason
  }
}

/** A request arrived before a request handler was installed (`onRequest`). */
export class NoRequestHandlerError extends Error {
  override name = 'NoRequestHandlerError'
  constructor (from: string) {
    super(`request from ${from} not answered: no request handler installed`)
  }
}

/** The installed request handler returned something other than bytes. */
export class InvalidResponseError extends Error {
  override name = 'InvalidResponseError'
  constructor (from: string, got: string) {
    super(`request from ${from} not answered: the request handler returned ${got}, not a Uint8Array`)
  }
}

/** The remote refused or failed to answer a request. */
export class RequestFailedError extends Error {
  override name = 'RequestFailedError'
  constructor (peer: string, message: string) {
    super(`request to ${peer} failed: ${message}`)
  }
}

/** A dial failed: refused, timed out, or the handshake failed (e.g. another cluster key). */
export class DialFailedError extends Error {
  override name = 'DialFailedError'
  /** The address or NodeId dialled. */
  readonly target: string
  constructor (target: string, message: string) {
    super(`dial ${target} failed: ${message}`)
    this.target = target
  }
}

/** The transport could not listen on its addresses (port in use, address not local, ...). */
export class ListenFailedError extends Error {
  override name = 'ListenFailedError'
  /** The listen addresses asked for. */
  readonly listen: string[]
  constructor (listen: string[], message: string) {
    super(`cannot listen on ${listen.join(', ')}: ${message}`)
    this.listen = listen
  }
}
