/**
 * bench:desired — cost of the agent's desired-state path per single endpoint
 * add/remove, at 1k / 5k / 10k services x 10 backends in one network:
 *
 * - before: the from-scratch path the agent ran on every table change
 *   (read + validate every entry, `computeDesired` builds every spec);
 * - after: the event-driven path (validated-table cache + incremental
 *   desired state): the entry event is applied, then `view.desired()`.
 *
 * Both run in the same process on the same tables, interleaved per change;
 * the ratio is the figure that counts. Also: the downstream comparison
 * (`sameDesired`) of the previous and new state of the network, and the heap
 * the cache and incremental state hold. The tables are held by an in-process
 * source with gossip's read/event contract (entries() builds entry objects
 * per call, as gossip does), so only the agent side is measured.
 *
 * Flags: --sizes 1000,5000,10000  --backends 10  --ops 100  --seed 1
 */
import '@scalelb/gossip'
import { isDeepStrictEqual } from 'node:util'
import { performance } from 'node:perf_hooks'
import { createSeededRng, type Entry, type EntryEvent, type ScopeName } from '@scalelb/gossip'
import { sameDesired } from '../src/dataplane/reconciler/same-desired.js'
import { computeDesired, type DesiredResult } from '../src/state/desired.js'
import { readDesiredInputFull, type TableSource } from '../src/state/full-read.js'
import { TABLE_ENDPOINTS, TABLE_NETWORKS, TABLE_NODES, TABLE_SERVICES, lbEndpointKey, taskEndpointKey } from '../src/state/tables.js'
import { createTablesView } from '../src/state/view.js'
import { BenchUsageError, intFlag, mean, percentile, printJsonLine, printTable, round } from './common.js'

const SELF = 'node-self'
const NET = 'n1'
const SCOPE: ScopeName = `network:${NET}`
const REMOTE_NODES = 20

/** In-process tables with gossip's read and event contract (origin, lamport, seq, status). */
class BenchTables implements TableSource {
  readonly id = SELF
  private readonly data = new Map<string, Map<string, Entry>>()
  private readonly listeners = new Set<(ev: EntryEvent) => void>()
  private clock = 0

  scopes (): ScopeName[] { return ['cluster', SCOPE] }

  entries<V> (scope: ScopeName, table?: string): Array<Entry<V>> {
    const out: Array<Entry<V>> = []
    for (const e of this.data.get(`${scope}|${table ?? ''}`)?.values() ?? []) out.push({ ...e } as Entry<V>)
    return out
  }

  get<V> (scope: ScopeName, table: string, key: string): Entry<V> | undefined {
    const e = this.data.get(`${scope}|${table}`)?.get(key)
    return e === undefined ? undefined : { ...e } as Entry<V>
  }

  onEntry (cb: (ev: EntryEvent) => void): () => void {
    this.listeners.add(cb)
    return () => { this.listeners.delete(cb) }
  }

  set (scope: ScopeName, table: string, key: string, value: unknown, origin: string): void {
    let t = this.data.get(`${scope}|${table}`)
    if (t === undefined) this.data.set(`${scope}|${table}`, t = new Map())
    const prev = t.get(key)
    const e: Entry = { scope, table, key, value, origin, lamport: ++this.clock, seq: this.clock, deleted: false, status: 'live' }
    t.set(key, e)
    for (const cb of this.listeners) cb({ entry: { ...e }, previousStatus: prev?.status, previousValue: prev?.value })
  }

  delete (scope: ScopeName, table: string, key: string): void {
    const t = this.data.get(`${scope}|${table}`)
    const prev = t?.get(key)
    if (t === undefined || prev === undefined) return
    t.delete(key)
    const e: Entry = { ...prev, value: undefined, lamport: ++this.clock, seq: this.clock, deleted: true, status: 'deleted' }
    for (const cb of this.listeners) cb({ entry: e, previousStatus: prev.status, previousValue: prev.value })
  }
}

function ipOf (n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`
}

function macOf (n: number): string {
  return `02:00:${[(n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`
}

/** Fill the tables: `services` services with a VIP on one network, `backends` remote tasks each, this node's LB and one local task. */
function populate (src: BenchTables, services: number, backends: number): void {
  src.set('cluster', TABLE_NETWORKS, NET, { name: 'bench', subnets: ['10.0.0.0/8'], vni: 4096, options: {} }, SELF)
  for (let i = 0; i <= REMOTE_NODES; i++) {
    const id = i === 0 ? SELF : `node-${i}`
    src.set('cluster', TABLE_NODES, id, { underlay: `192.168.0.${i + 1}`, version: '0.1.0' }, id)
  }
  let ip = 1
  src.set(SCOPE, TABLE_ENDPOINTS, lbEndpointKey(SELF), { kind: 'lb', ip: ipOf(ip), mac: macOf(ip), node: SELF, state: 'ready', originMs: 1 }, SELF)
  ip++
  for (let s = 0; s < services; s++) {
    const sid = `svc-${s}`
    src.set('cluster', TABLE_SERVICES, sid, { name: sid, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { [NET]: ipOf(ip++) } }, SELF)
    for (let b = 0; b < backends; b++) {
      const node = `node-${1 + ((s * backends + b) % REMOTE_NODES)}`
      src.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey(node, `${sid}-t${b}`), { kind: 'task', service: sid, ip: ipOf(ip), mac: macOf(ip), node, state: 'ready', originMs: 1 }, node)
      ip++
    }
  }
  src.set(SCOPE, TABLE_ENDPOINTS, taskEndpointKey(SELF, 'local-task'), { kind: 'task', service: 'svc-0', ip: ipOf(ip), mac: macOf(ip), node: SELF, state: 'ready', originMs: 1 }, SELF)
}

function heapUsed (): number {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

interface SizeResult {
  services: number
  beforeMs: number[]
  afterMs: number[]
  compareBeforeMs: number[]
  compareAfterMs: number[]
  loadMs: number
  /** Cache + incremental state, its own result included. */
  heapBytes: number | undefined
  /** One retained from-scratch result (what the old path kept between changes). */
  resultHeapBytes: number | undefined
  equal: boolean
}

function runSize (services: number, backends: number, ops: number, seed: number): SizeResult {
  const src = new BenchTables()
  populate(src, services, backends)
  const hasGc = (globalThis as { gc?: unknown }).gc !== undefined
  const heap0 = heapUsed()
  // what the old path retains between changes: the last result (the agent keeps it as lastDesired)
  let full: DesiredResult = computeDesired(readDesiredInputFull(src, SELF, '192.168.0.1'))
  const heap1 = heapUsed()
  const t0 = performance.now()
  const view = createTablesView(src)
  let inc: DesiredResult = view.desired(SELF, '192.168.0.1')
  const loadMs = performance.now() - t0
  const heapBytes = hasGc ? heapUsed() - heap1 : undefined
  const resultHeapBytes = hasGc ? heap1 - heap0 : undefined
  const rng = createSeededRng(seed)
  const r: SizeResult = { services, beforeMs: [], afterMs: [], compareBeforeMs: [], compareAfterMs: [], loadMs, heapBytes, resultHeapBytes, equal: true }
  let next = 1 << 23
  let added: string | undefined
  for (let i = 0; i < ops; i++) {
    // one task endpoint added to a random service, then removed again
    const a = performance.now()
    if (added === undefined) {
      const sid = `svc-${Math.floor(rng.next() * services)}`
      const node = `node-${1 + Math.floor(rng.next() * REMOTE_NODES)}`
      added = taskEndpointKey(node, `${sid}-extra`)
      src.set(SCOPE, TABLE_ENDPOINTS, added, { kind: 'task', service: sid, ip: ipOf(next), mac: macOf(next), node, state: 'ready', originMs: 2 }, node)
      next++
    } else {
      src.delete(SCOPE, TABLE_ENDPOINTS, added)
      added = undefined
    }
    const prevInc = inc
    inc = view.desired(SELF, '192.168.0.1')
    r.afterMs.push(performance.now() - a)
    const b = performance.now()
    const prevFull = full
    full = computeDesired(readDesiredInputFull(src, SELF, '192.168.0.1'))
    r.beforeMs.push(performance.now() - b)
    // what the reconciler then does to find the change
    const c = performance.now()
    sameDesired(prevInc.desired.get(NET) as never, inc.desired.get(NET) as never)
    r.compareAfterMs.push(performance.now() - c)
    const d = performance.now()
    sameDesired(prevFull.desired.get(NET) as never, full.desired.get(NET) as never)
    r.compareBeforeMs.push(performance.now() - d)
  }
  r.equal = isDeepStrictEqual(inc, full)
  view.close()
  return r
}

function listFlag (raw: string | undefined, def: number[]): number[] {
  if (raw === undefined) return def
  const xs = raw.split(',').map((x) => intFlag('sizes', x, 0, 1, 100_000))
  if (xs.length === 0) throw new BenchUsageError('--sizes: expected a comma-separated list of service counts')
  return xs
}

function main (): void {
  const argv = process.argv.slice(2)
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`)
    return i < 0 ? undefined : argv[i + 1]
  }
  const sizes = listFlag(flag('sizes'), [1000, 5000, 10_000])
  const backends = intFlag('backends', flag('backends'), 10, 1, 100)
  const ops = intFlag('ops', flag('ops'), 100, 2, 100_000)
  const seed = intFlag('seed', flag('seed'), 1, 0, 2 ** 31)
  const rows: Array<Array<string | number>> = [['services x backends', 'before p50 ms', 'before p99 ms', 'after p50 ms', 'after p99 ms', 'ratio p50', 'compare before p50 ms', 'compare after p50 ms', 'cache heap MiB', 'result heap MiB', 'load ms', 'equal']]
  const results: Record<string, unknown> = {}
  for (const n of sizes) {
    const r = runSize(n, backends, ops, seed)
    const b50 = percentile(r.beforeMs, 50)
    const a50 = percentile(r.afterMs, 50)
    const mib = (x: number | undefined): number => x === undefined ? Number.NaN : x / 2 ** 20
    rows.push([`${n} x ${backends}`, b50, percentile(r.beforeMs, 99), round(a50, 3), round(percentile(r.afterMs, 99), 3), round(b50 / a50, 0),
      round(percentile(r.compareBeforeMs, 50), 3), round(percentile(r.compareAfterMs, 50), 4), mib(r.heapBytes), mib(r.resultHeapBytes), r.loadMs, String(r.equal)])
    results[`s${n}`] = {
      before_ms_p50: round(b50, 3),
      before_ms_p99: round(percentile(r.beforeMs, 99), 3),
      before_ms_mean: round(mean(r.beforeMs), 3),
      after_ms_p50: round(a50, 4),
      after_ms_p99: round(percentile(r.afterMs, 99), 4),
      after_ms_mean: round(mean(r.afterMs), 4),
      ratio_p50: round(b50 / a50, 1),
      compare_before_ms_p50: round(percentile(r.compareBeforeMs, 50), 4),
      compare_after_ms_p50: round(percentile(r.compareAfterMs, 50), 4),
      cache_heap_bytes: r.heapBytes ?? null,
      result_heap_bytes: r.resultHeapBytes ?? null,
      load_ms: round(r.loadMs, 1),
      equal: r.equal
    }
  }
  printTable(rows)
  if (rows.some((r) => r[11] === 'false')) console.log('WARNING: the incremental result differed from the reference')
  printJsonLine('desired', { sizes, backends, ops, seed }, results)
}

try {
  main()
} catch (err) {
  const e = err as Error
  console.error(`bench:desired: ${e.name}: ${e.message}`)
  process.exit(e instanceof BenchUsageError ? 2 : 1)
}
