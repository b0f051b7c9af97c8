import { access, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { admissionBytes, createKeyring, decodeBase64Exact, InvalidSigningKeyError, NotAdmittedError, SIGNATURE_BYTES, type Keyring } from '@scalelb/gossip'
import { ADMISSION_FILE } from '../constants.js'
import { ConfigError } from '../errors.js'
import type { AgentConfig } from '../config/options.js'
import { readKeyFile, readManagerKey, type ClusterKeys } from './cluster-keys.js'
import { writeFileAtomic } from './files.js'
import { loadOrCreateNodeKey } from './node-key.js'

/**
 * The only line of an admission file: `<prefix><node ID>/<base64 of a
 * manager's Ed25519 signature over the ID>` (@scalelb/gossip
 * `admissionBytes`). Written by `scalelb keygen --admit` on a manager host;
 * read by that node's agent (`--admission-file`, by default
 * `<data-dir>/admission`). Not secret: it admits that one ID, whose node key
 * only that node holds.
 */
export const ADMISSION_PREFIX = '/admission/scalelb/ed25519/'

/** A parsed admission file. */
export interface Admission {
  /** The node it admits. */
  id: string
  /** The manager's signature over it. */
  sig: Uint8Array
}

/** Text of an admission file (newline-terminated). */
export function formatAdmissionFile (a: Admission): string {
  return `${ADMISSION_PREFIX}${a.id}/${Buffer.from(a.sig).toString('base64')}\n`
}

/** The admission of node `id`, signed with a manager key (its 32-byte seed). */
export function signAdmission (id: string, managerSeed: Uint8Array): Admission {
  return { id, sig: createKeyring({ self: id, privateKey: managerSeed, managerPrivateKey: managerSeed }).signManager(admissionBytes(id)) }
}

/**
 * Admit the node whose data dir is `dataDir` (its node key made there if it
 * has none yet) with the manager key in `managerKeyFile`: writes
 * `<dataDir>/admission`, where its agent looks by default. Returns the node ID.
 */
export async function admitNodeDir (dataDir: string, managerKeyFile: string): Promise<string> {
  const { seed } = await readManagerKey(managerKeyFile, 'manager key file')
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const { id } = await loadOrCreateNodeKey(dataDir)
  await writeFileAtomic(join(dataDir, ADMISSION_FILE), formatAdmissionFile(signAdmission(id, seed)), { mode: 0o644 })
  return id
}

/** An admission file's text; throws {@link ConfigError} on `field` naming what is wrong. */
export function parseAdmissionFile (text: string, field: string, path: string): Admission {
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter((l) => l !== '')
  if (lines.length !== 1) throw new ConfigError(field, `${path} is not an admission file: expected 1 line, got ${lines.length}`)
  const line = lines[0] as string
  if (!line.startsWith(ADMISSION_PREFIX)) throw new ConfigError(field, `${path} is not an admission file: expected a line starting with ${ADMISSION_PREFIX}`)
  const rest = line.slice(ADMISSION_PREFIX.length)
  // a node ID has no '/' (base58), base64 may
  const slash = rest.indexOf('/')
  const id = rest.slice(0, Math.max(0, slash))
  const sig = slash < 0 ? undefined : decodeBase64Exact(rest.slice(slash + 1), SIGNATURE_BYTES)
  if (id === '' || sig === undefined) throw new ConfigError(field, `${path} is not an admission file: expected ${ADMISSION_PREFIX}<node ID>/<${SIGNATURE_BYTES} bytes of base64>`)
  return { id, sig }
}

/**
 * This node's admission, from `--admission-file` or (absent) from
 * `<data-dir>/admission` if that exists; undefined without one. An
 * admission of another node is refused; whether its signature is a
 * manager's is checked where the keyring is made. Throws {@link ConfigError}.
 */
export async function loadAdmission (cfg: Pick<AgentConfig, 'admissionFile' | 'dataDir'>, self: string): Promise<{ admission: Admission | undefined, path: string }> {
  const path = cfg.admissionFile ?? join(cfg.dataDir, ADMISSION_FILE)
  // the default file is optional: a node of an open cluster never has one
  if (cfg.admissionFile === undefined && await access(path).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ENOENT')) return { admission: undefined, path }
  const { text } = await readKeyFile(path, '--admission-file')
  const admission = parseAdmissionFile(text, '--admission-file', path)
  if (admission.id !== self) throw new ConfigError('--admission-file', `${path} admits node ${admission.id}, not this node (${self})`)
  return { admission, path }
}

/**
 * The node's keyring: its node key, the cluster's manager keys and, where
 * it has one, its admission. Where the cluster requires admission, a worker
 * without one, or with one no manager key of the cluster signed, is refused
 * with what to run ({@link ConfigError} on `--admission-file`); a manager
 * node admits itself.
 */
export async function createAgentKeyring (cfg: Pick<AgentConfig, 'admissionFile' | 'dataDir' | 'clusterKeyFile'>, keys: ClusterKeys, self: string, privateKey: Uint8Array): Promise<Keyring> {
  const { admission, path } = await loadAdmission(cfg, self)
  try {
    return createKeyring({
      self,
      privateKey,
      ...(keys.managerPublicKeys.length > 0 ? { managerPublicKeys: keys.managerPublicKeys } : {}),
      ...(keys.managerPrivateKey !== undefined ? { managerPrivateKey: keys.managerPrivateKey } : {}),
      ...(admission !== undefined ? { admission: admission.sig } : {}),
      ...(keys.admissionRequired ? { admissionRequired: true } : {})
    })
  } catch (err) {
    if (err instanceof NotAdmittedError) {
      throw new ConfigError('--admission-file', `${cfg.clusterKeyFile ?? 'the cluster key file'} admits only nodes a manager admitted, and this node (${self}) has no admission at ${path}: ` +
        `on a manager host run \`scalelb keygen --admit ${self} --manager-key manager.key --out admission\` and copy that file to ${path}`)
    }
    if (err instanceof InvalidSigningKeyError && err.field === 'admission') throw new ConfigError('--admission-file', `${path}: ${err.message}`)
    throw err
  }
}
