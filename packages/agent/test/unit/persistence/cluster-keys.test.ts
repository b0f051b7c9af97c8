import test from 'ava'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { createRootLogger } from '../../../src/logging/logger.js'
import { loadClusterKeys, newClusterKeys } from '../../../src/persistence/cluster-keys.js'

async function keyDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<{ dir: string, cluster: string, manager: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'slb-keys-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const keys = newClusterKeys()
  const cluster = join(dir, 'cluster.key')
  const manager = join(dir, 'manager.key')
  await writeFile(cluster, keys.clusterKey, { mode: 0o600 })
  await writeFile(manager, keys.managerKey, { mode: 0o600 })
  return { dir, cluster, manager }
}

async function refusal (p: Promise<unknown>): Promise<{ name: string, field?: string, message: string }> {
  try {
    await p
  } catch (err) {
    return err as { name: string, field?: string, message: string }
  }
  throw new Error('expected a refusal')
}

test('the manager key of another cluster is refused, naming both files', async (t) => {
  const { dir, cluster } = await keyDir(t)
  const other = join(dir, 'other-manager.key')
  await writeFile(other, newClusterKeys().managerKey, { mode: 0o600 })
  const err = await refusal(loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: other }))
  t.is(err.name, 'ConfigError')
  t.is(err.field, '--manager-key-file')
  t.is(err.message, `--manager-key-file: ${other} is not the manager key of this cluster: its public key differs from the manager public key in ${cluster} (--cluster-key-file); use the manager key written by the same scalelb keygen run`)
})

test('a malformed or missing manager key file is refused naming the file and what is wrong', async (t) => {
  const { dir, cluster } = await keyDir(t)
  const bad = join(dir, 'bad.key')
  const load = async (text: string): Promise<string> => {
    await writeFile(bad, text, { mode: 0o600 })
    return (await refusal(loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: bad }))).message
  }
  t.regex(await load(''), /bad\.key is not a manager key file: expected 1 line, got 0/)
  t.regex(await load('/key/scalelb/manager-ed25519-private/base64/AAAA\n'), /expected 32 bytes of base64/)
  t.regex(await load('/key/swarm/psk/1.0.0/\n'), /expected a line starting with \/key\/scalelb\/manager-ed25519-private\/base64\/ \(that is a cluster key file\)/)
  t.regex(await load('x'.repeat(5000)), /larger than 4096 bytes: not a key file/)
  const missing = await refusal(loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: join(dir, 'nope.key') }))
  t.is(missing.field, '--manager-key-file')
  t.regex(missing.message, /cannot read .*nope\.key/)
  await writeFile(bad, '/key/swarm/psk/1.0.0/\n/base16/\nab\n')
  const badCluster = await refusal(loadClusterKeys({ clusterKeyFile: bad, managerKeyFile: undefined }))
  t.is(badCluster.field, '--cluster-key-file')
  t.regex(badCluster.message, /bad\.key is not a cluster key \(invalid cluster key \(key\): expected 64 hex characters.*\); create one with scalelb keygen/)
  const dirAsKey = await refusal(loadClusterKeys({ clusterKeyFile: dir, managerKeyFile: undefined }))
  t.regex(dirAsKey.message, /is not a regular file/)
})

test('a manager key file others may read is used, with a warning', async (t) => {
  const { cluster, manager } = await keyDir(t)
  await chmod(manager, 0o644)
  const stream = new PassThrough()
  let logged = ''
  stream.on('data', (c: Buffer) => { logged += c.toString() })
  const keys = await loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: manager }, createRootLogger({ stream }))
  t.is(keys.role, 'manager')
  t.truthy(keys.managerPrivateKey)
  t.regex(logged, /"level":"warn".*the manager key file can be read by other users/)
  t.regex(logged, /"mode":"0644"/)
})
