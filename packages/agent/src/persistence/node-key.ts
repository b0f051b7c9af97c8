import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { NODE_KEY_FILE } from '../constants.js'
import { PersistenceError } from '../errors.js'
import { writeFileAtomic } from './files.js'

/** libp2p private key type (as returned by @libp2p/crypto). */
export type PrivateKey = ReturnType<typeof privateKeyFromProtobuf>

/** The node's identity, loaded from or created in the data dir. */
export interface NodeIdentity {
  /** Ed25519 private key (libp2p). */
  privateKey: PrivateKey
  /** PeerId string: the node ID. */
  id: string
  /** True when the key was created by this call. */
  created: boolean
}

/**
 * Load the node key from `<dataDir>/node.key` (libp2p protobuf, mode 0600),
 * creating it (atomically) on first start, so the node ID is stable across
 * restarts. A corrupt file is an error, never silently replaced: replacing it
 * would change the node's identity.
 */
export async function loadOrCreateNodeKey (dataDir: string): Promise<NodeIdentity> {
  const path = join(dataDir, NODE_KEY_FILE)
  let bytes: Buffer | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PersistenceError(path, `cannot read node key: ${(err as Error).message}`)
  }
  if (bytes !== undefined) {
    let privateKey: PrivateKey
    try {
      privateKey = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new PersistenceError(path, `corrupt node key (${(err as Error).message}); move it away to create a new identity`)
    }
    if (privateKey.type !== 'Ed25519') throw new PersistenceError(path, `node key must be Ed25519, found ${privateKey.type}`)
    return { privateKey, id: peerIdFromPrivateKey(privateKey).toString(), created: false }
  }
  const privateKey = await generateKeyPair('Ed25519')
  await writeFileAtomic(path, privateKeyToProtobuf(privateKey), { mode: 0o600 })
  return { privateKey, id: peerIdFromPrivateKey(privateKey).toString(), created: true }
}
