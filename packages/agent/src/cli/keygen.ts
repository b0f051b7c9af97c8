import { access, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MAX_MANAGER_KEYS, formatClusterKeyFile, generateSigningKeyPair, parseClusterKeyFile, parseNodeId, type ClusterKeyFile } from '@scalelb/gossip'
import { formatAdmissionFile, signAdmission } from '../persistence/admission.js'
import { DEFAULT_DATA_DIR, NODE_KEY_FILE } from '../constants.js'
import { UsageError } from '../errors.js'
import { loadOrCreateNodeKey } from '../persistence/node-key.js'
import { writeFileAtomic } from '../persistence/files.js'
import { formatManagerKeyFile, newClusterKeys, readKeyFile, readManagerKey } from '../persistence/cluster-keys.js'
import type { CliContext } from './commands.js'

/**
 * Write a new cluster's key files (mode 0600, refusing to overwrite either).
 * Throws an Error naming the file that exists.
 */
export async function writeClusterKeys (files: { clusterKey: string, managerKey: string, requireAdmission?: boolean }): Promise<void> {
  await refuseExisting([['--out', files.clusterKey], ['--manager-out', files.managerKey]])
  const keys = newClusterKeys({ requireAdmission: files.requireAdmission === true })
  await writeFileAtomic(files.managerKey, keys.managerKey, { mode: 0o600 })
  await writeFileAtomic(files.clusterKey, keys.clusterKey, { mode: 0o600 })
}

/** The keygen cannot go on: a file exists, is not a cluster key file, or holds a manager key already. Exit code 1. */
class KeygenError extends Error {
  override name = 'KeygenError'
}

async function refuseExisting (files: Array<[flag: string, path: string]>): Promise<void> {
  for (const [flag, path] of files) {
    if (await access(path).then(() => true, () => false)) throw new KeygenError(`${flag}: ${path} exists; refusing to overwrite a key file`)
  }
}

/** A cluster key file, parsed; `flag` names the option it came from. */
async function readClusterFile (clusterFile: string, flag: string): Promise<ClusterKeyFile> {
  const { text } = await readKeyFile(clusterFile, flag)
  try {
    return parseClusterKeyFile(text)
  } catch (err) {
    throw new KeygenError(`${flag}: ${clusterFile} is not a cluster key file (${(err as Error).message})`)
  }
}

/**
 * Add a manager key pair to a cluster key file: to a file written before
 * manager keys existed, or beside the manager key it has (a rotation: both
 * are accepted until the old one is dropped). The pre-shared key stays, so
 * nodes restarted with the new file still talk to the others.
 */
async function addManager (clusterFile: string, managerFile: string): Promise<number> {
  const parsed = await readClusterFile(clusterFile, '--add-manager')
  const keys = parsed.managerPublicKeys ?? []
  if (keys.length >= MAX_MANAGER_KEYS) {
    throw new KeygenError(`--add-manager: ${clusterFile} has ${keys.length} manager public keys already, the most it may hold; drop a retired one first (--drop-manager)`)
  }
  await refuseExisting([['--manager-out', managerFile]])
  const pair = generateSigningKeyPair()
  await writeFileAtomic(managerFile, formatManagerKeyFile(pair.privateKey), { mode: 0o600 })
  await writeFileAtomic(clusterFile, formatClusterKeyFile({ ...parsed, managerPublicKeys: [...keys, pair.publicKey] }), { mode: 0o600 })
  return keys.length + 1
}

/** Drop the manager public key whose private half `managerFile` holds from a cluster key file (the end of a rotation). */
async function dropManager (clusterFile: string, managerFile: string): Promise<number> {
  const parsed = await readClusterFile(clusterFile, '--drop-manager')
  const keys = parsed.managerPublicKeys ?? []
  // (a ConfigError names --manager-key itself)
  const { publicKey: pub } = await readManagerKey(managerFile, '--manager-key')
  const kept = keys.filter((k) => !pub.equals(Buffer.from(k)))
  if (kept.length === keys.length) throw new KeygenError(`--drop-manager: ${clusterFile} does not hold the public key of ${managerFile}`)
  if (kept.length === 0) throw new KeygenError(`--drop-manager: ${managerFile} holds ${clusterFile}'s only manager key; add its successor first (--add-manager), or nobody could change networks or services`)
  await writeFileAtomic(clusterFile, formatClusterKeyFile({ ...parsed, managerPublicKeys: kept }), { mode: 0o600 })
  return kept.length
}

/**
 * Turn a cluster key file's admission requirement on or off. Returns false
 * if it was already so (the file is left alone).
 */
async function setAdmissionRequired (clusterFile: string, required: boolean, flag: string): Promise<boolean> {
  const parsed = await readClusterFile(clusterFile, flag)
  if ((parsed.admissionRequired === true) === required) return false
  await writeFileAtomic(clusterFile, formatClusterKeyFile({ ...parsed, admissionRequired: required }), { mode: 0o600 })
  return true
}

/** An admission of `id`, signed with the manager key in `managerFile` (which must be one of the cluster's, if `clusterFile` is given). */
async function admit (id: string, managerFile: string, clusterFile: string | undefined): Promise<string> {
  try {
    parseNodeId(id)
  } catch {
    throw new UsageError(`--admit: ${JSON.stringify(id)} is not a node ID (scalelb node-id prints a node's)`)
  }
  const { seed, publicKey } = await readManagerKey(managerFile, '--manager-key')
  if (clusterFile !== undefined) {
    const keys = (await readClusterFile(clusterFile, '--cluster-key')).managerPublicKeys ?? []
    if (!keys.some((k) => publicKey.equals(Buffer.from(k)))) throw new KeygenError(`--manager-key: ${managerFile} is not a manager key of ${clusterFile}: the cluster's nodes would refuse this admission`)
  }
  return formatAdmissionFile(signAdmission(id, seed))
}

const HELP = `Usage: scalelb keygen --manager-out FILE [--out FILE]
       scalelb keygen --add-manager CLUSTER_KEY_FILE --manager-out FILE
       scalelb keygen --drop-manager CLUSTER_KEY_FILE --manager-key FILE
       scalelb keygen --admit NODE-ID --manager-key FILE [--cluster-key FILE] [--out FILE]
       scalelb keygen --require-admission CLUSTER_KEY_FILE | --open-admission CLUSTER_KEY_FILE

Create a cluster's keys. Files are written with mode 0600; an existing file
is never overwritten.

  --out FILE          the cluster key file: the pre-shared key (libp2p pnet)
                      and the manager public key. Every agent needs it
                      (--cluster-key-file). Printed on stdout without --out.
  --manager-out FILE  the manager private key. Give it only to manager nodes
                      (--manager-key-file): they alone may create and remove
                      networks and services.
  --add-manager FILE  add a manager key pair to a cluster key file (its
                      pre-shared key stays): to one written by an older
                      scalelb keygen, or beside its manager key to rotate it
                      (both are accepted until the old one is dropped; then
                      run \`scalelb manager resign\` on a manager with the new
                      key). FILE is rewritten, then copy it to every node.
  --drop-manager FILE remove from FILE the manager public key whose private
                      half --manager-key holds (after \`scalelb manager
                      resign\`); copy FILE to every node: entries that key
                      signs are refused from then on.
  --admit NODE-ID     write an admission of that node (scalelb node-id
                      prints it on the node's host), signed with the
                      manager key in --manager-key (checked against
                      --cluster-key if given); printed without --out. Copy
                      it to the node's <data-dir>/admission
                      (--admission-file). Not secret: it admits only the
                      holder of that node's key.
  --require-admission FILE
                      make the cluster key file admit only nodes a manager
                      admitted (others are refused as members, and get no
                      member list and no table); copy FILE to every node once
                      each has its admission (managers admit themselves).
                      An agent of an older version refuses such a file.
  --open-admission FILE
                      take that requirement out again.
  -h, --help          show this help`

/** Run one keygen action: exit 0, or 1 with its error printed (a UsageError goes up: exit 2). */
async function step (ctx: CliContext, action: () => Promise<void>): Promise<number> {
  try {
    await action()
    return 0
  } catch (err) {
    const e = err as Error
    if (e.name === 'UsageError') throw e
    ctx.io.err(`scalelb keygen: ${e.message}`)
    return 1
  }
}

/** `scalelb keygen`: see {@link HELP}. Exit 0 ok, 1 refused (a file exists), 2 usage. */
export async function runKeygen (argv: string[], ctx: CliContext): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        out: { type: 'string', short: 'o' },
        'manager-out': { type: 'string' },
        'add-manager': { type: 'string' },
        'drop-manager': { type: 'string' },
        'manager-key': { type: 'string' },
        admit: { type: 'string' },
        'cluster-key': { type: 'string' },
        'require-admission': { type: 'string' },
        'open-admission': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${HELP}`)
  }
  if (values.help === true) {
    ctx.io.out(HELP)
    return 0
  }
  if (values['require-admission'] !== undefined || values['open-admission'] !== undefined) return await keygenPolicy(values, ctx)
  if (values.admit !== undefined) return await keygenAdmit(values.admit, values, ctx)
  if (values['cluster-key'] !== undefined) throw new UsageError('--cluster-key goes with --admit')
  if (values['drop-manager'] !== undefined) return await keygenDrop(values['drop-manager'], values, ctx)
  if (values['manager-key'] !== undefined) throw new UsageError('--manager-key goes with --drop-manager or --admit')
  return await keygenCreate(values, ctx)
}

/** The options of `scalelb keygen`, parsed. */
type KeygenValues = Partial<Record<'out' | 'manager-out' | 'add-manager' | 'drop-manager' | 'manager-key' | 'admit' | 'cluster-key' | 'require-admission' | 'open-admission', string>> & { help?: boolean }

/** `--require-admission FILE` / `--open-admission FILE`. */
async function keygenPolicy (values: KeygenValues, ctx: CliContext): Promise<number> {
  if (Object.keys(values).length !== 1) throw new UsageError('--require-admission and --open-admission go alone')
  const required = values['require-admission'] !== undefined
  const file = (values['require-admission'] ?? values['open-admission']) as string
  return await step(ctx, async () => {
    const changed = await setAdmissionRequired(file, required, required ? '--require-admission' : '--open-admission')
    ctx.io.out(`cluster key: ${file} (${changed ? '' : 'already '}${required ? 'admits only nodes a manager admitted' : 'open to every holder of the cluster key'}${changed ? '; copy it to every node: --cluster-key-file' : ''})`)
  })
}

/** `--admit NODE-ID --manager-key FILE [--cluster-key FILE] [--out FILE]`. */
async function keygenAdmit (id: string, values: KeygenValues, ctx: CliContext): Promise<number> {
  const mgr = values['manager-key']
  if (mgr === undefined) throw new UsageError(`--admit needs --manager-key FILE: a manager key signs the admission\n\n${HELP}`)
  if (values['manager-out'] !== undefined || values['add-manager'] !== undefined || values['drop-manager'] !== undefined) throw new UsageError('--admit goes with --manager-key, --cluster-key and --out only')
  const out = values.out
  return await step(ctx, async () => {
    if (out !== undefined) await refuseExisting([['--out', out]])
    const text = await admit(id, mgr, values['cluster-key'])
    if (out === undefined) {
      ctx.io.out(text.trimEnd())
      return
    }
    await writeFileAtomic(out, text, { mode: 0o644 })
    ctx.io.out(`admission: ${out} (node ${id}; copy it to that node's <data-dir>/admission, or pass --admission-file)`)
  })
}

/** `--drop-manager FILE --manager-key FILE`. */
async function keygenDrop (clusterFile: string, values: KeygenValues, ctx: CliContext): Promise<number> {
  const old = values['manager-key']
  if (old === undefined) throw new UsageError(`--drop-manager needs --manager-key FILE: the manager key file whose public key to remove\n\n${HELP}`)
  if (values.out !== undefined || values['manager-out'] !== undefined || values['add-manager'] !== undefined) throw new UsageError('--drop-manager goes with --manager-key only')
  return await step(ctx, async () => {
    const left = await dropManager(clusterFile, old)
    ctx.io.out(`cluster key: ${clusterFile} (manager public key of ${old} removed, ${left} left; copy it to every node: --cluster-key-file)`)
  })
}

/** A new cluster's keys (`--manager-out FILE [--out FILE]`), or a manager key added to a cluster's (`--add-manager FILE`). */
async function keygenCreate (values: KeygenValues, ctx: CliContext): Promise<number> {
  const managerOut = values['manager-out']
  if (managerOut === undefined) throw new UsageError(`--manager-out FILE is required: without the manager private key no node could ever change networks or services\n\n${HELP}`)
  const addTo = values['add-manager']
  if (addTo !== undefined && values.out !== undefined) throw new UsageError('--add-manager rewrites the cluster key file it names: --out does not go with it')
  if (managerOut === (addTo ?? values.out)) throw new UsageError('--manager-out must differ from the cluster key file: workers get the cluster key file, and must not get the manager key')
  return await step(ctx, async () => {
    if (addTo !== undefined) {
      const n = await addManager(addTo, managerOut)
      ctx.io.out(`cluster key: ${addTo} (manager public key added${n > 1 ? `, ${n} accepted until the old ones are dropped` : ''}; copy it to every node: --cluster-key-file)\nmanager key: ${managerOut} (manager nodes only: --manager-key-file)`)
    } else if (values.out === undefined) {
      await refuseExisting([['--manager-out', managerOut]])
      const keys = newClusterKeys()
      await writeFileAtomic(managerOut, keys.managerKey, { mode: 0o600 })
      ctx.io.out(keys.clusterKey.trimEnd())
      ctx.io.err(`manager key: ${managerOut} (manager nodes only: --manager-key-file)`)
    } else {
      await writeClusterKeys({ clusterKey: values.out, managerKey: managerOut })
      ctx.io.out(`cluster key: ${values.out} (every node: --cluster-key-file)\nmanager key: ${managerOut} (manager nodes only: --manager-key-file)`)
    }
  })
}

const NODE_ID_HELP = `Usage: scalelb node-id [--data-dir DIR]

Print this host's node ID: the one its agent runs with (from DIR/node.key,
made there now if the agent never ran). A manager admits a node by it:
scalelb keygen --admit NODE-ID --manager-key manager.key --out admission

  --data-dir DIR  the agent's data directory (env SCALELB_DATA_DIR; default ${DEFAULT_DATA_DIR})
  -h, --help      show this help`

/** `scalelb node-id`: see {@link NODE_ID_HELP}. Exit 0 ok, 1 the key cannot be read or made, 2 usage. */
export async function runNodeId (argv: string[], ctx: CliContext): Promise<number> {
  let values
  try {
    values = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${NODE_ID_HELP}`)
  }
  if (values.help === true) {
    ctx.io.out(NODE_ID_HELP)
    return 0
  }
  const dir = values['data-dir'] ?? ctx.env.SCALELB_DATA_DIR ?? DEFAULT_DATA_DIR
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const identity = await loadOrCreateNodeKey(dir)
    ctx.io.out(identity.id)
    if (identity.created) ctx.io.err(`created the node key ${join(dir, NODE_KEY_FILE)}`)
  } catch (err) {
    ctx.io.err(`scalelb node-id: ${(err as Error).message}`)
    return 1
  }
  return 0
}
