import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { NodeId } from '../types.js'
import { admissionBytes } from './admission.js'

/** Ed25519 signature length (bytes). */
export const SIGNATURE_BYTES = 64
/** Ed25519 public key length (bytes). */
export const PUBLIC_KEY_BYTES = 32
/** Public keys derived from peer IDs kept in memory (the oldest is dropped beyond this). */
const MAX_CACHED_KEYS = 16384

/**
 * The keys a node signs and verifies with: its own Ed25519 node key (its
 * origin ID names the public half), and optionally the cluster manager key
 * pair (public half on every node, private half on managers only).
 */
export interface Keyring {
  /** This node's ID. */
  readonly self: NodeId
  /** True if this node holds the manager private key. */
  readonly manager: boolean
  /** True if the manager public key is known (entries of manager tables can be checked). */
  readonly managerKnown: boolean
  /** Sign with the node key. */
  sign(data: Uint8Array): Uint8Array
  /** Check a signature by node `id`; false for a bad signature or an ID that names no Ed25519 key. */
  verify(id: NodeId, data: Uint8Array, sig: Uint8Array): boolean
  /** Sign with the manager key; throws {@link NotManagerError} on a node without it. */
  signManager(data: Uint8Array): Uint8Array
  /** Check a signature by a manager key (any of the cluster's, while it rotates); false without a manager public key. */
  verifyManager(data: Uint8Array, sig: Uint8Array): boolean
  /**
   * True if the cluster admits only members a manager admitted: another
   * member's `alive` is accepted only with its admission (sign/admission.ts).
   */
  readonly admissionRequired: boolean
  /** This node's admission, carried in its own `alive` (a manager node signs its own); undefined without one. */
  readonly admission: Uint8Array | undefined
}

/** The cluster requires admission and this node has none. */
export class NotAdmittedError extends Error {
  override name = 'NotAdmittedError'
  constructor (readonly id: NodeId) {
    super(`node ${id} is not admitted: the cluster admits only nodes a manager admitted, and this node has no admission`)
  }
}

/** This node has no manager private key but was asked to sign as a manager. */
export class NotManagerError extends Error {
  override name = 'NotManagerError'
  constructor (readonly what: string) {
    super(`${what}: only manager nodes (started with the cluster's manager key) may do this`)
  }
}

/** A key given to the keyring is not a usable Ed25519 key. */
export class InvalidSigningKeyError extends Error {
  override name = 'InvalidSigningKeyError'
  constructor (readonly field: string, reason: string) {
    super(`invalid ${field}: ${reason}`)
  }
}

function b64url (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url')
}

/** Ed25519 public key object from its 32 raw bytes. */
export function publicKeyFromRaw (raw: Uint8Array, field = 'public key'): KeyObject {
  if (!(raw instanceof Uint8Array) || raw.byteLength !== PUBLIC_KEY_BYTES) throw new InvalidSigningKeyError(field, `expected ${PUBLIC_KEY_BYTES} bytes`)
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' })
}

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/** Ed25519 private key object from a 32-byte seed or a 64-byte seed+public (libp2p's `raw`). */
export function privateKeyFromRaw (raw: Uint8Array, field = 'private key'): KeyObject {
  if (!(raw instanceof Uint8Array) || (raw.byteLength !== 32 && raw.byteLength !== 64)) throw new InvalidSigningKeyError(field, 'expected 32 or 64 bytes')
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
}

/** The 32 raw bytes of an Ed25519 public (or private) key object's public half. */
export function rawPublicKey (key: KeyObject): Uint8Array {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' })
  return new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))
}

/** The 32-byte seed of an Ed25519 private key object. */
export function rawPrivateKey (key: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).d as string, 'base64url'))
}

/** A fresh Ed25519 key pair as raw bytes (seed 32, public 32): the cluster manager key. */
export function generateSigningKeyPair (): { privateKey: Uint8Array, publicKey: Uint8Array } {
  const { privateKey } = generateKeyPairSync('ed25519')
  return { privateKey: rawPrivateKey(privateKey), publicKey: rawPublicKey(privateKey) }
}

/**
 * Public key of a libp2p peer ID string (Ed25519 identity multihash), or
 * undefined if the ID does not embed an Ed25519 key. Cached.
 */
export function createPeerIdKeys (): (id: NodeId) => KeyObject | undefined {
  const cache = new Map<NodeId, KeyObject | null>()
  return (id) => {
    let k = cache.get(id)
    if (k === undefined) {
      try {
        const pub = peerIdFromString(id).publicKey
        k = pub?.type === 'Ed25519' ? publicKeyFromRaw(pub.raw) : null
      } catch {
        k = null
      }
      if (cache.size >= MAX_CACHED_KEYS) cache.delete(cache.keys().next().value as NodeId)
      cache.set(id, k)
    }
    return k ?? undefined
  }
}

/** Options of {@link createKeyring}. */
export interface KeyringInit {
  self: NodeId
  /** Node private key (32-byte seed, 64-byte libp2p raw, or a key object). */
  privateKey: Uint8Array | KeyObject
  /** Public key of a node ID. @default derived from libp2p peer IDs */
  publicKeyOf?: (id: NodeId) => KeyObject | undefined
  /** Manager public key (32 raw bytes). Without it no manager-table entry is accepted. */
  managerPublicKey?: Uint8Array
  /**
   * Every manager public key accepted (32 raw bytes each), replacing
   * `managerPublicKey`: more than one while the manager key is rotated (an
   * entry signed by any of them is accepted; a manager signs with its own).
   */
  managerPublicKeys?: readonly Uint8Array[]
  /** Manager private key (32-byte seed): only on manager nodes. */
  managerPrivateKey?: Uint8Array
  /** This node's admission (a manager's signature over `self`, {@link admissionBytes}); a manager node makes its own. */
  admission?: Uint8Array
  /** Admit only members with an admission (needs a manager public key; without `admission`, only a manager node may run). */
  admissionRequired?: boolean
}

/** A keyring over Node's Ed25519 (OpenSSL). */
export function createKeyring (init: KeyringInit): Keyring {
  const own = init.privateKey instanceof Uint8Array ? privateKeyFromRaw(init.privateKey, 'node key') : init.privateKey
  const publicKeyOf = init.publicKeyOf ?? createPeerIdKeys()
  const mgrPriv = init.managerPrivateKey === undefined ? undefined : privateKeyFromRaw(init.managerPrivateKey, 'manager private key')
  const rawKeys = init.managerPublicKeys ?? (init.managerPublicKey === undefined ? [] : [init.managerPublicKey])
  const mgrPubs = rawKeys.map((k, i) => publicKeyFromRaw(k, rawKeys.length === 1 ? 'manager public key' : `manager public key ${i + 1}`))
  if (mgrPriv !== undefined) {
    const derived = Buffer.from(rawPublicKey(mgrPriv))
    const i = rawKeys.findIndex((k) => derived.equals(Buffer.from(k)))
    if (rawKeys.length === 0) mgrPubs.push(publicKeyFromRaw(derived))
    else if (i < 0) throw new InvalidSigningKeyError('manager private key', `does not match the cluster's manager public key${rawKeys.length === 1 ? '' : 's'}`)
    // the key this node signs with first: a signature of ours (the most checked) costs one check
    else if (i > 0) mgrPubs.unshift(...mgrPubs.splice(i, 1))
  }
  const verifyManager = (data: Uint8Array, sig: Uint8Array): boolean => sig.byteLength === SIGNATURE_BYTES && mgrPubs.some((k) => edVerify(null, data, k, sig))
  let admission = init.admission
  if (admission !== undefined && !verifyManager(admissionBytes(init.self), admission)) {
    throw new InvalidSigningKeyError('admission', `is not signed by ${mgrPubs.length === 0 ? 'a manager key (none is known)' : "one of the cluster's manager keys"} for node ${init.self}`)
  }
  if (admission === undefined && mgrPriv !== undefined) admission = new Uint8Array(edSign(null, admissionBytes(init.self), mgrPriv))
  const admissionRequired = init.admissionRequired === true
  if (admissionRequired) {
    if (mgrPubs.length === 0) throw new InvalidSigningKeyError('admission', 'required, but no manager public key is known to check admissions with')
    if (admission === undefined) throw new NotAdmittedError(init.self)
  }
  return {
    self: init.self,
    manager: mgrPriv !== undefined,
    managerKnown: mgrPubs.length > 0,
    sign: (data) => new Uint8Array(edSign(null, data, own)),
    verify: (id, data, sig) => {
      if (sig.byteLength !== SIGNATURE_BYTES) return false
      const k = publicKeyOf(id)
      return k !== undefined && edVerify(null, data, k, sig)
    },
    signManager: (data) => {
      if (mgrPriv === undefined) throw new NotManagerError('sign a manager entry')
      return new Uint8Array(edSign(null, data, mgrPriv))
    },
    verifyManager,
    admissionRequired,
    admission
  }
}

/**
 * Keys of nodes whose IDs are not libp2p peer IDs (simulator, in-memory
 * tests): each `add` makes a key pair for an ID and returns its keyring;
 * every keyring of one directory verifies every other's signatures.
 */
export interface KeyDirectory {
  /** `admitted`: the keyring carries a manager-signed admission; `admissionRequired`: it admits only admitted members. */
  add(id: NodeId, opts?: { manager?: boolean, admitted?: boolean, admissionRequired?: boolean }): Keyring
  publicKeyOf(id: NodeId): KeyObject | undefined
  /** The directory's manager key pair (raw). */
  readonly managerKey: { privateKey: Uint8Array, publicKey: Uint8Array }
}

/**
 * A {@link KeyDirectory} with a fresh manager key pair. `shareChecks`: the
 * keyrings of this directory share the result of each signature check (by
 * signer, data digest and signature), so a simulator running thousands of
 * nodes in one process verifies each signature once, not once per node;
 * what a real node pays is measured by `bench:trust`.
 */
export function createKeyDirectory (opts: { shareChecks?: boolean } = {}): KeyDirectory {
  const keys = new Map<NodeId, KeyObject>()
  const managerKey = generateSigningKeyPair()
  const publicKeyOf = (id: NodeId): KeyObject | undefined => keys.get(id)
  const checked = opts.shareChecks === true ? new Map<string, boolean>() : undefined
  const memo = (kr: Keyring): Keyring => {
    if (checked === undefined) return kr
    const once = (who: string, data: Uint8Array, sig: Uint8Array, check: () => boolean): boolean => {
      const k = `${who}\u0000${createHash('sha256').update(data).digest('base64')}\u0000${Buffer.from(sig).toString('base64')}`
      let ok = checked.get(k)
      if (ok === undefined) {
        ok = check()
        checked.set(k, ok)
      }
      return ok
    }
    return {
      ...kr,
      verify: (id, data, sig) => once(id, data, sig, () => kr.verify(id, data, sig)),
      verifyManager: (data, sig) => once('', data, sig, () => kr.verifyManager(data, sig))
    }
  }
  return {
    managerKey,
    publicKeyOf,
    add (id, addOpts = {}) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      keys.set(id, publicKey)
      return memo(createKeyring({
        self: id,
        privateKey,
        publicKeyOf,
        managerPublicKey: managerKey.publicKey,
        ...(addOpts.manager === true ? { managerPrivateKey: managerKey.privateKey } : {}),
        ...(addOpts.admitted === true ? { admission: new Uint8Array(edSign(null, admissionBytes(id), privateKeyFromRaw(managerKey.privateKey))) } : {}),
        ...(addOpts.admissionRequired === true ? { admissionRequired: true } : {})
      }))
    }
  }
}
