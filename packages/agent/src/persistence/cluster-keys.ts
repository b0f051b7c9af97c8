import { open } from 'node:fs/promises'
import { decodeBase64Exact, formatClusterKeyFile, generateClusterKey, generateSigningKeyPair, parseClusterKeyFile, privateKeyFromRaw, rawPublicKey } from '@scalelb/gossip'
import { MAX_KEY_FILE_BYTES } from '../constants.js'
import { ConfigError } from '../errors.js'
import type { AgentConfig } from '../config/options.js'
import type { Logger } from '../logging/logger.js'
import type { AgentRole } from '../types.js'

/**
 * The only line of a manager key file: the cluster manager's Ed25519 private
 * key (its 32-byte seed) in base64. Only manager nodes hold this file; every
 * node's cluster key file holds the public half
 * (`/key/scalelb/manager-ed25519/base64/`).
 */
export const MANAGER_PRIVATE_KEY_PREFIX = '/key/scalelb/manager-ed25519-private/base64/'
/** Ed25519 seed length (bytes). */
const SEED_BYTES = 32

/** The keys an agent runs with, from its cluster key file and manager key file. */
export interface ClusterKeys {
  /** Pre-shared key for the transport (pnet); undefined with `--insecure`. */
  psk: Uint8Array | undefined
  /** Manager public key (32 raw bytes), the cluster key file's first; undefined with `--insecure`. */
  managerPublicKey: Uint8Array | undefined
  /** Every manager public key of the cluster key file (more than one while the manager key is rotated); empty with `--insecure`. */
  managerPublicKeys: Uint8Array[]
  /** Manager private key (32-byte seed): manager nodes only. */
  managerPrivateKey: Uint8Array | undefined
  /** What this node may change: see {@link AgentRole}. */
  role: AgentRole
  /** True if the cluster key file requires admission: only members a manager admitted are accepted (see persistence/admission.ts). */
  admissionRequired: boolean
}

/** Text of a manager key file (newline-terminated) for a 32-byte Ed25519 seed. */
export function formatManagerKeyFile (seed: Uint8Array): string {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== SEED_BYTES) throw new TypeError(`manager private key: expected ${SEED_BYTES} bytes`)
  return `${MANAGER_PRIVATE_KEY_PREFIX}${Buffer.from(seed).toString('base64')}\n`
}

/** The two files of a new cluster, as text. */
export interface NewClusterKeys {
  /** Cluster key file: the pre-shared key (libp2p pnet) and the manager public key; every node has it. */
  clusterKey: string
  /** Manager key file: the manager private key; manager nodes only. */
  managerKey: string
}

/** A new cluster key file (admitting only admitted nodes with `requireAdmission`) and its manager key file (text, newline-terminated). */
export function newClusterKeys (opts: { requireAdmission?: boolean } = {}): NewClusterKeys {
  const pair = generateSigningKeyPair()
  return {
    clusterKey: formatClusterKeyFile({ psk: generateClusterKey(), managerPublicKey: pair.publicKey, admissionRequired: opts.requireAdmission === true }),
    managerKey: formatManagerKeyFile(pair.privateKey)
  }
}

/** The 32-byte seed in a manager key file's text; throws {@link ConfigError} on `field` naming what is wrong. */
export function parseManagerKeyFile (text: string, field: string, path: string): Uint8Array {
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter((l) => l !== '')
  if (lines.length !== 1) throw new ConfigError(field, `${path} is not a manager key file: expected 1 line, got ${lines.length}`)
  const line = lines[0] as string
  if (!line.startsWith(MANAGER_PRIVATE_KEY_PREFIX)) {
    const hint = line.startsWith('/key/swarm/psk/') ? ' (that is a cluster key file)' : ''
    throw new ConfigError(field, `${path} is not a manager key file: expected a line starting with ${MANAGER_PRIVATE_KEY_PREFIX}${hint}`)
  }
  const seed = decodeBase64Exact(line.slice(MANAGER_PRIVATE_KEY_PREFIX.length), SEED_BYTES)
  if (seed === undefined) throw new ConfigError(field, `${path} is not a manager key file: expected ${SEED_BYTES} bytes of base64 after ${MANAGER_PRIVATE_KEY_PREFIX}`)
  return seed
}

/** The Ed25519 public key (32 raw bytes) of a manager private key seed. */
export function managerPublicKeyOf (seed: Uint8Array): Uint8Array {
  return rawPublicKey(privateKeyFromRaw(seed, 'manager private key'))
}

/** A manager key file: its seed, the public key of it, the file's mode. Throws {@link ConfigError} on `field`. */
export async function readManagerKey (path: string, field: string): Promise<{ seed: Uint8Array, publicKey: Buffer, mode: number }> {
  const { text, mode } = await readKeyFile(path, field)
  const seed = parseManagerKeyFile(text, field, path)
  return { seed, publicKey: Buffer.from(managerPublicKeyOf(seed)), mode }
}

/** Read a small key file (at most MAX_KEY_FILE_BYTES); its mode comes along. Throws {@link ConfigError} on `field`. */
export async function readKeyFile (path: string, field: string): Promise<{ text: string, mode: number }> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    throw new ConfigError(field, `cannot read ${path}: ${(err as Error).message}`)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new ConfigError(field, `${path} is not a regular file`)
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1)
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0)
    if (bytesRead > MAX_KEY_FILE_BYTES) throw new ConfigError(field, `${path} is larger than ${MAX_KEY_FILE_BYTES} bytes: not a key file`)
    return { text: buf.subarray(0, bytesRead).toString('utf8'), mode: st.mode & 0o777 }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(field, `cannot read ${path}: ${(err as Error).message}`)
  } finally {
    await fh.close()
  }
}

/**
 * Load the agent's keys from `--cluster-key-file` and `--manager-key-file`:
 * - no cluster key (`--insecure`): role `insecure`, nothing to check;
 * - a cluster key file without a manager public key (written by an older
 *   `scalelb keygen`): refused, with the command that adds one (nobody could
 *   change networks or services in such a cluster);
 * - a manager key file whose public half is none of the cluster key
 *   file's (one, or a few while the manager key is rotated): refused,
 *   naming both files;
 * - otherwise `manager` with a manager key file, `worker` without.
 * Throws {@link ConfigError}. A manager key file others may read is logged.
 */
export async function loadClusterKeys (cfg: Pick<AgentConfig, 'clusterKeyFile' | 'managerKeyFile'>, log?: Logger): Promise<ClusterKeys> {
  // resolveAgentConfig refuses a manager key file without a cluster key file
  if (cfg.clusterKeyFile === undefined) return { psk: undefined, managerPublicKey: undefined, managerPublicKeys: [], managerPrivateKey: undefined, role: 'insecure', admissionRequired: false }
  const clusterFile = cfg.clusterKeyFile
  const { text } = await readKeyFile(clusterFile, '--cluster-key-file')
  let parsed
  try {
    parsed = parseClusterKeyFile(text)
  } catch (err) {
    throw new ConfigError('--cluster-key-file', `${clusterFile} is not a cluster key (${(err as Error).message}); create one with scalelb keygen`)
  }
  if (parsed.managerPublicKey === undefined) {
    throw new ConfigError('--cluster-key-file', `${clusterFile} has no manager public key (it was written by an older scalelb keygen), so no node could change networks or services; ` +
      `add one with \`scalelb keygen --add-manager ${clusterFile} --manager-out manager.key\`, copy ${clusterFile} to every node and give manager.key to the manager nodes (--manager-key-file)`)
  }
  const managerPublicKeys = parsed.managerPublicKeys ?? [parsed.managerPublicKey]
  const admissionRequired = parsed.admissionRequired === true
  if (cfg.managerKeyFile === undefined) return { psk: parsed.psk, managerPublicKey: parsed.managerPublicKey, managerPublicKeys, managerPrivateKey: undefined, role: 'worker', admissionRequired }
  const managerFile = cfg.managerKeyFile
  const { seed, publicKey: pub, mode } = await readManagerKey(managerFile, '--manager-key-file')
  if (!managerPublicKeys.some((k) => pub.equals(Buffer.from(k)))) {
    throw new ConfigError('--manager-key-file', managerPublicKeys.length === 1
      ? `${managerFile} is not the manager key of this cluster: its public key differs from the manager public key in ${clusterFile} (--cluster-key-file); use the manager key written by the same scalelb keygen run`
      : `${managerFile} is not a manager key of this cluster: its public key is none of the ${managerPublicKeys.length} manager public keys in ${clusterFile} (--cluster-key-file; a key retired by scalelb keygen --drop-manager is no longer one)`)
  }
  if ((mode & 0o077) !== 0) log?.warn('the manager key file can be read by other users: anyone who reads it can change every network and service', { file: managerFile, mode: `0${mode.toString(8)}` })
  return { psk: parsed.psk, managerPublicKey: parsed.managerPublicKey, managerPublicKeys, managerPrivateKey: seed, role: 'manager', admissionRequired }
}
