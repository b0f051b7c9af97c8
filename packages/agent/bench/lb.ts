/**
 * bench:lb — per-network LB sandbox (scalelb) vs per-container LB state (the
 * pre-2018 Docker scheme), on the real kernel, interleaved in one run.
 *
 * One node, one network with S services x T tasks; C of the tasks run on this
 * node (task netns with a veth into the network's bridge). For each mode:
 * kernel objects read back from every namespace the LB state lives in (nft
 * rules + map/set elements + LB addresses), and per task add / remove (a
 * remote task, and a local one: a container starting here) the kernel
 * transactions, the `nft` (and all) processes spawned and the time to apply.
 * With `--family 6` every address is its IPv6 twin, with `dual` both
 * (several families in one run, one after the other).
 *
 * Run (root): npm run bench:lb -- [--services S] [--tasks-per-service T] [--containers-per-node C] [--rounds R] [--family 4,6,dual]
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createKernel } from '../src/dataplane/kernel/index.js'
import { createProgrammer, type LbMode, type NetworkDesired, type Programmer } from '../src/dataplane/programmer/index.js'
import { attachTaskNetns } from '../src/dataplane/plumber/index.js'
import {
  BenchUsageError, deleteNetnsWithPrefix, instrumentKernel, intFlag, isRoot, type InstrumentedKernel, mean, percentile, printJsonLine, printTable, round, runBench, sh
} from './common.js'
import { byFamily, familiesFlag, familyLabel, familySuffix, inFamily, ip6Of, SUBNET6, type Family } from './family.js'
import { countNetns, sumObjects, type NetnsObjects } from './kernel-count.js'

/** Defaults of the issue: 100 services, 10 tasks each, 50 containers on the node. */
const DEFAULT_SERVICES = 100
const DEFAULT_TASKS_PER_SERVICE = 10
const DEFAULT_CONTAINERS_PER_NODE = 50
/** Measured rounds (each: remote add, remote remove, local add, local remove, in both modes). */
const DEFAULT_ROUNDS = 20
/** Unrecorded rounds first: the first T+1-slot service creates its `m<T+1>` chain once. */
const WARMUP_ROUNDS = 2
/** Subnet of the benchmark network (addresses exist only inside the run's own namespaces). */
const SUBNET_PREFIX = '10.213'

type Op = 'remote_add' | 'remote_remove' | 'local_add' | 'local_remove'
const OPS: Op[] = ['remote_add', 'remote_remove', 'local_add', 'local_remove']

interface Sample { ms: number, tx: number, nftCalls: number, spawns: number }

interface Mode {
  lbMode: LbMode
  prefix: string
  host: string
  kernel: InstrumentedKernel
  programmer: Programmer
  /** C local task netns + one more for the local add/remove rounds. */
  taskNetns: string[]
  samples: Record<Op, Sample[]>
  loadMs: number
  loadTx: number
  objects: NetnsObjects & { total: number }
  programmerObjects: number
}

function ipOf (idx: number): string {
  return `${SUBNET_PREFIX}.${Math.floor(idx / 256)}.${idx % 256}`
}

/** Parse and check the flags; the returned runner does the work. */
function fromFlags (): { run: (run: string) => Promise<void> } {
  const { values } = parseArgs({
    options: {
      services: { type: 'string' },
      'tasks-per-service': { type: 'string' },
      'containers-per-node': { type: 'string' },
      rounds: { type: 'string' },
      family: { type: 'string' },
      json: { type: 'boolean' }
    }
  })
  const families = familiesFlag(values.family)
  const S = intFlag('services', values.services, DEFAULT_SERVICES, 1, 5000)
  const T = intFlag('tasks-per-service', values['tasks-per-service'], DEFAULT_TASKS_PER_SERVICE, 1, 200)
  const C = intFlag('containers-per-node', values['containers-per-node'], DEFAULT_CONTAINERS_PER_NODE, 1, 500)
  const rounds = intFlag('rounds', values.rounds, DEFAULT_ROUNDS, 1, 1000)
  if (C > S * T) throw new BenchUsageError(`--containers-per-node: the ${C} local containers must be tasks of the ${S * T} (S x T)`)
  if (S * T + S + 4 + rounds + WARMUP_ROUNDS > 65_000) throw new BenchUsageError('--services x --tasks-per-service: more addresses than the /16 benchmark subnet holds')
  if (!isRoot()) throw new BenchUsageError('bench:lb needs root (network namespaces, nftables)')

  return {
    run: async (run: string) => {
      console.log(`bench:lb run ${run}: ${S} services x ${T} tasks, ${C} containers on this node; families ${families.join(', ')}`)
      const results: FamilyResult[] = []
      for (const fam of families) {
        results.push({ fam, modes: await bench(run, fam, S, T, C, rounds) })
        // this family's namespaces (their veths and nft tables go with them) before the next
        await deleteNetnsWithPrefix(run)
      }
      report(results, S, T, C, rounds)
    }
  }
}

/** The two modes measured in one family. */
interface FamilyResult { fam: Family, modes: Mode[] }

async function bench (run: string, fam: Family, S: number, T: number, C: number, rounds: number): Promise<Mode[]> {
  const networkId = randomBytes(16).toString('hex')
  const lbIdx = 2
  const vipIdx = (s: number): number => 3 + s
  const taskIdx = (s: number, t: number): number => 3 + S + s * T + t
  const extraIdx = 3 + S + S * T
  const remoteIdx = (r: number): number => extraIdx + 1 + r
  const base = { networkId, vni: 4242 }
  const subnets = byFamily(fam, `${SUBNET_PREFIX}.0.0/16`, SUBNET6)
  // the task / LB address of index `idx` on an interface: [address, address6 (dual-stack)]
  const ifAddrs = (idx: number): string[] => byFamily(fam, `${ipOf(idx)}/16`, `${ip6Of(idx)}/64`)
  const ft = fam === 'dual' ? 'd' : fam
  console.log(`${familyLabel(fam)}: network ${networkId.slice(0, 12)}, subnets ${subnets.join(' ')}`)

  const modes: Mode[] = []
  for (const [lbMode, tag] of [['per-network', 'n'], ['per-container', 'c']] as const) {
    const host = `${run}-${ft}h${tag}`
    await sh('ip', ['netns', 'add', host])
    await sh('ip', ['-n', host, 'link', 'set', 'lo', 'up'])
    const kernel = instrumentKernel(createKernel({ baseNetns: `/run/netns/${host}` }))
    const prefix = `${run}${ft}${tag}-`
    const taskNetns: string[] = []
    for (let i = 0; i <= C; i++) {
      const ns = `${run}-${ft}${tag}t${i}`
      await sh('ip', ['netns', 'add', ns])
      taskNetns.push(ns)
    }
    modes.push({
      lbMode, prefix, host, kernel, taskNetns,
      programmer: createProgrammer('nft', { netnsPrefix: prefix, lbMode, kernel }),
      samples: { remote_add: [], remote_remove: [], local_add: [], local_remove: [] },
      loadMs: 0, loadTx: 0, objects: { rules: 0, elements: 0, addresses: 0, total: 0 }, programmerObjects: 0
    })
  }

  // one extra backend (address index `idx`) on one service (undefined = none); `local` = it runs in this node's extra task netns
  let extra: { svc: number, idx: number, local: boolean } | undefined
  const desired = (m: Mode): NetworkDesired => {
    const services = []
    for (let s = 0; s < S; s++) {
      const backends = []
      const idx: number[] = []
      for (let t = 0; t < T; t++) idx.push(taskIdx(s, t))
      if (extra?.svc === s) idx.push(extra.idx)
      for (const i of idx) backends.push({ ip: ipOf(i), weight: 1, draining: false })
      services.push(inFamily({ id: `svc${String(s).padStart(5, '0')}`, vip: ipOf(vipIdx(s)), ports: [{ proto: 'tcp' as const, port: 80, targetPort: 8080 }], backends }, fam, vipIdx(s), idx))
    }
    const local = m.taskNetns.slice(0, extra?.local === true ? C + 1 : C).map((n) => `/run/netns/${n}`)
    return {
      sandbox: { networkId, lbAddresses: byFamily(fam, `${ipOf(lbIdx)}/16`, `${ip6Of(lbIdx)}/64`), lbMac: '02:42:0a:d5:00:02', services },
      overlay: { ...base, subnets, localUnderlay: '', remotes: [] },
      localTaskNetns: local
    }
  }
  const apply = async (m: Mode): Promise<Sample> => {
    const d = desired(m)
    const nft0 = m.kernel.nftCalls()
    const t0 = performance.now()
    const r = await m.programmer.apply(d)
    const ms = performance.now() - t0
    return { ms, tx: r.transactions, nftCalls: m.kernel.nftCalls() - nft0, spawns: r.spawns }
  }

  // initial load: overlay (bridge), sandbox / per-container tables; then plug the local containers into the bridge
  for (const m of modes) {
    const s = await apply(m)
    m.loadMs = s.ms
    m.loadTx = s.tx
    for (const [i, ns] of m.taskNetns.entries()) {
      const idx = i < C ? taskIdx(Math.floor(i / T), i % T) : extraIdx
      const [address, address6] = ifAddrs(idx) as [string, string | undefined]
      await attachTaskNetns({ netnsPrefix: m.prefix, networkId, netnsPath: `/run/netns/${ns}`, address, ...(address6 === undefined ? {} : { address6 }), mac: `02:42:0a:d5:${(idx >> 8).toString(16).padStart(2, '0')}:${(idx & 255).toString(16).padStart(2, '0')}`, kernel: m.kernel })
    }
    console.log(`${familyLabel(fam)} ${m.lbMode}: loaded in ${round(s.ms, 1)} ms (${s.tx} transactions, ${s.spawns} processes); ${C + 1} task netns attached`)
  }

  // steady state, read back from the kernel
  for (const m of modes) {
    const nss: NetnsObjects[] = []
    if (m.lbMode === 'per-network') nss.push(await countNetns(`${m.prefix}lb-${networkId.slice(0, 12)}`, 'lb0'))
    for (const ns of m.taskNetns.slice(0, C)) nss.push(await countNetns(ns))
    m.objects = sumObjects(nss)
    m.programmerObjects = m.programmer.kernelObjects()
  }

  // interleaved rounds: every op on both modes, the mode that goes first alternates
  for (let r = -WARMUP_ROUNDS; r < rounds; r++) {
    const svc = ((r % S) + S) % S
    const order = r % 2 === 0 ? modes : [...modes].reverse()
    for (const op of OPS) {
      if (op === 'remote_add') extra = { svc, idx: remoteIdx(r + WARMUP_ROUNDS), local: false }
      else if (op === 'local_add') extra = { svc, idx: extraIdx, local: true }
      else extra = undefined
      for (const m of order) {
        const s = await apply(m)
        if (r >= 0) m.samples[op].push(s)
      }
    }
    if (r >= 0 && (r + 1) % 5 === 0) console.log(`${familyLabel(fam)} round ${r + 1}/${rounds}`)
  }
  return modes
}

function opFigures (xs: Sample[]): { transactions: number, nft_calls: number, spawns: number, apply_ms_p50: number, apply_ms_p99: number } {
  return {
    transactions: round(mean(xs.map((x) => x.tx))),
    nft_calls: round(mean(xs.map((x) => x.nftCalls))),
    spawns: round(mean(xs.map((x) => x.spawns))),
    apply_ms_p50: round(percentile(xs.map((x) => x.ms), 50)),
    apply_ms_p99: round(percentile(xs.map((x) => x.ms), 99))
  }
}

/** b / a per key (NaN where a is 0). */
function ratios (a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const k of Object.keys(a)) out[k] = (a[k] as number) === 0 ? Number.NaN : round((b[k] as number) / (a[k] as number))
  return out
}

function report (results: readonly FamilyResult[], S: number, T: number, C: number, rounds: number): void {
  const figs = (m: Mode): Record<string, number> => {
    const out: Record<string, number> = {
      kernel_objects: m.objects.total,
      nft_rules: m.objects.rules,
      map_elements: m.objects.elements,
      addresses: m.objects.addresses,
      programmer_kernel_objects: m.programmerObjects,
      load_ms: round(m.loadMs),
      load_transactions: m.loadTx
    }
    for (const op of OPS) {
      for (const [k, v] of Object.entries(opFigures(m.samples[op]))) out[`${op === 'remote_add' ? 'task_add' : op === 'remote_remove' ? 'task_remove' : op}_${k}`] = v
    }
    return out
  }
  const per = results.map(({ fam, modes }) => {
    const [pn, pc] = modes as [Mode, Mode]
    const a = figs(pn)
    const b = figs(pc)
    return { fam, a, b, ratio: ratios(a, b) }
  })
  // per-network IPv6 and dual-stack against IPv4 (the goal: IPv6 within 10% of IPv4), when IPv4 was measured
  const v4 = per.find((p) => p.fam === '4')
  const toV4 = v4 === undefined ? [] : per.filter((p) => p.fam !== '4').map((p) => ({ fam: p.fam, ratio: ratios(v4.a, p.a) }))
  const label: Record<string, string> = {
    kernel_objects: 'kernel objects (rules+elements+addresses)',
    nft_rules: '  nft rules',
    map_elements: '  map/set elements',
    addresses: '  LB addresses',
    programmer_kernel_objects: "programmer's own count (incl. bridge)",
    load_ms: 'initial load ms',
    load_transactions: 'initial load transactions'
  }
  const cell = (x: number): number | string => Number.isNaN(x) ? '-' : x
  const keys = Object.keys((per[0] as { a: Record<string, number> }).a)
  console.log('')
  console.log(`S=${S} services, T=${T} tasks/service, C=${C} containers on this node, ${rounds} rounds; task add/remove = a task on another node; local = a container starting/stopping here; pn = per-network, pc = per-container`)
  printTable([
    ['figure', ...per.flatMap(({ fam }) => [`pn ${familyLabel(fam)}`, `pc ${familyLabel(fam)}`, `pc/pn ${familyLabel(fam)}`]), ...toV4.map(({ fam }) => `pn ${familyLabel(fam)}/IPv4`)],
    ...keys.map((k) => [
      label[k] ?? k.replace(/_/g, ' '),
      ...per.flatMap((p) => [p.a[k] as number, p.b[k] as number, cell(p.ratio[k] as number)]),
      ...toV4.map((p) => cell(p.ratio[k] as number))
    ])
  ])
  // JSON: every family's keys in one object per design, suffixed as bench:scale does (IPv4 none, `_v6`, `_dual`)
  const json = (pick: (p: typeof per[number]) => Record<string, number>, from: ReadonlyArray<typeof per[number]>): Record<string, number | null> =>
    Object.fromEntries(from.flatMap((p) => Object.entries(pick(p)).map(([k, v]) => [`${k}${familySuffix(p.fam)}`, Number.isNaN(v) ? null : v])))
  printJsonLine('lb', { services: S, tasks_per_service: T, containers_per_node: C, rounds, warmup_rounds: WARMUP_ROUNDS, families: per.map((p) => p.fam) }, {
    per_network: json((p) => p.a, per),
    per_container: json((p) => p.b, per),
    ratio_per_container_to_per_network: json((p) => p.ratio, per),
    ...(toV4.length === 0 ? {} : { ratio_per_network_to_v4: json((p) => toV4.find((q) => q.fam === p.fam)?.ratio ?? {}, per.filter((p) => p.fam !== '4')) })
  })
}

runBench('bench:lb', 'bl', async (run) => { await fromFlags().run(run) })
