/**
 * bench:sync — what one anti-entropy sync costs a node, at --entries entries
 * in a scope (one core, no sockets; the tables and the wire encoding as the
 * node runs them).
 *
 * 1. The digest (tables/store.ts, tables/sync.ts): inserting a record (its
 *    version hash XORed into its leaf: the whole digest built from scratch
 *    is N of these), the sparse 256-leaf digest of a request, its 64-bit hash
 *    (the periodic sync sends only that), and comparing a peer's digest
 *    (the differing leaves).
 * 2. Ed25519: signatures checked per second over endpoint-sized entries.
 * 3. A periodic sync between two nodes that hold the same N entries but for
 *    K that one of them (A) has newer: B's request after A answered its
 *    digest hash "differs" (the leaves' digest, or the fine buckets' from
 *    1,024 entries on), A's response (the whole differing leaves or fine
 *    buckets, and certificates), both through msgpack
 *    and the validators, and B merging it (signature checks included). Two
 *    layouts: every entry written by A itself (one origin: A's certificate
 *    covers them, one signature check per sync) and 20 entries per origin
 *    (N/20 origins, as 20 tasks per host: below the 32 entries an origin
 *    needs for a certificate, so each new entry's own signature is checked).
 *    Signed and unsigned, --repeats syncs each, medians.
 *
 * Costs are CPU time of this process (process.cpuUsage), not wall time.
 *
 * Run: npm run bench:sync -- [--entries 1000,10000,100000] [--diff 1,10,100] [--repeats 5]
 */
import { generateKeyPairSync } from 'node:crypto'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { pack, unpack } from 'msgpackr'
import { createKeyring, createSeededRng, type Keyring, type Member, type SyncResponse, type WireEntry } from '../src/index.js'
import { entryBytes, entryHeader, valuePart } from '../src/sign/entry.js'
import { DIGEST_LEAVES } from '../src/tables/constants.js'
import { createTables, digestHash, type Tables, validateSyncRequest, validateSyncResponse } from '../src/tables/index.js'
import { ScopeStore } from '../src/tables/store.js'
import { differingLeaves } from '../src/tables/sync.js'
import { percentile, round } from '../src/sim/report.js'

const SCOPE = 'cluster'
const TABLE = 'endpoints'
/** Entries per origin in the many-origin layout (tasks per host). */
const PER_ORIGIN = 20
/** Seconds each micro-rate is measured for. */
const RATE_SECONDS = 1

class UsageError extends Error { override name = 'UsageError' }

function list (name: string, raw: string | undefined, def: number[], min: number, max: number): number[] {
  if (raw === undefined) return def
  return raw.split(',').map((s) => {
    if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new UsageError(`--${name}: each value must be a whole number in [${min}, ${max}], got ${JSON.stringify(s)}`)
    return Number(s)
  })
}

/** A typical endpoint value (what the agent publishes per task). */
function endpoint (i: number, origin: string, gen: number): Record<string, unknown> {
  return { kind: 'task', service: `svc${i % 100}`, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, mac: '02:42:0a:00:00:01', node: origin, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], state: 'ready', originMs: 1_700_000_000_000 + gen }
}

/**
 * CPU time of this process in microseconds: the machines are shared, so
 * every cost here is CPU time, not wall time (a preempted stage would
 * otherwise count other processes' work).
 */
function cpuUs (): number {
  const c = process.cpuUsage()
  return c.user + c.system
}

/** CPU microseconds per call of `fn`, run for RATE_SECONDS of CPU time. */
function usPer (fn: (i: number) => void): number {
  let n = 0
  const t0 = cpuUs()
  while (cpuUs() - t0 < RATE_SECONDS * 1e6) {
    for (let k = 0; k < 16; k++) fn(n++)
  }
  return (cpuUs() - t0) / n
}

interface DigestCosts { insertUs: number, digestUs: number, hashUs: number, compareUs: number, leafEntries: number }

function digestCosts (entries: number): DigestCosts {
  const store = new ScopeStore()
  const t0 = cpuUs()
  for (let i = 0; i < entries; i++) store.insert(TABLE, `h${i % 5000}/t${i}`, { value: i, origin: `h${i % 5000}`, lamport: i + 1, seq: i + 1, deleted: false, deadAt: 0, vt: i })
  const insertUs = (cpuUs() - t0) / entries
  const theirs = store.digest()
  // a peer differing in one leaf
  theirs[1] = ((theirs[1] as number) ^ 1) | 0
  let sink = 0
  const digestUs = usPer(() => { sink += store.digest().length })
  const d = store.digest()
  const hashUs = usPer(() => { sink += digestHash(d)[0] })
  const compareUs = usPer(() => { sink += differingLeaves(store, theirs).length })
  if (sink === 0.5) console.log(sink)
  return { insertUs, digestUs, hashUs, compareUs, leafEntries: entries / DIGEST_LEAVES }
}

function verifyUs (): number {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const kr = createKeyring({ self: 'A', privateKey, publicKeyOf: () => publicKey })
  const data: Uint8Array[] = []
  const sigs: Uint8Array[] = []
  for (let i = 0; i < 256; i++) {
    data.push(entryBytes(entryHeader(SCOPE, TABLE, `A/t${i}`, 'A', i + 1, i + 1, false), valuePart(false, endpoint(i, 'A', i))))
    sigs.push(kr.sign(data[i] as Uint8Array))
  }
  return usPer((i) => { if (!kr.verify('A', data[i & 255] as Uint8Array, sigs[i & 255] as Uint8Array)) throw new Error('own signature failed') })
}

function alive (id: string): Member {
  return { id, addrs: [], state: 'alive', incarnation: 1, since: 0, restarting: false }
}

/** Keys of the bench's origins; B checks with a keyring that can be told to skip checks during set-up. */
interface Keys { sign: Map<string, Keyring>, pub: Map<string, ReturnType<typeof generateKeyPairSync>['publicKey']> }

function makeKeys (ids: string[]): Keys {
  const sign = new Map<string, Keyring>()
  const pub = new Map<string, ReturnType<typeof generateKeyPairSync>['publicKey']>()
  for (const id of ids) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    pub.set(id, publicKey)
    sign.set(id, createKeyring({ self: id, privateKey, publicKeyOf: (x) => pub.get(x) }))
  }
  return { sign, pub }
}

/** B's keyring: real checks, counted, except while `setup` (entries the bench signed itself). */
function checkingKeyring (self: string, keys: Keys): Keyring & { checks: number, setup: boolean } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  keys.pub.set(self, publicKey)
  const kr = createKeyring({ self, privateKey, publicKeyOf: (x) => keys.pub.get(x) })
  const c = {
    ...kr,
    checks: 0,
    setup: true,
    verify: (id: string, d: Uint8Array, s: Uint8Array) => {
      if (c.setup) return true
      c.checks++
      return kr.verify(id, d, s)
    }
  }
  return c
}

interface SyncFig { reqBytes: number, resBytes: number, resEntries: number, requesterUs: number, responderUs: number, mergeUs: number, checks: number }

/** Wire round trip of a message through msgpack and its validator; bytes. */
function wire<T> (x: T, validate: (x: unknown) => T | string): { msg: T, bytes: number } {
  const buf = pack(x)
  const v = validate(unpack(buf))
  if (typeof v === 'string') throw new Error(`bench: own message failed validation: ${v}`)
  return { msg: v, bytes: buf.length }
}

interface Pair { a: Tables, b: Tables, bKeys: (Keyring & { checks: number, setup: boolean }) | undefined, update: (k: number, gen: number) => void, now: number }

/**
 * Two tables holding the same `entries` entries. `manyOrigins`: 20 per origin,
 * hand-signed by each origin and handed to both; else all written by A.
 * `update(k, gen)` gives A `k` newer entries that B lacks.
 */
function pair (entries: number, manyOrigins: boolean, signed: boolean): Pair {
  const origins = manyOrigins ? Math.ceil(entries / PER_ORIGIN) : 0
  const ids = ['A', ...Array.from({ length: origins }, (_, i) => `h${i}`)]
  const keys = signed ? makeKeys(ids) : undefined
  const bKeys = keys === undefined ? undefined : checkingKeyring('B', keys)
  // A (the responder) is not measured merging: its checks are skipped
  const aSign = keys?.sign.get('A')
  const aKeys = aSign === undefined ? undefined : { ...aSign, verify: () => true }
  const a = createTables({ self: 'A', rng: createSeededRng('a'), ...(aKeys !== undefined ? { keyring: aKeys } : {}) })
  const b = createTables({ self: 'B', rng: createSeededRng('b'), ...(bKeys !== undefined ? { keyring: bKeys } : {}) })
  let now = 1000
  for (const id of ids) {
    if (id !== 'A') a.memberChanged(now, alive(id))
    b.memberChanged(now, alive(id))
  }
  a.memberChanged(now, alive('B'))
  const seqs = new Map<string, number>()
  const wireOf = (i: number, gen: number): WireEntry => {
    const origin = `h${Math.floor(i / PER_ORIGIN)}`
    const seq = (seqs.get(origin) ?? 0) + 1
    seqs.set(origin, seq)
    const key = `${origin}/t${i % PER_ORIGIN}`
    const value = endpoint(i, origin, gen)
    const sig = keys?.sign.get(origin)?.sign(entryBytes(entryHeader(SCOPE, TABLE, key, origin, seq, seq, false), valuePart(false, value)))
    return sig === undefined ? [TABLE, key, origin, seq, seq, 0, value] : [TABLE, key, origin, seq, seq, 0, value, sig]
  }
  if (manyOrigins) {
    const batch: WireEntry[] = []
    for (let i = 0; i < entries; i++) {
      batch.push(wireOf(i, 0))
      if (batch.length === 256 || i === entries - 1) {
        a.handle(now, 'h0', { scope: SCOPE, entries: batch })
        b.handle(now, 'h0', { scope: SCOPE, entries: batch })
        batch.length = 0
      }
    }
  } else {
    for (let i = 0; i < entries; i++) a.set(now, SCOPE, TABLE, `A/t${i}`, endpoint(i, 'A', 0))
    // B gets A's entries as a joining node does (and A signs its certificate)
    for (let r = 0; r < 1000; r++) {
      now += 2000
      let more = false
      for (const plan of b.tick(now, ['A', 'B']).syncs) {
        if (plan.to !== 'A' || plan.req.scope !== SCOPE) continue
        more = true
        b.handleSyncResponse(now, 'A', a.handleSyncRequest(now, 'B', plan.req))
      }
      if (!more && (b.stats().entries[SCOPE] ?? 0) >= (a.stats().entries[SCOPE] ?? 0)) break
    }
  }
  if ((b.stats().entries[SCOPE] ?? 0) !== (a.stats().entries[SCOPE] ?? 0)) throw new Error(`set-up: B holds ${b.stats().entries[SCOPE] ?? 0} entries, A ${a.stats().entries[SCOPE] ?? 0}`)
  if (bKeys !== undefined) bKeys.setup = false
  const rng = createSeededRng(`update:${entries}`)
  const update = (k: number, gen: number): void => {
    for (let j = 0; j < k; j++) {
      const i = Math.floor(rng.next() * entries)
      if (manyOrigins) a.handle(p.now, `h${Math.floor(i / PER_ORIGIN)}`, { scope: SCOPE, entries: [wireOf(i, gen)] })
      else a.set(p.now, SCOPE, TABLE, `A/t${i}`, endpoint(i, 'A', gen))
    }
  }
  const p: Pair = { a, b, bKeys, update, now }
  return p
}

/** One periodic sync of B with A after A got `k` newer entries. */
function syncOnce (p: Pair, k: number, gen: number): SyncFig {
  p.update(k, gen)
  p.now += 2000
  const checks0 = p.bKeys?.checks ?? 0
  let t = cpuUs()
  let plan = p.b.tick(p.now, ['A', 'B']).syncs.find((s) => s.to === 'A' && s.req.scope === SCOPE)
  // B's periodic syncs run on its own grid (staggered): tick on to the next one if none was due
  for (let i = 0; i < 100 && plan === undefined; i++) {
    p.now += 100
    t = cpuUs()
    plan = p.b.tick(p.now, ['A', 'B']).syncs.find((s) => s.to === 'A' && s.req.scope === SCOPE)
  }
  if (plan === undefined) throw new Error('no sync planned')
  // a periodic sync goes as its digest's hash; A's "differs" answer brings B's full request (the fine
  // digest once B holds FINE_DIGEST_MIN_RECORDS records), as the node runs it
  const full = p.b.handleSyncDiffers(p.now, 'A', SCOPE)
  const req = wire(full?.req ?? plan.req, validateSyncRequest)
  const requesterUs = cpuUs() - t
  t = cpuUs()
  const res = wire<SyncResponse>(p.a.handleSyncRequest(p.now, 'B', req.msg), validateSyncResponse)
  const responderUs = cpuUs() - t
  t = cpuUs()
  const back = p.b.handleSyncResponse(p.now, 'A', res.msg)
  const mergeUs = cpuUs() - t
  if (back.length > 0) throw new Error('B pushed back entries: the replicas differed in more than A\'s updates')
  return { reqBytes: req.bytes, resBytes: res.bytes, resEntries: res.msg.entries.length, requesterUs, responderUs, mergeUs, checks: (p.bKeys?.checks ?? 0) - checks0 }
}

interface Row { entries: number, layout: string, k: number, signed: SyncFig, unsigned: SyncFig }

function median (xs: SyncFig[]): SyncFig {
  const m = (f: (x: SyncFig) => number): number => percentile(xs.map(f), 50)
  return { reqBytes: m((x) => x.reqBytes), resBytes: m((x) => x.resBytes), resEntries: m((x) => x.resEntries), requesterUs: m((x) => x.requesterUs), responderUs: m((x) => x.responderUs), mergeUs: m((x) => x.mergeUs), checks: m((x) => x.checks) }
}

function main (): number {
  let entries: number[], diffs: number[], repeats: number
  try {
    const { values } = parseArgs({ options: { entries: { type: 'string' }, diff: { type: 'string' }, repeats: { type: 'string' }, json: { type: 'boolean' } }, strict: true })
    entries = list('entries', values.entries, [1000, 10_000, 100_000], 100, 1_000_000)
    diffs = list('diff', values.diff, [1, 10, 100], 1, 1000)
    repeats = list('repeats', values.repeats, [5], 1, 100)[0] as number
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    return 2
  }
  const results: Record<string, number> = {}
  const vUs = verifyUs()
  results.ed25519_verify_us = round(vUs, 1)
  console.log(`Ed25519 check of an endpoint entry: ${round(vUs, 1)} us (${round(1e6 / vUs, 0)}/s, one core)`)
  console.log('')
  console.log('entries  insert us/entry  digest us  digest hash us  compare us  entries per leaf')
  for (const n of entries) {
    const d = digestCosts(n)
    console.log([n, round(d.insertUs, 2), round(d.digestUs, 1), round(d.hashUs, 2), round(d.compareUs, 1), round(d.leafEntries, 0)].map((x, i) => String(x).padStart([7, 16, 10, 15, 11, 17][i] as number)).join(' '))
    results[`n${n}_insert_us`] = round(d.insertUs, 3)
    results[`n${n}_digest_us`] = round(d.digestUs, 2)
    results[`n${n}_digest_hash_us`] = round(d.hashUs, 3)
    results[`n${n}_compare_us`] = round(d.compareUs, 2)
  }
  const rows: Row[] = []
  for (const n of entries) {
    for (const layout of ['one-origin', `${PER_ORIGIN}-per-origin`]) {
      const many = layout !== 'one-origin'
      const ps = pair(n, many, true)
      const pu = pair(n, many, false)
      for (const k of diffs) {
        const s: SyncFig[] = []; const u: SyncFig[] = []
        for (let r = 0; r < repeats; r++) {
          // alternate which goes first
          const gen = 1 + r + 1000 * k
          if (r % 2 === 0) { s.push(syncOnce(ps, k, gen)); u.push(syncOnce(pu, k, gen)) } else { u.push(syncOnce(pu, k, gen)); s.push(syncOnce(ps, k, gen)) }
        }
        rows.push({ entries: n, layout, k, signed: median(s), unsigned: median(u) })
      }
      console.error(`done: ${n} entries, ${layout}`)
    }
  }
  console.log('')
  console.log(`periodic sync after A got K newer entries; medians of ${repeats}; us = CPU microseconds; signed / unsigned`)
  const head = ['entries', 'layout', 'K', 'res entries', 'res bytes', 'req bytes', 'B request us', 'A respond us', 'B merge us', 'checks at B', 'total us', 'unsigned total us', 'ratio']
  const cells = rows.map((r) => {
    const tot = (f: SyncFig): number => f.requesterUs + f.responderUs + f.mergeUs
    return [r.entries, r.layout, r.k, r.signed.resEntries, r.signed.resBytes, r.signed.reqBytes, round(r.signed.requesterUs, 0), round(r.signed.responderUs, 0), round(r.signed.mergeUs, 0), r.signed.checks, round(tot(r.signed), 0), round(tot(r.unsigned), 0), round(tot(r.signed) / tot(r.unsigned), 2)].map(String)
  })
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)))
  for (const c of [head, ...cells]) console.log(c.map((x, i) => x.padStart(w[i] as number)).join('  '))
  for (const r of rows) {
    const key = `n${r.entries}_${r.layout === 'one-origin' ? 'o1' : 'o20'}_k${r.k}`
    results[`${key}_res_entries`] = r.signed.resEntries
    results[`${key}_res_bytes`] = r.signed.resBytes
    results[`${key}_req_bytes`] = r.signed.reqBytes
    results[`${key}_requester_us`] = round(r.signed.requesterUs, 0)
    results[`${key}_responder_us`] = round(r.signed.responderUs, 0)
    results[`${key}_merge_us`] = round(r.signed.mergeUs, 0)
    results[`${key}_checks`] = r.signed.checks
    results[`${key}_unsigned_total_us`] = round(r.unsigned.requesterUs + r.unsigned.responderUs + r.unsigned.mergeUs, 0)
  }
  console.log(JSON.stringify({ bench: 'sync', params: { entries, diff: diffs, repeats, per_origin: PER_ORIGIN, digest_leaves: DIGEST_LEAVES }, results, env: { node: process.version, cpus: cpus().length } }))
  return 0
}

process.exitCode = main()
