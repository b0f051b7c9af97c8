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
 * Line of a cluster key file after the three pnet lines: the cluster
 * manager's Ed25519 public key, 32 bytes in base64. Manager-table entries
 * (networks, services) are accepted only when signed by its private half.
 */
export const MANAGER_PUBLIC_KEY_PREFIX = '/key/scalelb/manager-ed25519/base64/'
/** Raw Ed25519 public key length (bytes). */
const MANAGER_PUBLIC_KEY_BYTES = 32
/** Manager key lines a cluster key file holds at most (one, or a few while the manager key is rotated). */
export const MAX_MANAGER_KEYS = 4

/**
 * Last line of a cluster key file whose cluster admits only members a
 * manager admitted (sign/admission.ts). An agent of a version that does not
 * know it refuses the whole file, rather than run without the check.
 */
export const ADMISSION_REQUIRED_LINE = '/policy/scalelb/admission/required'

/** A parsed cluster key file. */
export interface ClusterKeyFile {
  /** The pre-shared key exactly as `clusterKey` (pnet) expects it: the three normalised pnet lines. */
  psk: Uint8Array
  /** The cluster manager's Ed25519 public key (32 raw bytes), the file's first; absent in files written before manager keys existed. */
  managerPublicKey?: Uint8Array
  /** Every manager public key of the file, in order (more than one while the manager key is rotated); absent with none. */
  managerPublicKeys?: Uint8Array[]
  /** True if the file ends with {@link ADMISSION_REQUIRED_LINE}. */
  admissionRequired?: boolean
}

/**
 * Decode canonical base64 of exactly `bytes` bytes, or undefined
 * (Buffer's decoder skips bad characters; this does not).
 */
export function decodeBase64Exact (text: string, bytes: number): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined
  const buf = Buffer.from(text, 'base64')
  if (buf.byteLength !== bytes || buf.toString('base64') !== text) return undefined
  return new Uint8Array(buf)
}

function keyFileText (text: string | Uint8Array): string {
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
  return s
}

/**
 * Validate a cluster key file: the three pnet lines (libp2p swarm.key
 * format), then up to MAX_MANAGER_KEYS manager public key lines (one, or a few while the manager key is rotated)
 * ({@link MANAGER_PUBLIC_KEY_PREFIX}). LF or CRLF line ends, blank lines and
 * surrounding whitespace are ignored. Throws InvalidClusterKeyError naming
 * the bad part: `file`, `header`, `encoding`, `key`, `manager` or `manager[i]`.
 */
export function parseClusterKeyFile (text: string | Uint8Array): ClusterKeyFile {
  const lines = keyFileText(text).split(/\r\n|\r|\n/).map(l => l.trim()).filter(l => l !== '')
  const admissionRequired = lines.at(-1) === ADMISSION_REQUIRED_LINE
  if (admissionRequired) lines.pop()
  if (lines.length < 3 || lines.length > 3 + MAX_MANAGER_KEYS) {
    throw new InvalidClusterKeyError('file', `expected 3 lines (header, encoding, key), up to ${MAX_MANAGER_KEYS} manager key lines and optionally ${ADMISSION_REQUIRED_LINE}, got ${lines.length + (admissionRequired ? 1 : 0)}`)
  }
  const [header, encoding, hex] = lines as [string, string, string]
  if (header !== PSK_HEADER) throw new InvalidClusterKeyError('header', `expected ${PSK_HEADER}, got ${JSON.stringify(header.slice(0, 64))}`)
  if (encoding !== PSK_ENCODING) throw new InvalidClusterKeyError('encoding', `expected ${PSK_ENCODING}, got ${JSON.stringify(encoding.slice(0, 64))}`)
  if (hex.length !== PSK_HEX_LENGTH) throw new InvalidClusterKeyError('key', `expected ${PSK_HEX_LENGTH} hex characters (32 bytes), got ${hex.length}`)
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new InvalidClusterKeyError('key', 'not hexadecimal')
  const out: ClusterKeyFile = { psk: new TextEncoder().encode(`${PSK_HEADER}\n${PSK_ENCODING}\n${hex.toLowerCase()}`) }
  const keys: Uint8Array[] = []
  for (const [i, manager] of lines.slice(3).entries()) {
    const field = i === 0 ? 'manager' : `manager[${i}]`
    if (!manager.startsWith(MANAGER_PUBLIC_KEY_PREFIX)) {
      throw new InvalidClusterKeyError(field, `expected line ${i + 4} to start with ${MANAGER_PUBLIC_KEY_PREFIX}, got ${JSON.stringify(manager.slice(0, 64))}`)
    }
    const raw = decodeBase64Exact(manager.slice(MANAGER_PUBLIC_KEY_PREFIX.length), MANAGER_PUBLIC_KEY_BYTES)
    if (raw === undefined) throw new InvalidClusterKeyError(field, `expected ${MANAGER_PUBLIC_KEY_BYTES} bytes of base64 after ${MANAGER_PUBLIC_KEY_PREFIX}`)
    if (keys.some((k) => Buffer.from(k).equals(raw))) throw new InvalidClusterKeyError(field, `repeats an earlier manager key line`)
    keys.push(raw)
  }
  if (keys.length > 0) {
    out.managerPublicKey = keys[0] as Uint8Array
    out.managerPublicKeys = keys
  }
  if (admissionRequired) {
    if (keys.length === 0) throw new InvalidClusterKeyError('admission', `${ADMISSION_REQUIRED_LINE} needs a manager key line: nobody could admit a node`)
    out.admissionRequired = true
  }
  return out
}

/**
 * Validate the text of a cluster key file and return the bytes `clusterKey`
 * expects (the three pnet lines, normalised: LF line ends, no trailing
 * whitespace); a manager key line is checked and left out. Throws
 * InvalidClusterKeyError as {@link parseClusterKeyFile}.
 */
export function parseClusterKey (text: string | Uint8Array): Uint8Array {
  return parseClusterKeyFile(text).psk
}

/**
 * The text of a cluster key file (newline-terminated): the pre-shared key's
 * three pnet lines (validated, normalised) and, when given, the manager
 * public key lines and, where admission is required, {@link ADMISSION_REQUIRED_LINE}.
 */
export function formatClusterKeyFile (file: { psk: string | Uint8Array, managerPublicKey?: Uint8Array, managerPublicKeys?: readonly Uint8Array[], admissionRequired?: boolean }): string {
  const psk = new TextDecoder().decode(parseClusterKey(file.psk))
  const keys = file.managerPublicKeys ?? (file.managerPublicKey === undefined ? [] : [file.managerPublicKey])
  if (keys.length > MAX_MANAGER_KEYS) throw new InvalidClusterKeyError('manager', `at most ${MAX_MANAGER_KEYS} manager keys, got ${keys.length}`)
  for (const k of keys) {
    if (!(k instanceof Uint8Array) || k.byteLength !== MANAGER_PUBLIC_KEY_BYTES) {
      throw new InvalidClusterKeyError('manager', `expected a ${MANAGER_PUBLIC_KEY_BYTES}-byte Ed25519 public key`)
    }
  }
  if (file.admissionRequired === true && keys.length === 0) throw new InvalidClusterKeyError('admission', 'required admission needs a manager key')
  const policy = file.admissionRequired === true ? [ADMISSION_REQUIRED_LINE] : []
  return `${[psk, ...keys.map((k) => `${MANAGER_PUBLIC_KEY_PREFIX}${Buffer.from(k).toString('base64')}`), ...policy].join('\n')}\n`
}
