import { access } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { formatClusterKeyFile, generateSigningKeyPair, parseClusterKeyFile } from '@scalelb/gossip'
import { UsageError } from '../errors.js'
import { writeFileAtomic } from '../persistence/files.js'
import { formatManagerKeyFile, newClusterKeys, readKeyFile } from '../persistence/cluster-keys.js'
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

/**
 * Add a manager key pair to a cluster key file written before manager keys
 * existed: the pre-shared key stays, so nodes restarted with the new file
 * still talk to the others. Throws when the file has a manager key already.
 */
async function addManager (clusterFile: string, managerFile: string): Promise<void> {
  const { text } = await readKeyFile(clusterFile, '--add-manager')
  let parsed
  try {
    parsed = parseClusterKeyFile(text)
  } catch (err) {
    throw new KeygenError(`--add-manager: ${clusterFile} is not a cluster key file (${(err as Error).message})`)
  }
  if (parsed.managerPublicKey !== undefined) {
    throw new KeygenError(`--add-manager: ${clusterFile} has a manager public key already; its private half is the manager key file written with it (a new one would lock out the managers that hold it)`)
  }
  await refuseExisting([['--manager-out', managerFile]])
  const pair = generateSigningKeyPair()
  await writeFileAtomic(managerFile, formatManagerKeyFile(pair.privateKey), { mode: 0o600 })
  await writeFileAtomic(clusterFile, formatClusterKeyFile({ psk: parsed.psk, managerPublicKey: pair.publicKey }), { mode: 0o600 })
}

const HELP = `Usage: scalelb keygen --manager-out FILE [--out FILE]
       scalelb keygen --add-manager CLUSTER_KEY_FILE --manager-out FILE

Create a cluster's keys. Files are written with mode 0600; an existing file
is never overwritten.

  --out FILE          the cluster key file: the pre-shared key (libp2p pnet)
                      and the manager public key. Every agent needs it
                      (--cluster-key-file). Printed on stdout without --out.
  --manager-out FILE  the manager private key. Give it only to manager nodes
                      (--manager-key-file): they alone may create and remove
                      networks and services.
  --add-manager FILE  add a manager key pair to a cluster key file written by
                      an older scalelb keygen (its pre-shared key stays);
                      FILE is rewritten, then copy it to every node.
  -h, --help          show this help`

/** `scalelb keygen`: see {@link HELP}. Exit 0 ok, 1 refused (a file exists), 2 usage. */
export async function runKeygen (argv: string[], ctx: CliContext): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: { out: { type: 'string', short: 'o' }, 'manager-out': { type: 'string' }, 'add-manager': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  const managerOut = values['manager-out']
  if (managerOut === undefined) throw new UsageError(`--manager-out FILE is required: without the manager private key no node could ever change networks or services\n\n${HELP}`)
  const addTo = values['add-manager']
  if (addTo !== undefined && values.out !== undefined) throw new UsageError('--add-manager rewrites the cluster key file it names: --out does not go with it')
  if (managerOut === (addTo ?? values.out)) throw new UsageError('--manager-out must differ from the cluster key file: workers get the cluster key file, and must not get the manager key')
  try {
    if (addTo !== undefined) {
      await addManager(addTo, managerOut)
      ctx.io.out(`cluster key: ${addTo} (manager public key added; copy it to every node: --cluster-key-file)\nmanager key: ${managerOut} (manager nodes only: --manager-key-file)`)
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
