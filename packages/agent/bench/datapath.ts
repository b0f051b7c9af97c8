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
 * where the VIP path spends what the direct path does not.
 *
 * Run (root; Debian packages wrk and nginx-light):
 *   npm run bench:datapath -- [--rounds 5] [--seconds 5] [--connections 16] [--perf] [--dsr] [--prefix HEAD]
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

interface Flags { rounds: number, seconds: number, connections: number, perf: boolean, dsr: boolean, prefix: string | undefined }

function fromFlags (): Flags {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      connections: { type: 'string' },
      perf: { type: 'boolean' },
      dsr: { type: 'boolean' },
      prefix: { type: 'string' },
      json: { type: 'boolean' }
    }
  })
  const f: Flags = { ...wrkFlags(values, DEFAULT_ROUNDS), perf: values.perf === true, dsr: values.dsr === true, prefix: values.prefix }
  if (f.prefix !== undefined && !/^[a-z][a-z0-9]{1,2}$/.test(f.prefix)) throw new BenchUsageError(`--prefix: expected 2-3 of [a-z0-9] starting with a letter, got ${JSON.stringify(f.prefix)}`)
  if (!isRoot()) throw new BenchUsageError('bench:datapath needs root (network namespaces, nftables)')
  return f
}

/** Symbols above this share of samples are listed per path. */
const PERF_PERCENT_LIMIT = 0.8
/** Symbols listed per path. */
const PERF_TOP = 20

/** One wrk run per path under `perf record -a`; prints each path's top symbols (self time, all CPUs). */
async function profile (dir: string, clientNs: string, urls: Record<PathName, string>, paths: readonly PathName[], hooks: PathHooks<PathName>, f: Flags): Promise<void> {
  await sh('sh', ['-c', 'command -v perf']).catch(() => { throw new BenchUsageError('--perf needs perf (Debian: apt-get install linux-perf)') })
  for (const p of paths) {
    const data = join(dir, `perf-${p}.data`)
    await hooks.before?.(p)
    const rec = sh('perf', ['record', '-a', '-F', '999', '-o', data, '--', 'sleep', String(f.seconds)])
    const w = await wrk(clientNs, urls[p], f)
    await rec
    await hooks.after?.(p)
    const rep = await sh('perf', ['report', '-i', data, '--stdio', '--no-children', '--comms', 'wrk,nginx', '--percentage', 'relative', '--sort', 'sym', '--percent-limit', String(PERF_PERCENT_LIMIT)])
    const top = rep.split('\n').filter((l) => /^\s+[0-9.]+%/.test(l)).slice(0, PERF_TOP)
    console.log(`\nperf, ${p} (${round(w.rps, 0)} req/s during the recording): top symbols, % of all samples`)
    for (const l of top) console.log(l.replace(/\s+/g, ' ').trim())
  }
}

async function bench (run: string, cleanup: Cleanup, f: Flags): Promise<void> {
  for (const tool of ['wrk', 'nginx']) await sh('sh', ['-c', `command -v ${tool}`]).catch(() => { throw new BenchUsageError(`bench:datapath needs ${tool} (Debian: apt-get install wrk nginx-light)`) })
  const { stateDir, lab } = benchLab(run, cleanup)
  console.log(`bench:datapath run ${run}: lab of 2 agents (state in ${stateDir})`)
  const state = lab.state = await labUp({ nodes: 2, stateDir, mode: 'netns', ...(f.prefix === undefined ? {} : { prefixHead: f.prefix }) })
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
  const paths = ALL_PATHS.filter((p) => f.dsr || !isDsr(p))
  const hooks: PathHooks<PathName> = {}
  for (const p of paths) {
    await hooks.before?.(p)
    await waitFor(`${p} answers`, async () => await sh('ip', ['netns', 'exec', client.ns, 'curl', '-sf', '-m', '2', '-o', '/dev/null', urls[p]]).then(() => true, () => false), { timeoutMs: SETUP_TIMEOUT_MS })
    await hooks.after?.(p)
  }
  console.log(`setup done; ${f.rounds} rounds of ${paths.join(', ')}, ${f.seconds} s each, ${f.connections} connections, 1 wrk thread`)

  const samples = await runRounds(paths, f.rounds, async (p) => await wrk(client.ns, urls[p], f), hooks)
  const fig = (p: PathName): ReturnType<typeof pathFigures> => pathFigures(samples[p])
  // ratio per round (paths of one round ran back to back), then the median
  const directOf = (p: PathName): PathName => p.startsWith('vip-local') ? 'direct-local' : 'direct'
  const isVip = (p: PathName): boolean => p.startsWith('vip-')
  const ratio = (p: PathName): number => median(samples[p].map((s, i) => s.rps / (samples[directOf(p)][i]?.rps ?? NaN)))
  console.log('')
  printTable([
    ['path', 'req/s (median)', 'ratio to its direct path', 'latency p50 ms', 'latency p99 ms', 'CPU µs/request', 'errors'],
    ...paths.map((p) => {
      const x = fig(p)
      return [p, round(x.rps, 0), isVip(p) ? round(ratio(p), 3) : '1', round(x.p50, 3), round(x.p99, 3), round(x.cpu, 1), String(x.errors)]
    })
  ])
  if (f.perf) await profile(stateDir, client.ns, urls, paths, hooks, f)
  const res: Record<string, number> = {}
  // connections h1's sandboxes track after the rounds: the NAT network's hold the VIP paths' connections, the DSR network's none
  const tracked = async (networkId: string): Promise<number> => Number((await sh('ip', ['netns', 'exec', `${h1.netnsPrefix}lb-${networkId.slice(0, 12)}`, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).trim())
  res.nat_sandbox_conntrack = await tracked(dpId)
  if (dpdId !== undefined) res.dsr_sandbox_conntrack = await tracked(dpdId)
  console.log(`connections tracked in h1's sandbox after the rounds: NAT network ${res.nat_sandbox_conntrack}${dpdId === undefined ? '' : `, DSR network ${res.dsr_sandbox_conntrack}`}`)
  for (const p of paths) {
    const x = fig(p)
    const k = p.replaceAll('-', '_')
    res[`${k}_rps`] = round(x.rps, 0)
    res[`${k}_latency_ms_p50`] = round(x.p50, 3)
    res[`${k}_latency_ms_p99`] = round(x.p99, 3)
    res[`${k}_cpu_us_per_request`] = round(x.cpu, 1)
    res[`${k}_errors`] = x.errors
    if (isVip(p)) res[`${k}_ratio_to_direct`] = round(ratio(p), 3)
  }
  printJsonLine('datapath', { rounds: f.rounds, seconds: f.seconds, connections: f.connections, body_bytes: BODY_BYTES, dsr: f.dsr }, res)
}

runBench('bench:datapath', 'bd', async (run, cleanup) => { await bench(run, cleanup, fromFlags()) })
