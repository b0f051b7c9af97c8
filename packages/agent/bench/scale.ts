/**
 * bench:scale — one LB sandbox (nft programmer, per-network) at growing
 * service counts: full load time, single-backend update latency (p50, p99)
 * at 1k, 5k and 10k services (checkpoints up to --services), and the
 * resident memory of this process, which holds the desired spec and the
 * programmer's in-memory copy of the sandbox (what an agent keeps).
 *
 * Updates run both ways in one run, in alternating blocks: `lib` (the
 * agent's path: libnftables in-process) and `proc` (an `nft -f -` process
 * each, the path before). Each block starts with an unmeasured update: the
 * first in-process call after a block of processes pays for their forks
 * (copy-on-write page faults, ~10 ms here), which a one-at-a-time
 * alternation charged to every `lib` update; that first one is reported on
 * its own. Resync checks of the unchanged sandbox run three ways, in rounds:
 * `lib` (nf_tables generation + `lb0` read over rtnetlink), `ip` (the
 * generation + `ip -j addr`, the check before) and `proc` (the whole table
 * read, the check before that).
 *
 * Anchors (README "Performance"): kube-proxy nftables partial sync ~141 ms to
 * add one service when 10k exist; a slot-map layout measured on this kind of
 * machine ~15 ms, flat.
 *
 * Run (root): npm run bench:scale -- [--services 10000] [--backends 10] [--updates 30] [--seed 1] [--family 4,6,dual]
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createSeededRng } from '@scalelb/gossip'
import { createKernel, type Kernel } from '../src/dataplane/kernel/index.js'
import { createNftProgrammer, type NetworkDesired, type ServiceSpec } from '../src/dataplane/programmer/index.js'
import { nftTableName } from '../src/dataplane/kernel/index.js'
import {
  BenchUsageError, instrumentKernel, intFlag, isRoot, mean, percentile, printJsonLine, printTable, round, runBench, sh
} from './common.js'
import { backendInFamily, byFamily, familiesFlag, familyLabel, familySuffix, inFamily, ip6Of, SUBNET6, type Family } from './family.js'
import { countNetns } from './kernel-count.js'

/** Defaults of the issue. */
const DEFAULT_SERVICES = 10_000
const DEFAULT_BACKENDS = 10
/** Single-backend updates measured at each checkpoint. */
const DEFAULT_UPDATES = 30
/** Unmeasured updates first at each checkpoint (the first creates the m<N> chain if a count changes). */
const WARMUP_UPDATES = 3
/** Updates per block of one way (the first of each block unmeasured). */
const BLOCK = 10
/** Resync checks (`verify`) measured per way at each checkpoint. */
const VERIFIES = 3
/** Service counts measured along the way (plus --services itself). */
const CHECKPOINTS = [1000, 5000, 10_000]
/** 10.128.0.0/9: room for 10k services x 100 backends; addresses exist only inside the run's netns. */
const SUBNET = '10.128.0.0/9'

function ipOf (idx: number): string {
  return `10.${128 + (idx >> 16)}.${(idx >> 8) & 255}.${idx & 255}`
}

function gcMiB (): { rss: number, heap: number } {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 }
}

/** How nft is reached: in-process libnftables (the agent's way), or a process per transaction. */
type Way = 'lib' | 'proc'
const WAYS: readonly Way[] = ['lib', 'proc']
/** How the resync check reads the sandbox: generation + rtnetlink (the agent's way), generation + `ip -j addr`, or the whole table. */
type CheckWay = 'lib' | 'ip' | 'proc'
const CHECK_WAYS: readonly CheckWay[] = ['lib', 'ip', 'proc']

interface PerWay {
  updateMs: number[]
  /** Of each update: time in kernel commands (the nft transaction); the rest is the programmer's in-process diff. */
  updateKernelMs: number[]
  /** Processes spawned per update. */
  updateSpawns: number[]
  /** The unmeasured first update of each block (`lib`: right after a block of `proc` processes). */
  firstMs: number[]
}

interface PerCheckWay {
  /** One resync check of the network (`verify`: overlay and sandbox), nothing changed. */
  verifyMs: number[]
  /** Of it, the LB sandbox's part (the nft backend's check). */
  sandboxMs: number[]
}

interface Checkpoint {
  family: Family
  services: number
  loadMs: number
  /** Of the load: time in kernel commands (netns, bridge, addresses, `nft -f`). */
  loadKernelMs: number
  ways: Record<Way, PerWay>
  checks: Record<CheckWay, PerCheckWay>
  kernelObjects: number
  rssMiB: number
  heapMiB: number
}

/** Parse and check the flags; the returned runner does the work. */
function fromFlags (): { run: (run: string) => Promise<void> } {
  const { values } = parseArgs({
    options: {
      services: { type: 'string' },
      backends: { type: 'string' },
      updates: { type: 'string' },
      seed: { type: 'string' },
      family: { type: 'string' },
      json: { type: 'boolean' }
    }
  })
  const families = familiesFlag(values.family)
  const S = intFlag('services', values.services, DEFAULT_SERVICES, 1, 50_000)
  const B = intFlag('backends', values.backends, DEFAULT_BACKENDS, 1, 100)
  const updates = intFlag('updates', values.updates, DEFAULT_UPDATES, 1, 1000)
  const seed = intFlag('seed', values.seed, 1, 0, 2 ** 31)
  if (S * (B + 1) + (updates + WARMUP_UPDATES) * 4 + 16 > 2 ** 23) throw new BenchUsageError('--services x --backends: more addresses than the /9 benchmark subnet holds')
  if (!isRoot()) throw new BenchUsageError('bench:scale needs root (network namespaces, nftables)')
  return { run: async (run: string) => { await bench(run, S, B, updates, seed, families) } }
}

async function bench (run: string, S: number, B: number, updates: number, seed: number, families: readonly Family[]): Promise<void> {
  const host = `${run}-h`
  await sh('ip', ['netns', 'add', host])
  await sh('ip', ['-n', host, 'link', 'set', 'lo', 'up'])
  const lib = createKernel({ baseNetns: `/run/netns/${host}` })
  const proc = createKernel({ baseNetns: `/run/netns/${host}`, nftInProcess: false })
  const ipRead = createKernel({ baseNetns: `/run/netns/${host}`, rtnlInProcess: false })
  let way: CheckWay = 'lib'
  const kernelOf = (): Kernel => way === 'lib' ? lib : way === 'ip' ? ipRead : proc
  const switched: Kernel = {
    baseNetns: lib.baseNetns,
    spawns: () => lib.spawns() + proc.spawns() + ipRead.spawns(),
    run: async (cmd, args, opts) => await kernelOf().run(cmd, args, opts),
    nftGeneration: async (netns) => way === 'proc' ? undefined : await kernelOf().nftGeneration?.(netns)
  }
  const kernel = instrumentKernel(switched)
  const prefix = `${run}-`
  const networkId = randomBytes(16).toString('hex')
  const sandboxNs = `${prefix}lb-${networkId.slice(0, 12)}`
  const checkpoints = [...CHECKPOINTS.filter((c) => c < S), S]
  console.log(`bench:scale run ${run}: one LB sandbox, ${B} backends per service, checkpoints ${checkpoints.join(', ')} services, ${updates} updates each (seed ${seed}), families ${families.join(', ')}`)
  const mem0 = gcMiB()

  const results: Checkpoint[] = []
  for (const fam of families) {
  // the same --seed picks the same services to update, in every family
  const rng = createSeededRng(seed)
  let next = 16 + S * (B + 1) // fresh backend addresses for updates
  for (const n of checkpoints) {
    // a fresh programmer and sandbox for each checkpoint: full load from empty
    const programmer = createNftProgrammer({ netnsPrefix: prefix, lbMode: 'per-network', kernel })
    const services: ServiceSpec[] = []
    for (let s = 0; s < n; s++) {
      const backends = []
      const idx: number[] = []
      for (let b = 0; b < B; b++) {
        idx.push(16 + S + s * B + b)
        backends.push({ ip: ipOf(16 + S + s * B + b), weight: 1, draining: false })
      }
      services.push(inFamily({ id: `svc${String(s).padStart(6, '0')}`, vip: ipOf(16 + s), ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], backends }, fam, 16 + s, idx))
    }
    const lbAddresses = byFamily(fam, `${ipOf(2)}/9`, `${ip6Of(2)}/64`)
    const desired: NetworkDesired = {
      sandbox: { networkId, lbAddresses, lbMac: '02:42:0a:80:00:02', services },
      overlay: { networkId, vni: 4243, subnets: byFamily(fam, SUBNET, SUBNET6), localUnderlay: '', remotes: [] },
      localTaskNetns: []
    }
    const lk0 = kernel.commandMs()
    const t0 = performance.now()
    await programmer.apply(desired)
    const loadMs = performance.now() - t0
    const loadKernelMs = kernel.commandMs() - lk0
    const ways: Record<Way, PerWay> = { lib: { updateMs: [], updateKernelMs: [], updateSpawns: [], firstMs: [] }, proc: { updateMs: [], updateKernelMs: [], updateSpawns: [], firstMs: [] } }
    const checks: Record<CheckWay, PerCheckWay> = { lib: { verifyMs: [], sandboxMs: [] }, ip: { verifyMs: [], sandboxMs: [] }, proc: { verifyMs: [], sandboxMs: [] } }
    // blocks of BLOCK updates per way, lib first: each block's first update unmeasured (see the top of this file)
    const perBlock = BLOCK - 1
    const blocks = Math.ceil(updates / perBlock)
    for (let u = -WARMUP_UPDATES; u < blocks * 2 * BLOCK; u++) {
      const block = Math.floor(Math.max(0, u) / BLOCK)
      const w: Way = u < 0 ? 'lib' : WAYS[block % 2] as Way
      way = w
      const first = u >= 0 && u % BLOCK === 0
      if (u >= 0 && !first && ways[w].updateMs.length >= updates) continue
      // replace one backend of one service (the kernel sees: delete + add of its slot elements)
      const k = Math.floor(rng.next() * n)
      const svc = services[k] as ServiceSpec
      const j = Math.floor(rng.next() * B)
      const fresh = next++
      services[k] = {
        ...svc,
        backends: svc.backends.map((b, i) => i !== j ? b : backendInFamily({ ...b, ip: ipOf(fresh) }, fam, fresh))
      }
      const k0 = kernel.commandMs()
      const s0 = kernel.spawns()
      const t1 = performance.now()
      const r = await programmer.apply(desired)
      const ms = performance.now() - t1
      if (first) ways[w].firstMs.push(ms)
      else if (u >= 0) {
        ways[w].updateMs.push(ms)
        ways[w].updateKernelMs.push(kernel.commandMs() - k0)
        ways[w].updateSpawns.push(kernel.spawns() - s0)
      }
      if (r.transactions !== 1) console.log(`note: update ${u} took ${r.transactions} transactions`)
    }
    const at = { networkId, netns: sandboxNs, table: nftTableName(networkId) }
    for (let v = 0; v < VERIFIES * CHECK_WAYS.length; v++) {
      way = CHECK_WAYS[v % CHECK_WAYS.length] as CheckWay
      const t1 = performance.now()
      if (!await programmer.verify(networkId)) throw new Error(`verify found the sandbox changed at ${n} services (${way})`)
      checks[way].verifyMs.push(performance.now() - t1)
      const t2 = performance.now()
      if (!await programmer.backend.verify(at, {})) throw new Error(`the sandbox check found it changed at ${n} services (${way})`)
      checks[way].sandboxMs.push(performance.now() - t2)
    }
    way = 'lib'
    const objects = await countNetns(sandboxNs, 'lb0')
    const mem = gcMiB()
    results.push({ family: fam, services: n, loadMs, loadKernelMs, ways, checks, kernelObjects: objects.rules + objects.elements + objects.addresses, rssMiB: mem.rss, heapMiB: mem.heap - mem0.heap })
    console.log(`${familyLabel(fam)} ${n} services: loaded in ${round(loadMs, 1)} ms, update p50 lib ${round(percentile(ways.lib.updateMs, 50), 2)} ms / proc ${round(percentile(ways.proc.updateMs, 50), 2)} ms, resync check lib ${round(percentile(checks.lib.verifyMs, 50), 1)} ms / ip ${round(percentile(checks.ip.verifyMs, 50), 1)} ms / proc ${round(percentile(checks.proc.verifyMs, 50), 1)} ms, ${objects.rules + objects.elements + objects.addresses} kernel objects, RSS ${round(mem.rss, 1)} MiB`)
    await programmer.remove(networkId)
  }
  }

  console.log('')
  console.log(`one LB sandbox, ${B} backends/service; update = one backend of one service replaced (one nft transaction), lib = libnftables in-process, proc = an nft process, in alternating blocks of ${BLOCK} (the first of each block unmeasured, its p50 shown apart); resync check of the unchanged network (overlay + sandbox): lib = generation + rtnetlink read of lb0, ip = generation + ip -j addr, proc = full table read; RSS of this process (spec + programmer state), before any load ${round(mem0.rss, 1)} MiB`)
  const p50 = (xs: readonly number[], digits: number): string | number => xs.length === 0 ? '-' : round(percentile(xs, 50), digits)
  printTable([
    ['family', 'services', 'full load ms', 'of which kernel ms', 'way', 'update ms p50', 'update ms p99', 'of which nft ms p50', 'first of a block ms p50', 'spawns/update', 'resync check ms', 'of which sandbox ms', 'kernel objects', 'RSS MiB', 'heap over start MiB'],
    ...results.flatMap((c) => CHECK_WAYS.map((w) => {
      const u = w === 'ip' ? undefined : c.ways[w]
      return [
        c.family, String(c.services), round(c.loadMs, 1), round(c.loadKernelMs, 1), w,
        p50(u?.updateMs ?? [], 2), u === undefined ? '-' : round(percentile(u.updateMs, 99), 2), p50(u?.updateKernelMs ?? [], 2), p50(u?.firstMs ?? [], 2),
        u === undefined ? '-' : round(mean(u.updateSpawns), 1), p50(c.checks[w].verifyMs, 1), p50(c.checks[w].sandboxMs, 1), String(c.kernelObjects), round(c.rssMiB, 1), round(c.heapMiB, 1)
      ]
    }))
  ])
  console.log('anchors: kube-proxy nftables partial sync ~141 ms to add one service at 10k services; slot-map layout on this kind of machine ~15 ms, flat')
  const res: Record<string, number> = { rss_mib_start: round(mem0.rss, 1) }
  for (const c of results) {
    const k = (c.services >= 1000 && c.services % 1000 === 0 ? `${c.services / 1000}k` : String(c.services)) + familySuffix(c.family)
    res[`load_ms_${k}`] = round(c.loadMs, 1)
    res[`load_kernel_ms_${k}`] = round(c.loadKernelMs, 1)
    for (const w of WAYS) {
      const x = c.ways[w]
      const sfx = w === 'lib' ? k : `${k}_proc`
      res[`update_ms_p50_${sfx}`] = round(percentile(x.updateMs, 50), 2)
      res[`update_ms_p99_${sfx}`] = round(percentile(x.updateMs, 99), 2)
      res[`update_kernel_ms_p50_${sfx}`] = round(percentile(x.updateKernelMs, 50), 2)
      res[`update_spawns_${sfx}`] = round(mean(x.updateSpawns), 2)
      res[`update_first_ms_p50_${sfx}`] = round(percentile(x.firstMs, 50), 2)
    }
    for (const w of CHECK_WAYS) {
      const sfx = w === 'lib' ? k : `${k}_${w}`
      res[`resync_check_ms_${sfx}`] = round(percentile(c.checks[w].verifyMs, 50), 1)
      res[`resync_sandbox_ms_${sfx}`] = round(percentile(c.checks[w].sandboxMs, 50), 1)
    }
    res[`kernel_objects_${k}`] = c.kernelObjects
    res[`rss_mib_${k}`] = round(c.rssMiB, 1)
    res[`heap_mib_${k}`] = round(c.heapMiB, 1)
  }
  printJsonLine('scale', { services: S, backends: B, updates, seed, checkpoints, families }, res)
}

runBench('bench:scale', 'bs', async (run) => { await fromFlags().run(run) })
