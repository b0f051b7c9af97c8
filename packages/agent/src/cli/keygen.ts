import { access } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { MAX_MANAGER_KEYS, formatClusterKeyFile, generateSigningKeyPair, parseClusterKeyFile, type ClusterKeyFile } from '@scalelb/gossip'
import { UsageError } from '../errors.js'
import { writeFileAtomic } from '../persistence/files.js'
import { formatManagerKeyFile, newClusterKeys, readKeyFile, readManagerKey } from '../persistence/cluster-keys.js'
import type { CliContext } from './commands.js'

/**
 * Write a new cluster's key files (mode 0600, refusing to overwrite either).
 * Throws an Error naming the file that exists.
 */
export async function writeClusterKeys (files: { clusterKey: string, managerKey: string }): Promise<void> {
  await refuseExisting([['--out', files.clusterKey], ['--manager-out', files.managerKey]])
  const keys = newClusterKeys()
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
  await writeFileAtomic(clusterFile, formatClusterKeyFile({ psk: parsed.psk, managerPublicKeys: [...keys, pair.publicKey] }), { mode: 0o600 })
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
  await writeFileAtomic(clusterFile, formatClusterKeyFile({ psk: parsed.psk, managerPublicKeys: kept }), { mode: 0o600 })
  return kept.length
}

const HELP = `Usage: scalelb keygen --manager-out FILE [--out FILE]
       scalelb keygen --add-manager CLUSTER_KEY_FILE --manager-out FILE
       scalelb keygen --drop-manager CLUSTER_KEY_FILE --manager-key FILE

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
  -h, --help          show this help`

/** `scalelb keygen`: see {@link HELP}. Exit 0 ok, 1 refused (a file exists), 2 usage. */
export async function runKeygen (argv: string[], ctx: CliContext): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: { out: { type: 'string', short: 'o' }, 'manager-out': { type: 'string' }, 'add-manager': { type: 'string' }, 'drop-manager': { type: 'string' }, 'manager-key': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  const dropFrom = values['drop-manager']
  if (dropFrom !== undefined) {
    const old = values['manager-key']
    if (old === undefined) throw new UsageError(`--drop-manager needs --manager-key FILE: the manager key file whose public key to remove\n\n${HELP}`)
    if (values.out !== undefined || values['manager-out'] !== undefined || values['add-manager'] !== undefined) throw new UsageError('--drop-manager goes with --manager-key only')
    try {
      const left = await dropManager(dropFrom, old)
      ctx.io.out(`cluster key: ${dropFrom} (manager public key of ${old} removed, ${left} left; copy it to every node: --cluster-key-file)`)
    } catch (err) {
      ctx.io.err(`scalelb keygen: ${(err as Error).message}`)
      return 1
    }
    return 0
  }
  if (values['manager-key'] !== undefined) throw new UsageError('--manager-key goes with --drop-manager')
  const managerOut = values['manager-out']
  if (managerOut === undefined) throw new UsageError(`--manager-out FILE is required: without the manager private key no node could ever change networks or services\n\n${HELP}`)
  const addTo = values['add-manager']
  if (addTo !== undefined && values.out !== undefined) throw new UsageError('--add-manager rewrites the cluster key file it names: --out does not go with it')
  if (managerOut === (addTo ?? values.out)) throw new UsageError('--manager-out must differ from the cluster key file: workers get the cluster key file, and must not get the manager key')
  try {
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
  } catch (err) {
    const e = err as Error
    if (e.name === 'UsageError') throw e
    ctx.io.err(`scalelb keygen: ${e.message}`)
    return 1
  }
  return 0
}
