import test, { type ExecutionContext } from 'ava'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { admissionBytes } from '@scalelb/gossip'
import { loadClusterKeys, newClusterKeys, parseManagerKeyFile } from '../../../src/persistence/cluster-keys.js'
import { admitNodeDir, createAgentKeyring, formatAdmissionFile, parseAdmissionFile, signAdmission } from '../../../src/persistence/admission.js'
import { loadOrCreateNodeKey } from '../../../src/persistence/node-key.js'

async function cluster (t: { teardown: (fn: () => Promise<void>) => void }, requireAdmission: boolean): Promise<{ dir: string, clusterKeyFile: string, managerKeyFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'slb-adm-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const keys = newClusterKeys({ requireAdmission })
  await writeFile(join(dir, 'cluster.key'), keys.clusterKey, { mode: 0o600 })
  await writeFile(join(dir, 'manager.key'), keys.managerKey, { mode: 0o600 })
  return { dir, clusterKeyFile: join(dir, 'cluster.key'), managerKeyFile: join(dir, 'manager.key') }
}

/** The ConfigError a promise rejects with. */
async function refusal (t: ExecutionContext, p: Promise<unknown>): Promise<{ field?: string, message: string }> {
  const err = await t.throwsAsync(p, { name: 'ConfigError' })
  return err as Error & { field?: string }
}

test('an admission file round-trips; malformed ones are refused naming the file and what is wrong', (t) => {
  const a = { id: '12D3KooWA', sig: new Uint8Array(64).fill(7) }
  t.deepEqual(parseAdmissionFile(formatAdmissionFile(a), '--admission-file', '/f'), a)
  // base64 of a signature may hold '/'
  const slashes = { id: '12D3KooWA', sig: new Uint8Array(64).fill(255) }
  t.true(formatAdmissionFile(slashes).slice(30).includes('/'))
  t.deepEqual(parseAdmissionFile(formatAdmissionFile(slashes), '--admission-file', '/f'), slashes)
  for (const [text, what] of [
    ['', /expected 1 line, got 0/],
    ['/key/swarm/psk/1.0.0/\n', /expected a line starting with \/admission\/scalelb\/ed25519\//],
    ['/admission/scalelb/ed25519/12D3KooWA\n', /<node ID>\/<64 bytes of base64>/],
    ['/admission/scalelb/ed25519//AAAA\n', /<node ID>\/<64 bytes of base64>/],
    [`/admission/scalelb/ed25519/x/${Buffer.alloc(63).toString('base64')}\n`, /<node ID>\/<64 bytes of base64>/]
  ] as const) {
    const err = t.throws(() => parseAdmissionFile(text, '--admission-file', '/f'))
    t.is(err?.name, 'ConfigError')
    t.regex(err?.message ?? '', what)
    t.regex(err?.message ?? '', /\/f is not an admission file/)
  }
})

test('where admission is required: a manager admits itself; a worker runs with its admission, and is refused without one, with another node\'s, or with one of another manager key', async (t) => {
  const c = await cluster(t, true)
  const keys = await loadClusterKeys({ clusterKeyFile: c.clusterKeyFile, managerKeyFile: undefined })
  t.true(keys.admissionRequired)
  t.is(keys.role, 'worker')
  const mgr = await loadClusterKeys(c)
  const mDir = join(c.dir, 'm')
  await mkdir(mDir)
  const m = await loadOrCreateNodeKey(mDir)
  const mk = await createAgentKeyring({ ...c, dataDir: mDir, admissionFile: undefined }, mgr, m.id, m.privateKey.raw)
  t.true(mk.admissionRequired)
  t.true(mk.verifyManager(admissionBytes(m.id), mk.admission!))

  const wDir = join(c.dir, 'w')
  await mkdir(wDir)
  const w = await loadOrCreateNodeKey(wDir)
  const cfg = { ...c, dataDir: wDir, admissionFile: undefined }
  let err = await refusal(t, createAgentKeyring(cfg, keys, w.id, w.privateKey.raw))
  t.is(err.field, '--admission-file')
  t.true(err.message.includes(`this node (${w.id}) has no admission at ${join(wDir, 'admission')}: on a manager host run \`scalelb keygen --admit ${w.id} --manager-key manager.key --out admission\``))

  t.is(await admitNodeDir(wDir, c.managerKeyFile), w.id)
  const wk = await createAgentKeyring(cfg, keys, w.id, w.privateKey.raw)
  t.true(wk.verifyManager(admissionBytes(w.id), wk.admission!))

  // another node's admission
  const seed = parseManagerKeyFile(newClusterKeys().managerKey, 'x', 'x')
  const mine = parseManagerKeyFile(await readFile(c.managerKeyFile, 'utf8'), 'x', 'x')
  await writeFile(join(wDir, 'admission'), formatAdmissionFile(signAdmission(m.id, mine)))
  err = await refusal(t, createAgentKeyring(cfg, keys, w.id, w.privateKey.raw))
  t.is(err.message, `--admission-file: ${join(wDir, 'admission')} admits node ${m.id}, not this node (${w.id})`)
  // signed with a manager key of another cluster
  await writeFile(join(wDir, 'admission'), formatAdmissionFile(signAdmission(w.id, seed)))
  err = await refusal(t, createAgentKeyring(cfg, keys, w.id, w.privateKey.raw))
  t.is(err.field, '--admission-file')
  t.regex(err.message, /is not signed by one of the cluster's manager keys/)
  // an explicit --admission-file that is missing is an error even in an open cluster
  const open = await cluster(t, false)
  const openKeys = await loadClusterKeys({ clusterKeyFile: open.clusterKeyFile, managerKeyFile: undefined })
  t.false(openKeys.admissionRequired)
  t.is((await createAgentKeyring({ ...open, dataDir: join(open.dir, 'none'), admissionFile: undefined }, openKeys, w.id, w.privateKey.raw)).admission, undefined)
  err = await refusal(t, createAgentKeyring({ ...open, dataDir: wDir, admissionFile: join(open.dir, 'missing') }, openKeys, w.id, w.privateKey.raw))
  t.is(err.field, '--admission-file')
  t.regex(err.message, /cannot read .*missing/)
})
