import test from 'ava'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatClusterKeyFile, generateClusterKey, parseClusterKey, parseClusterKeyFile } from '@scalelb/gossip'
import { runCli } from '../../../src/cli/main.js'
import { loadClusterKeys, managerPublicKeyOf, parseManagerKeyFile } from '../../../src/persistence/cluster-keys.js'

interface Run { code: number, out: string, err: string }

async function keygen (...argv: string[]): Promise<Run> {
  let out = ''
  let err = ''
  const code = await runCli(['keygen', ...argv], { io: { out: (s) => { out += s + '\n' }, err: (s) => { err += s + '\n' } }, env: {} })
  return { code, out, err }
}

async function tempDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slb-key-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('keygen writes the cluster key file (PSK + manager public key) and the manager key file, both 0600, and they belong together', async (t) => {
  const dir = await tempDir(t)
  const cluster = join(dir, 'cluster.key')
  const manager = join(dir, 'manager.key')
  const r = await keygen('--out', cluster, '--manager-out', manager)
  t.is(r.code, 0, r.err)
  t.is(r.out, `cluster key: ${cluster} (every node: --cluster-key-file)\nmanager key: ${manager} (manager nodes only: --manager-key-file)\n`)
  t.is((await stat(cluster)).mode & 0o777, 0o600)
  t.is((await stat(manager)).mode & 0o777, 0o600)
  const text = await readFile(cluster, 'utf8')
  t.regex(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n\/key\/scalelb\/manager-ed25519\/base64\/[A-Za-z0-9+/]{43}=\n$/)
  const parsed = parseClusterKeyFile(text)
  t.deepEqual(parsed.psk, parseClusterKey(text), 'the transport gets the three pnet lines')
  t.is(new TextDecoder().decode(parsed.psk).split('\n').length, 3)
  const seed = parseManagerKeyFile(await readFile(manager, 'utf8'), '--manager-key-file', manager)
  t.deepEqual(managerPublicKeyOf(seed), parsed.managerPublicKey)
  t.is((await loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: manager })).role, 'manager')
  t.is((await loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: undefined })).role, 'worker')
  t.is((await loadClusterKeys({ clusterKeyFile: undefined, managerKeyFile: undefined })).role, 'insecure')
})

test('keygen never overwrites a key file, prints the cluster key without --out, and needs --manager-out', async (t) => {
  const dir = await tempDir(t)
  const cluster = join(dir, 'cluster.key')
  const manager = join(dir, 'manager.key')
  t.is((await keygen('--out', cluster, '--manager-out', manager)).code, 0)
  const before = [await readFile(cluster, 'utf8'), await readFile(manager, 'utf8')]
  const again = await keygen('--out', cluster, '--manager-out', join(dir, 'other.key'))
  t.is(again.code, 1)
  t.is(again.err, `scalelb keygen: --out: ${cluster} exists; refusing to overwrite a key file\n`)
  const mgrAgain = await keygen('--out', join(dir, 'c2.key'), '--manager-out', manager)
  t.is(mgrAgain.code, 1)
  t.regex(mgrAgain.err, /--manager-out: .*manager\.key exists; refusing to overwrite/)
  t.deepEqual([await readFile(cluster, 'utf8'), await readFile(manager, 'utf8')], before, 'nothing was rewritten')
  t.false(await stat(join(dir, 'other.key')).then(() => true, () => false), 'a refused run writes neither file')

  const printed = await keygen('--manager-out', join(dir, 'printed-manager.key'))
  t.is(printed.code, 0, printed.err)
  t.deepEqual(managerPublicKeyOf(parseManagerKeyFile(await readFile(join(dir, 'printed-manager.key'), 'utf8'), 'f', 'f')), parseClusterKeyFile(printed.out).managerPublicKey)

  const none = await keygen('--out', join(dir, 'c3.key'))
  t.is(none.code, 2)
  t.regex(none.err, /--manager-out FILE is required/)
  t.is((await keygen('--out', join(dir, 'same.key'), '--manager-out', join(dir, 'same.key'))).code, 2)
  t.is((await keygen('--bogus')).code, 2)
  const help = await keygen('--help')
  t.is(help.code, 0)
  t.regex(help.out, /--manager-out FILE +the manager private key/)
})

test('keygen --add-manager adds a manager key to an older cluster key file, keeping its PSK', async (t) => {
  const dir = await tempDir(t)
  const cluster = join(dir, 'cluster.key')
  const old = generateClusterKey()
  await writeFile(cluster, `${old}\n`, { mode: 0o600 })
  const oldErr = await t.throwsAsync(loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: undefined }))
  t.is(oldErr?.name, 'ConfigError')
  t.regex(oldErr?.message ?? '', /has no manager public key \(it was written by an older scalelb keygen\).*scalelb keygen --add-manager .*cluster\.key --manager-out manager\.key/)

  const r = await keygen('--add-manager', cluster, '--manager-out', join(dir, 'manager.key'))
  t.is(r.code, 0, r.err)
  const parsed = parseClusterKeyFile(await readFile(cluster, 'utf8'))
  t.deepEqual(parsed.psk, parseClusterKey(old), 'the pre-shared key is unchanged: restarted nodes still talk to the others')
  t.is((await stat(cluster)).mode & 0o777, 0o600)
  t.is((await loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: join(dir, 'manager.key') })).role, 'manager')

  t.is((await keygen('--add-manager', join(dir, 'missing.key'), '--manager-out', join(dir, 'm3.key'))).code, 1)
  t.is((await keygen('--add-manager', cluster, '--out', join(dir, 'x.key'), '--manager-out', join(dir, 'm4.key'))).code, 2)
})

test('rotating the manager key: --add-manager puts a second key beside the first (both load as managers), --drop-manager retires the old one', async (t) => {
  const dir = await tempDir(t)
  const cluster = join(dir, 'cluster.key')
  const [m1, m2] = [join(dir, 'm1.key'), join(dir, 'm2.key')]
  t.is((await keygen('--out', cluster, '--manager-out', m1)).code, 0)
  const psk = parseClusterKeyFile(await readFile(cluster, 'utf8')).psk
  const added = await keygen('--add-manager', cluster, '--manager-out', m2)
  t.is(added.code, 0, added.err)
  t.regex(added.out, /2 accepted until the old ones are dropped/)
  const both = parseClusterKeyFile(await readFile(cluster, 'utf8'))
  t.deepEqual(both.psk, psk, 'the pre-shared key stays')
  t.is(both.managerPublicKeys?.length, 2)
  for (const m of [m1, m2]) t.is((await loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: m })).role, 'manager')
  t.is((await loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: undefined })).managerPublicKeys.length, 2)

  t.is((await keygen('--drop-manager', cluster)).code, 2, '--manager-key is needed')
  t.is((await keygen('--drop-manager', cluster, '--manager-key', m1, '--manager-out', join(dir, 'x.key'))).code, 2)
  const dropped = await keygen('--drop-manager', cluster, '--manager-key', m1)
  t.is(dropped.code, 0, dropped.err)
  t.regex(dropped.out, /removed, 1 left/)
  const after = parseClusterKeyFile(await readFile(cluster, 'utf8'))
  t.deepEqual(after.psk, psk)
  t.deepEqual(after.managerPublicKeys, [managerPublicKeyOf(parseManagerKeyFile(await readFile(m2, 'utf8'), 'm', m2))])
  const retired = await t.throwsAsync(loadClusterKeys({ clusterKeyFile: cluster, managerKeyFile: m1 }))
  t.regex(retired?.message ?? '', /is not the manager key of this cluster/)
  const again = await keygen('--drop-manager', cluster, '--manager-key', m1)
  t.is(again.code, 1)
  t.regex(again.err, /does not hold the public key of/)
  const last = await keygen('--drop-manager', cluster, '--manager-key', m2)
  t.is(last.code, 1)
  t.regex(last.err, /only manager key; add its successor first/)
  for (let i = 3; i <= 5; i++) t.is((await keygen('--add-manager', cluster, '--manager-out', join(dir, `m${i}.key`))).code, 0)
  const full = await keygen('--add-manager', cluster, '--manager-out', join(dir, 'm6.key'))
  t.is(full.code, 1)
  t.regex(full.err, /4 manager public keys already/)
})

test('a bad line of a cluster key file is refused naming the part; the format round-trips', (t) => {
  const psk = generateClusterKey()
  const key = new Uint8Array(32).fill(7)
  const text = formatClusterKeyFile({ psk, managerPublicKey: key })
  t.deepEqual(parseClusterKeyFile(text), { psk: parseClusterKey(psk), managerPublicKey: key, managerPublicKeys: [key] })
  t.deepEqual(parseClusterKeyFile(text.replace(/\n/g, '\r\n') + '\n\n'), parseClusterKeyFile(text), 'CRLF and blank lines do not matter')
  t.deepEqual(parseClusterKeyFile(psk), { psk: parseClusterKey(psk) }, 'an older file: no manager key')
  const [header, encoding, hex, manager] = text.trimEnd().split('\n') as [string, string, string, string]
  const field = (s: string): string | undefined => (t.throws(() => parseClusterKeyFile(s)) as (Error & { field?: string }) | undefined)?.field
  t.is(field([header, encoding, hex, manager.replace('manager-ed25519', 'manager-rsa')].join('\n')), 'manager')
  t.is(field([header, encoding, hex, `${manager.slice(0, -4)}====`].join('\n')), 'manager', 'not base64')
  t.is(field([header, encoding, hex, manager.slice(0, -8)].join('\n')), 'manager', 'too short')
  t.is(field([header, encoding, hex, `${manager}AAAA`].join('\n')), 'manager', 'too long')
  t.is(field([header, encoding, hex, manager, manager].join('\n')), 'manager[1]', 'a key twice')
  t.is(field([header, encoding, hex, manager, manager, manager, manager, manager].join('\n')), 'file', 'more than 4 manager keys')
  const key2 = new Uint8Array(32).fill(9)
  t.deepEqual(parseClusterKeyFile(formatClusterKeyFile({ psk, managerPublicKeys: [key, key2] })).managerPublicKeys, [key, key2], 'two keys round-trip in order')
  t.is(field([header, encoding, 'ab', manager].join('\n')), 'key')
  t.is(field([header, '/base64/', hex, manager].join('\n')), 'encoding')
  t.is(field(['/key/swarm/psk/2.0.0/', encoding, hex].join('\n')), 'header')
  t.is(t.throws(() => formatClusterKeyFile({ psk, managerPublicKey: new Uint8Array(31) }))?.name, 'InvalidClusterKeyError')
})

test('admission: --require-admission and --open-admission rewrite the cluster key file (a manager key rotation keeps it); --admit signs a node ID with a manager key of the cluster; node-id prints a stable ID', async (t) => {
  const dir = await tempDir(t)
  const cluster = join(dir, 'cluster.key')
  const manager = join(dir, 'manager.key')
  t.is((await keygen('--out', cluster, '--manager-out', manager)).code, 0)
  const before = parseClusterKeyFile(await readFile(cluster, 'utf8'))
  t.is(before.admissionRequired, undefined)
  let r = await keygen('--require-admission', cluster)
  t.is(r.code, 0, r.err)
  t.regex(r.out, /admits only nodes a manager admitted; copy it to every node/)
  const after = parseClusterKeyFile(await readFile(cluster, 'utf8'))
  t.true(after.admissionRequired)
  t.deepEqual([after.psk, after.managerPublicKeys], [before.psk, before.managerPublicKeys], 'the keys stay')
  t.regex((await keygen('--require-admission', cluster)).out, /already admits only/)
  t.is((await keygen('--add-manager', cluster, '--manager-out', join(dir, 'manager2.key'))).code, 0)
  t.true(parseClusterKeyFile(await readFile(cluster, 'utf8')).admissionRequired, '--add-manager keeps the requirement')
  t.is((await keygen('--drop-manager', cluster, '--manager-key', manager)).code, 0)
  t.true(parseClusterKeyFile(await readFile(cluster, 'utf8')).admissionRequired, '--drop-manager keeps the requirement')
  t.is((await keygen('--open-admission', cluster)).code, 0)
  t.is(parseClusterKeyFile(await readFile(cluster, 'utf8')).admissionRequired, undefined)
  t.is((await keygen('--require-admission', cluster, '--out', 'x')).code, 2, '--require-admission goes alone')

  let out = ''
  let err = ''
  const io = { out: (s: string) => { out += s + '\n' }, err: (s: string) => { err += s + '\n' } }
  t.is(await runCli(['node-id', '--data-dir', join(dir, 'node')], { io, env: {} }), 0)
  const id = out.trim()
  t.regex(err, /created the node key/)
  out = ''
  t.is(await runCli(['node-id'], { io, env: { SCALELB_DATA_DIR: join(dir, 'node') } }), 0)
  t.is(out.trim(), id, 'the same ID again (the key stays)')

  // manager.key was dropped: an admission signed with it is refused against the cluster key file
  r = await keygen('--admit', id, '--manager-key', manager, '--cluster-key', cluster)
  t.is(r.code, 1)
  t.regex(r.err, /manager\.key is not a manager key of .*cluster\.key: the cluster's nodes would refuse this admission/)
  r = await keygen('--admit', id, '--manager-key', join(dir, 'manager2.key'), '--cluster-key', cluster)
  t.is(r.code, 0, r.err)
  t.true(r.out.startsWith(`/admission/scalelb/ed25519/${id}/`))
  r = await keygen('--admit', id, '--manager-key', join(dir, 'manager2.key'), '--out', join(dir, 'admission'))
  t.is(r.code, 0, r.err)
  t.is(await readFile(join(dir, 'admission'), 'utf8'), `${(await keygen('--admit', id, '--manager-key', join(dir, 'manager2.key'))).out}`, 'Ed25519 signatures are deterministic')
  t.is((await keygen('--admit', id, '--manager-key', join(dir, 'manager2.key'), '--out', join(dir, 'admission'))).code, 1, 'never overwrites')
  t.is((await keygen('--admit', 'not-an-id', '--manager-key', join(dir, 'manager2.key'))).code, 2)
  t.is((await keygen('--admit', id)).code, 2, '--admit needs --manager-key')
})

test('a cluster key file ending with the admission line round-trips; the line needs a manager key', (t) => {
  const text = formatClusterKeyFile({ psk: generateClusterKey(), managerPublicKey: new Uint8Array(32).fill(1), admissionRequired: true })
  t.true(text.endsWith('/policy/scalelb/admission/required\n'))
  t.true(parseClusterKeyFile(text).admissionRequired)
  const noManager = text.split('\n').filter((l) => !l.startsWith('/key/scalelb/manager')).join('\n')
  t.is(t.throws(() => parseClusterKeyFile(noManager))?.message, 'invalid cluster key (admission): /policy/scalelb/admission/required needs a manager key line: nobody could admit a node')
  t.throws(() => formatClusterKeyFile({ psk: generateClusterKey(), admissionRequired: true }), { message: /required admission needs a manager key/ })
})
