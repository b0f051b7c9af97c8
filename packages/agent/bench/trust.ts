/**
 * bench:trust — what signed entries cost, each figure with and without
 * signing in one run (BENCH.md: interleaved, ratios beside raw figures):
 *
 * - Ed25519 signatures made and checked per second over entry-sized data
 *   (the signed bytes of a typical endpoint entry), one core;
 * - a full anti-entropy sync of --entries entries from one node to an empty
 *   one through the Tables API and the wire encoding (pack, unpack,
 *   validate), as a node joining a busy network does: wall and CPU time,
 *   bytes, rounds, signature checks made by the receiver; --repeats pairs,
 *   the order alternating, medians and their ratio;
 * - (root, --cluster-nodes > 0) task add at one agent until its backend is
 *   programmed in every other agent's LB sandbox, the bench:cluster path,
 *   once with signing and once with `SCALELB_INSECURE_UNSIGNED_GOSSIP=1`.
 *
 * Run: npm run bench:trust -- [--entries 100000] [--repeats 3] [--cluster-nodes 20] [--adds 20]
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { pack, unpack } from 'msgpackr'
import { createKeyDirectory, createSeededRng, type Keyring, type Member, type SyncResponse, type WireEntry } from '@scalelb/gossip'
// the sans-IO tables and wire validators (not part of the package's public API)
import { createTables, type Tables, validateSyncRequest, validateSyncResponse } from '../../gossip/src/tables/index.js'
import { entryBytes, entryHeader, valuePart } from '../../gossip/src/sign/entry.js'
import { BenchUsageError, intFlag, isRoot, percentile, printJsonLine, printTable, round } from './common.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const SCOPE = 'network:bench'
/** Seconds each signature rate is measured for. */
const RATE_SECONDS = 2
/** Anti-entropy rounds after which a sync is declared stuck. */
const MAX_ROUNDS = 1000

interface Flags { entries: number, repeats: number, clusterNodes: number, adds: number }

function flags (): Flags {
  let values
  try {
    values = parseArgs({
      options: { entries: { type: 'string' }, repeats: { type: 'string' }, 'cluster-nodes': { type: 'string' }, adds: { type: 'string' }, json: { type: 'boolean' } },
      strict: true
    }).values
  } catch (err) {
    throw new BenchUsageError((err as Error).message)
  }
  return {
    entries: intFlag('entries', values.entries, 100_000, 1, 2_000_000),
    repeats: intFlag('repeats', values.repeats, 3, 1, 50),
    clusterNodes: intFlag('cluster-nodes', values['cluster-nodes'], 20, 0, 100),
    adds: intFlag('adds', values.adds, 20, 1, 1000)
  }
}

/** A typical endpoint value (what the agent publishes per task). */
function endpoint (i: number): Record<string, unknown> {
  return { kind: 'task', service: `svc${i % 100}`, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, mac: '02:42:0a:00:00:01', node: 'A', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], state: 'ready', originMs: 1_700_000_000_000 + i }
}

/** Signatures made and checked per second over the signed bytes of endpoint entries. */
function signatureRates (): { signPerS: number, verifyPerS: number } {
  const kr = createKeyDirectory().add('A')
  const data: Uint8Array[] = []
  for (let i = 0; i < 1000; i++) data.push(entryBytes(entryHeader(SCOPE, 'endpoints', `A/t${i}`, 'A', i + 1, i + 1, false), valuePart(false, endpoint(i))))
  const sigs: Uint8Array[] = []
  let n = 0
  let t0 = performance.now()
  while (performance.now() - t0 < RATE_SECONDS * 1000) sigs[n % 1000] = kr.sign(data[n++ % 1000] as Uint8Array)
  const signPerS = n / ((performance.now() - t0) / 1000)
  n = 0
  t0 = performance.now()
  while (performance.now() - t0 < RATE_SECONDS * 1000) {
    if (!kr.verify('A', data[n % 1000] as Uint8Array, sigs[n % 1000] as Uint8Array)) throw new Error('a signature of our own failed to verify')
    n++
  }
  return { signPerS, verifyPerS: n / ((performance.now() - t0) / 1000) }
}

/** A keyring that counts checks. */
function counting (kr: Keyring): Keyring & { checks: number } {
  const c = { ...kr, checks: 0, verify: (id: string, d: Uint8Array, s: Uint8Array) => { c.checks++; return kr.verify(id, d, s) }, verifyManager: (d: Uint8Array, s: Uint8Array) => { c.checks++; return kr.verifyManager(d, s) } }
  return c
}

interface SyncRun { ms: number, cpuMs: number, bytes: number, rounds: number, checks: number }

function alive (id: string): Member {
  return { id, addrs: [], state: 'alive', incarnation: 1, since: 0, restarting: false }
}

/** Wire round trip of a message through msgpack and its validator, as the node does. */
function wire<T> (x: T, validate: (x: unknown) => T | string): { msg: T, bytes: number } {
  const buf = pack(x)
  const v = validate(unpack(buf))
  if (typeof v === 'string') throw new Error(`bench: own message failed validation: ${v}`)
  return { msg: v, bytes: buf.length }
}

/** One full sync of `entries` endpoint entries from A (their origin) to an empty B. */
function syncOnce (entries: number, signed: boolean): SyncRun {
  const dir = createKeyDirectory()
  const krB = counting(dir.add('B'))
  const a: Tables = createTables({ self: 'A', rng: createSeededRng('a'), ...(signed ? { keyring: dir.add('A') } : {}) })
  const b: Tables = createTables({ self: 'B', rng: createSeededRng('b'), ...(signed ? { keyring: krB } : {}) })
  let now = 1000
  a.memberChanged(now, alive('B'))
  b.memberChanged(now, alive('A'))
  a.joinScope(now, SCOPE)
  b.joinScope(now, SCOPE)
  for (let i = 0; i < entries; i++) a.set(now, SCOPE, 'endpoints', `A/t${i}`, endpoint(i))
  // B learns that A is in the scope (A's scopes record)
  for (const w of a.records(now, 'cluster')) b.handle(now, 'A', { scope: 'cluster', entries: [w as WireEntry] })
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  let rounds = 0
  let bytes = 0
  while ((b.stats().entries[SCOPE] ?? 0) < entries) {
    if (++rounds > MAX_ROUNDS) throw new Error(`sync did not finish in ${MAX_ROUNDS} rounds (${b.stats().entries[SCOPE] ?? 0} of ${entries}; dropped ${JSON.stringify(b.stats().dropped)})`)
    now += 2000
    for (const plan of b.tick(now, ['A', 'B']).syncs) {
      if (plan.req.scope !== SCOPE) continue
      const req = wire(plan.req, validateSyncRequest)
      const res = wire<SyncResponse>(a.handleSyncRequest(now, 'B', req.msg), validateSyncResponse)
      bytes += req.bytes + res.bytes
      b.handleSyncResponse(now, 'A', res.msg)
    }
  }
  const c = process.cpuUsage(c0)
  const ms = performance.now() - t0
  if (Object.keys(b.stats().dropped).length > 0) throw new Error(`entries refused in an honest sync: ${JSON.stringify(b.stats().dropped)}`)
  return { ms, cpuMs: (c.user + c.system) / 1000, bytes, rounds, checks: krB.checks }
}

/** bench:cluster in a child process; its JSON line's results. */
async function clusterRun (nodes: number, adds: number, unsigned: boolean): Promise<Record<string, number>> {
  const env = { ...process.env }
  if (unsigned) env.SCALELB_INSECURE_UNSIGNED_GOSSIP = '1'
  else delete env.SCALELB_INSECURE_UNSIGNED_GOSSIP
  const args = ['--import', 'tsx', '--conditions=scalelb-source', join(HERE, 'cluster.ts'), '--nodes', String(nodes), '--adds', String(adds), '--kills', '0', '--phase-seconds', '2', '--rate', '1']
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  const last = out.trim().split('\n').pop() ?? ''
  if (code !== 0) throw new Error(`bench:cluster (${unsigned ? 'unsigned' : 'signed'}) exited ${String(code)}`)
  return (JSON.parse(last) as { results: Record<string, number> }).results
}

async function main (): Promise<void> {
  const f = flags()
  const rates = signatureRates()
  const runs: Record<'signed' | 'unsigned', SyncRun[]> = { signed: [], unsigned: [] }
  for (let i = 0; i < f.repeats; i++) {
    const order: boolean[] = i % 2 === 0 ? [false, true] : [true, false]
    for (const signed of order) runs[signed ? 'signed' : 'unsigned'].push(syncOnce(f.entries, signed))
  }
  const med = (k: 'signed' | 'unsigned', x: (r: SyncRun) => number): number => percentile(runs[k].map(x), 50)
  const sync = {
    unsigned_ms_p50: round(med('unsigned', (r) => r.ms), 0),
    signed_ms_p50: round(med('signed', (r) => r.ms), 0),
    unsigned_cpu_ms_p50: round(med('unsigned', (r) => r.cpuMs), 0),
    signed_cpu_ms_p50: round(med('signed', (r) => r.cpuMs), 0),
    unsigned_bytes: med('unsigned', (r) => r.bytes),
    signed_bytes: med('signed', (r) => r.bytes),
    unsigned_rounds: med('unsigned', (r) => r.rounds),
    signed_rounds: med('signed', (r) => r.rounds),
    signed_signature_checks: med('signed', (r) => r.checks)
  }
  const ratio = { time: round(sync.signed_ms_p50 / sync.unsigned_ms_p50, 2), cpu: round(sync.signed_cpu_ms_p50 / sync.unsigned_cpu_ms_p50, 2) }
  let cluster: Record<string, number | string> = { skipped: 'needs --cluster-nodes > 0 and root' }
  if (f.clusterNodes > 0 && isRoot()) {
    const unsigned = await clusterRun(f.clusterNodes, f.adds, true)
    const signed = await clusterRun(f.clusterNodes, f.adds, false)
    cluster = {
      unsigned_add_all_ms_p50: unsigned.add_all_ms_p50 as number,
      unsigned_add_all_ms_p99: unsigned.add_all_ms_p99 as number,
      signed_add_all_ms_p50: signed.add_all_ms_p50 as number,
      signed_add_all_ms_p99: signed.add_all_ms_p99 as number
    }
  } else if (f.clusterNodes > 0) {
    console.error('bench:trust: skipping the cluster part: it needs root (network namespaces, nft)')
  }
  printTable([
    ['figure', 'unsigned', 'signed', 'ratio'],
    ['Ed25519 sign / s', '', round(rates.signPerS, 0), ''],
    ['Ed25519 verify / s', '', round(rates.verifyPerS, 0), ''],
    [`sync of ${f.entries} entries, ms (p50 of ${f.repeats})`, sync.unsigned_ms_p50, sync.signed_ms_p50, ratio.time],
    ['  CPU ms', sync.unsigned_cpu_ms_p50, sync.signed_cpu_ms_p50, ratio.cpu],
    ['  bytes', sync.unsigned_bytes, sync.signed_bytes, round(sync.signed_bytes / sync.unsigned_bytes, 3)],
    ['  rounds', sync.unsigned_rounds, sync.signed_rounds, ''],
    ['  signature checks at the receiver', 0, sync.signed_signature_checks, ''],
    ...('skipped' in cluster
      ? [['task add -> all sandboxes', 'skipped', 'skipped', '']]
      : [
          [`task add -> ${f.clusterNodes - 1} sandboxes p50 ms`, cluster.unsigned_add_all_ms_p50 as number, cluster.signed_add_all_ms_p50 as number, round((cluster.signed_add_all_ms_p50 as number) / (cluster.unsigned_add_all_ms_p50 as number), 2)],
          ['  p99 ms', cluster.unsigned_add_all_ms_p99 as number, cluster.signed_add_all_ms_p99 as number, round((cluster.signed_add_all_ms_p99 as number) / (cluster.unsigned_add_all_ms_p99 as number), 2)]
        ])
  ])
  printJsonLine('trust', { entries: f.entries, repeats: f.repeats, cluster_nodes: f.clusterNodes, adds: f.adds }, {
    sign_per_s: round(rates.signPerS, 0),
    verify_per_s: round(rates.verifyPerS, 0),
    sync,
    sync_ratio_time: ratio.time,
    sync_ratio_cpu: ratio.cpu,
    cluster
  })
}

main().catch((err: unknown) => {
  const e = err as Error
  console.error(`bench:trust: ${e.name}: ${e.message}`)
  process.exit(e instanceof BenchUsageError ? 2 : 1)
})
