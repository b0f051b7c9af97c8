import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { generateKey } from '@libp2p/pnet'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MAX_CLUSTER_KEY_FILE_BYTES } from './constants.js'
import { InvalidClusterKeyError, InvalidNodeKeyError } from './errors.js'
import type { NodeId } from '../../types.js'

/** A node's identity key (Ed25519); its PeerId string is the NodeId. */
export type NodeKey = PrivateKey

/** First line of a libp2p pnet key file (go-ipfs / js-libp2p swarm.key format). */
const PSK_HEADER = '/key/swarm/psk/1.0.0/'
/** The only encoding line this transport writes and accepts. */
const PSK_ENCODING = '/base16/'
/** Pre-shared keys are 32 bytes: 64 hex characters. */
const PSK_HEX_LENGTH = 64

/** Generate a fresh Ed25519 node key. */
export async function generateNodeKey (): Promise<NodeKey> {
  return await generateKeyPair('Ed25519')
}

/** Serialise a node key (libp2p protobuf form) for the agent's data dir. */
export function nodeKeyToBytes (key: NodeKey): Uint8Array {
  return privateKeyToProtobuf(key)
}

/** Decode a node key written by nodeKeyToBytes; throws InvalidNodeKeyError. */
export function nodeKeyFromBytes (bytes: Uint8Array): NodeKey {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) throw new InvalidNodeKeyError('empty or not bytes')
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidNodeKeyError(`cannot decode: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (key.type !== 'Ed25519') throw new InvalidNodeKeyError(`expected an Ed25519 key, got ${key.type}`)
  return key
}

/** The NodeId (PeerId string) of a node key. */
export function peerIdFromKey (key: NodeKey): NodeId {
  return peerIdFromPrivateKey(key).toString()
}

/** Generate a cluster pre-shared key, as the text of a pnet key file. */
export function generateClusterKey (): string {
  const buf = new Uint8Array(PSK_HEADER.length + 1 + PSK_ENCODING.length + 1 + PSK_HEX_LENGTH)
  generateKey(buf)
  return new TextDecoder().decode(buf)
}

/**
 * Validate the text of a pnet key file and return the bytes `clusterKey`
 * expects (normalised: LF line ends, no trailing whitespace). Throws
 * InvalidClusterKeyError naming the bad part: `file`, `header`, `encoding` or `key`.
 */
export function parseClusterKey (text: string | Uint8Array): Uint8Array {
  let s: string
  if (typeof text === 'string') {
    s = text
  } else if (text instanceof Uint8Array) {
    if (text.byteLength > MAX_CLUSTER_KEY_FILE_BYTES) throw new InvalidClusterKeyError('file', `larger than ${MAX_CLUSTER_KEY_FILE_BYTES} bytes`)
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(text)
    } catch {
      throw new InvalidClusterKeyError('file', 'not UTF-8 text')
    }
  } else {
    throw new InvalidClusterKeyError('file', 'expected a string or bytes')
  }
  if (s.length > MAX_CLUSTER_KEY_FILE_BYTES) throw new InvalidClusterKeyError('file', `larger than ${MAX_CLUSTER_KEY_FILE_BYTES} bytes`)
  const lines = s.split(/\r\n|\r|\n/).map(l => l.trim()).filter(l => l !== '')
  if (lines.length !== 3) throw new InvalidClusterKeyError('file', `expected 3 lines (header, encoding, key), got ${lines.length}`)
  const [header, encoding, hex] = lines as [string, string, string]
  if (header !== PSK_HEADER) throw new InvalidClusterKeyError('header', `expected ${PSK_HEADER}, got ${JSON.stringify(header.slice(0, 64))}`)
  if (encoding !== PSK_ENCODING) throw new InvalidClusterKeyError('encoding', `expected ${PSK_ENCODING}, got ${JSON.stringify(encoding.slice(0, 64))}`)
  if (hex.length !== PSK_HEX_LENGTH) throw new InvalidClusterKeyError('key', `expected ${PSK_HEX_LENGTH} hex characters (32 bytes), got ${hex.length}`)
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new InvalidClusterKeyError('key', 'not hexadecimal')
  return new TextEncoder().encode(`${PSK_HEADER}\n${PSK_ENCODING}\n${hex.toLowerCase()}`)
}
