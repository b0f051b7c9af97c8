/**
 * libp2p transport of @scalelb/gossip: TCP + pnet + Noise + Yamux, protocols
 * `/scalelb/gossip/1.0.0` (one long-lived frame stream per peer) and
 * `/scalelb/sync/1.0.0` (one request/response per stream), plus key helpers.
 */
export { createLibp2pTransport } from './libp2p/transport.js'
export type { Libp2pTransport, Libp2pTransportInit, Libp2pTransportStats } from './libp2p/options.js'
export {
  generateNodeKey, nodeKeyToBytes, nodeKeyFromBytes, peerIdFromKey, generateClusterKey, parseClusterKey, parseClusterKeyFile, formatClusterKeyFile,
  decodeBase64Exact, ADMISSION_REQUIRED_LINE, MANAGER_PUBLIC_KEY_PREFIX, MAX_MANAGER_KEYS, type ClusterKeyFile, type NodeKey
} from './libp2p/keys.js'
export { GOSSIP_PROTOCOL, SYNC_PROTOCOL } from './libp2p/constants.js'
export { parseNodeId } from './libp2p/streams.js'
export {
  InvalidTransportOptionError, ClusterKeyRequiredError, InvalidClusterKeyError, InvalidNodeKeyError,
  InvalidPeerAddressError, TransportNotStartedError, PeerUnreachableError, DialFailedError, ListenFailedError, RequestTimeoutError,
  RequestFailedError, BadFrameError, InboundLimitError, NoRequestHandlerError, InvalidResponseError
} from './libp2p/errors.js'
