/**
 * bench:datapath — HTTP through a VIP against HTTP straight to the task, on
 * a lab of 2 real agents (netns hosts, VXLAN overlay, nft LB sandboxes):
 *
 * - `direct`: the client task on h1 to the nginx task on h2 by its task IP;
 * - `vip-remote`: the same nginx through the VIP of a service whose only
 *   backend it is (h1's LB sandbox, then the overlay to h2);
 * - `direct-local`: the client to an nginx task on h1 itself by its task IP
 *   (the bridge only);
 * - `vip-local`: that nginx through the VIP of a service whose only backend
 *   it is (h1's LB sandbox and the bridge);
 * - with `--dsr`, `vip-remote-dsr` and `vip-local-dsr`: the same two nginx
 *   tasks through their services' VIPs on a second network created with
 *   `--opt dsr=true` (every task here is on both networks), where the agent
 *   programs direct server return (requests leave h1's sandbox at `lb0`'s
 *   ingress hook, replies skip it: dataplane/lb/dsr.ts, plumber/dsr.ts).
 *
 * wrk (keep-alive) runs the paths in turn, --rounds times, in one run;
 * reported per path: requests/s (median over the rounds), latency p50/p99
 * (median over the rounds), CPU per request (all cores, from /proc/stat,
 * µs), and each VIP path's ratio to its direct path (`vip-remote` to
 * `direct`, `vip-local` to `direct-local`), per round, then the median.
 *
 * `--perf`: after the rounds, one more run per path under `perf record -a`
 * (Debian linux-perf), and the top kernel and user symbols of each, to see
 * where the VIP path spends what the direct path does not. Call graphs are
 * recorded (`-g`); `--perf-dir DIR` keeps each path's `perf-<path>.data`
 * there for `perf report -i ... --children` (implies `--perf`).
 *
 * Run (root; Debian packages wrk and nginx-light):
 *   npm run bench:datapath -- [--rounds 5] [--seconds 5] [--connections 16] [--perf] [--perf-dir DIR] [--dsr] [--overlay-netns | --no-overlay-netns | --compare-overlay-netns] [--prefix HEAD]
 *
 * `--overlay-netns` / `--no-overlay-netns`: the agents run with that flag
 * (the agent's default is on: each network's bridge and VXLAN device in a
 * netns of their own that is also the LB sandbox, bridge netfilter off
 * there). `--compare-overlay-netns`: two labs, one without and one with it,
 * every path of both measured in each round, the same path on the two
 * back to back (paths of the second suffixed `@ovns`, with their ratio to the
 * same path on the first, per round).
 *
 * `--prefix`: the first 2-3 letters of the lab's namespaces and links (default `sl`).
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  createPlainNetns, labApi, labUp, taskNetnsName, waitFor, type LabHost
} from '@scalelb/lab'
import { benchLab } from './bench-lab.js'
import { BODY_BYTES, TARGET_PORT, median, pathFigures, runRounds, startNginx, wrk, wrkFlags, type PathHooks } from './http-load.js'
import {
  BenchUsageError, isRoot, printJsonLine, printTable, round, runBench, sh, type Cleanup
} from './common.js'

/** Paths measured, in the order each round runs them. */
const ALL_PATHS = ['direct', 'vip-remote', 'vip-remote-dsr', 'direct-local', 'vip-local', 'vip-local-dsr'] as const
type PathName = typeof ALL_PATHS[number]
const isDsr = (p: PathName): boolean => p.endsWith('-dsr')
const DEFAULT_ROUNDS = 5
/** Subnet of the benchmark network (exists only inside the lab's namespaces). */
const SUBNET = '10.217.0.0/16'
/** Subnet of the `--dsr` network (direct server return). */
const SUBNET_DSR = '10.218.0.0/16'
const SETUP_TIMEOUT_MS = 60_000
/** The services' port on their VIP (the tasks listen on TARGET_PORT). */
const VIP_PORT = 80

interface Flags { rounds: number, seconds: number, connections: number, perf: boolean, perfDir: string | undefined, dsr: boolean, overlayNetns: boolean, noOverlayNetns: boolean, compareOverlayNetns: boolean, prefix: string | undefined }

function fromFlags (): Flags {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      connections: { type: 'string' },
      perf: { type: 'boolean' },
      'perf-dir': { type: 'string' },
      dsr: { type: 'boolean' },
      'overlay-netns': { type: 'boolean' },
      'no-overlay-netns': { type: 'boolean' },
      'compare-overlay-netns': { type: 'boolean' },
      prefix: { type: 'string' },
      json: { type: 'boolean' }
    }
  })
  const f: Flags = { ...wrkFlags(values, DEFAULT_ROUNDS), perf: values.perf === true || values['perf-dir'] !== undefined, perfDir: values['perf-dir'], dsr: values.dsr === true, overlayNetns: values['overlay-netns'] === true, noOverlayNetns: values['no-overlay-netns'] === true, compareOverlayNetns: values['compare-overlay-netns'] === true, prefix: values.prefix }
  if (f.prefix !== undefined && !/^[a-z][a-z0-9]{1,2}$/.test(f.prefix)) throw new BenchUsageError(`--prefix: expected 2-3 of [a-z0-9] starting with a letter, got ${JSON.stringify(f.prefix)}`)
  if (!isRoot()) throw new BenchUsageError('bench:datapath needs root (network namespaces, nftables)')
  return f
}

/** Symbols above this share of samples are listed per path. */
const PERF_PERCENT_LIMIT = 0.8
/** Symbols listed per path. */
const PERF_TOP = 20

/** One wrk run per path under `perf record -a`; prints each path's top symbols (self time, all CPUs). */
async function profile (dir: string, clientNs: string, urls: Record<PathName, string>, paths: readonly PathName[], hooks: PathHooks<PathName>, f: Flags, suffix = ''): Promise<void> {
  await sh('sh', ['-c', 'command -v perf']).catch(() => { throw new BenchUsageError('--perf needs perf (Debian: apt-get install linux-perf)') })
  for (const p of paths) {
    const data = join(dir, `perf-${p}${suffix}.data`)
    await hooks.before?.(p)
    const rec = sh('perf', ['record', '-a', '-g', '-F', '999', '-o', data, '--', 'sleep', String(f.seconds)])
    const w = await wrk(clientNs, urls[p], f)
    await rec
    await hooks.after?.(p)
    const rep = await sh('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', '--comms', 'wrk,nginx', '--percentage', 'relative', '--sort', 'sym', '--percent-limit', String(PERF_PERCENT_LIMIT)])
    const top = rep.split('\n').filter((l) => /^\s+[0-9.]+%/.test(l)).slice(0, PERF_TOP)
    console.log(`\nperf, ${p}${suffix} (${round(w.rps, 0)} req/s during the recording): top symbols, % of all samples`)
    for (const l of top) console.log(l.replace(/\s+/g, ' ').trim())
  }
}

/** One lab's paths, ready to measure. */
interface LabPaths { clientNs: string, urls: Record<PathName, string>, tracked: (net: 'dp' | 'dpd') => Promise<number | undefined> }

/** Bring up a lab of 2 agents (extra agent flags `agentArgs`), its networks, services, tasks and nginx; wait until every path answers. */
async function setupLab (run: string, cleanup: Cleanup, f: Flags, agentArgs: readonly string[], paths: readonly PathName[]): Promise<LabPaths> {
  const { stateDir, lab } = benchLab(run, cleanup)
  console.log(`bench:datapath run ${run}: lab of 2 agents${agentArgs.length > 0 ? ` with ${agentArgs.join(' ')}` : ''} (state in ${stateDir})`)
  const state = lab.state = await labUp({ nodes: 2, stateDir, mode: 'netns', agentArgs, ...(f.prefix === undefined ? {} : { prefixHead: f.prefix }) })
  const [h1, h2] = state.hosts as [LabHost, LabHost]
  const dpId = (await labApi.createNetwork(h1, 'dp', [SUBNET])).id
  // with --dsr every task is on a second network too, where the agent serves the VIPs by direct server return
  const nets = f.dsr ? ['dp', 'dpd'] : ['dp']
  const dpdId = f.dsr ? (await labApi.createNetwork(h1, 'dpd', [SUBNET_DSR], { dsr: 'true' })).id : undefined
  for (const s of ['remote', 'local', 'client']) await labApi.createService(h1, s, nets, [`${VIP_PORT}:${TARGET_PORT}/tcp`])
  await waitFor('h2 knows the services', async () => await labApi.inspectService(h2, 'client').then(() => true, () => false), { timeoutMs: SETUP_TIMEOUT_MS })
  const task = async (h: LabHost, service: string, id: string): Promise<{ ns: string, ip: string }> => {
    const ns = taskNetnsName(state, h, id)
    await createPlainNetns(state, ns)
    const info = await labApi.addTaskNetns(h, { service, id, netnsPath: `/run/netns/${ns}`, networks: nets })
    const ip = info.endpoints[0]?.ip
    if (ip === undefined) throw new Error(`task ${id}: no endpoint`)
    return { ns, ip }
  }
  const far = await task(h2, 'remote', 'srv-far')
  const near = await task(h1, 'local', 'srv-near')
  const client = await task(h1, 'client', 'cli')
  await startNginx(join(stateDir, 'nginx-far'), far.ns, cleanup)
  await startNginx(join(stateDir, 'nginx-near'), near.ns, cleanup)
  const vip = async (name: string, net = 'dp'): Promise<string> => {
    const v = labApi.vipOn(await labApi.inspectService(h1, name), net)
    if (v === undefined) throw new Error(`service ${name} has no VIP on ${net}`)
    return v
  }
  const vips = { remote: await vip('remote'), local: await vip('local') }
  const dsrVips = f.dsr ? { remote: await vip('remote', 'dpd'), local: await vip('local', 'dpd') } : vips
  const urls: Record<PathName, string> = {
    direct: `http://${far.ip}:${TARGET_PORT}/`,
    'vip-remote': `http://${vips.remote}/`,
    'vip-remote-dsr': `http://${dsrVips.remote}/`,
    'direct-local': `http://${near.ip}:${TARGET_PORT}/`,
    'vip-local': `http://${vips.local}/`,
    'vip-local-dsr': `http://${dsrVips.local}/`
  }
  for (const p of paths) {
    await waitFor(`${p} answers`, async () => await sh('ip', ['netns', 'exec', client.ns, 'curl', '-sf', '-m', '2', '-o', '/dev/null', urls[p]]).then(() => true, () => false), { timeoutMs: SETUP_TIMEOUT_MS })
  }
  // connections h1's sandboxes track: the NAT network's hold the VIP paths' connections, the DSR network's none
  const tracked = async (net: 'dp' | 'dpd'): Promise<number | undefined> => {
    const id = net === 'dp' ? dpId : dpdId
    if (id === undefined) return undefined
    return Number((await sh('ip', ['netns', 'exec', `${h1.netnsPrefix}lb-${id.slice(0, 12)}`, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).trim())
  }
  return { clientNs: client.ns, urls, tracked }
}

/** Suffix of the paths of the lab whose agents run with --overlay-netns, beside one without (`--compare-overlay-netns`). */
const OVNS = '@ovns'

async function bench (run: string, cleanup: Cleanup, f: Flags): Promise<void> {
  for (const tool of ['wrk', 'nginx']) await sh('sh', ['-c', `command -v ${tool}`]).catch(() => { throw new BenchUsageError(`bench:datapath needs ${tool} (Debian: apt-get install wrk nginx-light)`) })
  const base = ALL_PATHS.filter((p) => f.dsr || !isDsr(p))
  // one lab per layout; with --compare-overlay-netns both, measured in turn within each round
  const layouts: Array<{ suffix: string, args: string[] }> = f.compareOverlayNetns
    ? [{ suffix: '', args: ['--no-overlay-netns'] }, { suffix: OVNS, args: ['--overlay-netns'] }]
    : [{ suffix: '', args: f.overlayNetns ? ['--overlay-netns'] : f.noOverlayNetns ? ['--no-overlay-netns'] : [] }]
  const labs = new Map<string, LabPaths>()
  for (const [i, l] of layouts.entries()) labs.set(l.suffix, await setupLab(i === 0 ? run : `${run}o`, cleanup, f, l.args, base))
  // each path on one layout right after the same path on the other: the layout ratio compares runs seconds apart
  const paths = base.flatMap((p) => layouts.map((l) => `${p}${l.suffix}`))
  const split = (key: string): { p: PathName, lab: LabPaths, suffix: string } => {
    const suffix = key.endsWith(OVNS) ? OVNS : ''
    const lab = labs.get(suffix)
    if (lab === undefined) throw new Error(`no lab for ${key}`)
    return { p: key.slice(0, key.length - suffix.length) as PathName, lab, suffix }
  }
  console.log(`setup done; ${f.rounds} rounds of ${paths.join(', ')}, ${f.seconds} s each, ${f.connections} connections, 1 wrk thread`)

  const hooks: PathHooks<string> = {}
  const samples = await runRounds(paths, f.rounds, async (key) => { const { p, lab } = split(key); return await wrk(lab.clientNs, lab.urls[p], f) }, hooks)
  const fig = (key: string): ReturnType<typeof pathFigures> => pathFigures(samples[key] ?? [])
  // ratio per round (paths of one round ran back to back), then the median
  const directOf = (key: string): string => { const { p, suffix } = split(key); return `${p.startsWith('vip-local') ? 'direct-local' : 'direct'}${suffix}` }
  const isVip = (key: string): boolean => key.startsWith('vip-')
  const ratio = (key: string): number => median((samples[key] ?? []).map((s, i) => s.rps / (samples[directOf(key)]?.[i]?.rps ?? NaN)))
  // with both layouts: each --overlay-netns path against the same path without it, per round
  const layoutRatio = (key: string): number => median((samples[key] ?? []).map((s, i) => s.rps / (samples[split(key).p]?.[i]?.rps ?? NaN)))
  console.log('')
  printTable([
    ['path', 'req/s (median)', 'ratio to its direct path', ...(f.compareOverlayNetns ? ['ratio to the host layout'] : []), 'latency p50 ms', 'latency p99 ms', 'CPU µs/request', 'errors'],
    ...paths.map((p) => {
      const x = fig(p)
      const lr = f.compareOverlayNetns ? [p.endsWith(OVNS) ? round(layoutRatio(p), 3) : '1'] : []
      return [p, round(x.rps, 0), isVip(p) ? round(ratio(p), 3) : '1', ...lr, round(x.p50, 3), round(x.p99, 3), round(x.cpu, 1), String(x.errors)]
    })
  ])
  if (f.perf) {
    for (const l of layouts) {
      const lab = labs.get(l.suffix) as LabPaths
      await profile(f.perfDir ?? join('/run', `scalelb-bench-${run}`), lab.clientNs, lab.urls, base, {}, f, l.suffix)
    }
  }
  const res: Record<string, number> = {}
  for (const l of layouts) {
    const lab = labs.get(l.suffix) as LabPaths
    const k = l.suffix === '' ? '' : `_${l.suffix.slice(1)}`
    const nat = await lab.tracked('dp')
    const dsr = await lab.tracked('dpd')
    if (nat !== undefined) res[`nat_sandbox_conntrack${k}`] = nat
    if (dsr !== undefined) res[`dsr_sandbox_conntrack${k}`] = dsr
    console.log(`connections tracked in h1's sandbox after the rounds${l.suffix}: NAT network ${String(nat)}${dsr === undefined ? '' : `, DSR network ${dsr}`}`)
  }
  for (const p of paths) {
    const x = fig(p)
    const k = p.replace(OVNS, '_ovns').replaceAll('-', '_')
    res[`${k}_rps`] = round(x.rps, 0)
    res[`${k}_latency_ms_p50`] = round(x.p50, 3)
    res[`${k}_latency_ms_p99`] = round(x.p99, 3)
    res[`${k}_cpu_us_per_request`] = round(x.cpu, 1)
    res[`${k}_errors`] = x.errors
    if (isVip(p)) res[`${k}_ratio_to_direct`] = round(ratio(p), 3)
    if (p.endsWith(OVNS)) res[`${k}_ratio_to_host_layout`] = round(layoutRatio(p), 3)
  }
  printJsonLine('datapath', { rounds: f.rounds, seconds: f.seconds, connections: f.connections, body_bytes: BODY_BYTES, dsr: f.dsr, overlay_netns: f.compareOverlayNetns ? 'both' : !f.noOverlayNetns }, res)
}

runBench('bench:datapath', 'bd', async (run, cleanup) => { await bench(run, cleanup, fromFlags()) })
