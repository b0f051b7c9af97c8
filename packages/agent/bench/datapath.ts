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
 *   it is (h1's LB sandbox and the bridge).
 *
 * wrk (keep-alive) runs the three paths in turn, --rounds times, in one run;
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
 *   npm run bench:datapath -- [--rounds 5] [--seconds 5] [--connections 16] [--perf]
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  createPlainNetns, labApi, labDown, labUp, loadLabState, spawnDetached, stopProcess, taskNetnsName, waitFor, type LabHost, type LabState, type ProcRef
} from '@scalelb/lab'
import {
  BenchUsageError, intFlag, isRoot, percentile, printJsonLine, printTable, round, runBench, sh, type Cleanup
} from './common.js'

/** Median of `xs` (NaN when empty). */
const median = (xs: readonly number[]): number => percentile(xs, 50)

/** Paths measured, in the order each round runs them. */
const PATHS = ['direct', 'vip-remote', 'direct-local', 'vip-local'] as const
type PathName = typeof PATHS[number]
const DEFAULT_ROUNDS = 5
const DEFAULT_SECONDS = 5
const DEFAULT_CONNECTIONS = 16
/** Subnet of the benchmark network (exists only inside the lab's namespaces). */
const SUBNET = '10.217.0.0/16'
const TARGET_PORT = 8080
const SETUP_TIMEOUT_MS = 60_000
/** Bytes of the response body nginx returns. */
const BODY_BYTES = 100

interface Flags { rounds: number, seconds: number, connections: number, perf: boolean }

function fromFlags (): Flags {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      connections: { type: 'string' },
      perf: { type: 'boolean' },
      json: { type: 'boolean' }
    }
  })
  const f: Flags = {
    rounds: intFlag('rounds', values.rounds, DEFAULT_ROUNDS, 1, 50),
    seconds: intFlag('seconds', values.seconds, DEFAULT_SECONDS, 1, 120),
    connections: intFlag('connections', values.connections, DEFAULT_CONNECTIONS, 1, 1000),
    perf: values.perf === true
  }
  if (!isRoot()) throw new BenchUsageError('bench:datapath needs root (network namespaces, nftables)')
  return f
}

/** One wrk run: what it printed, read into numbers. */
interface WrkResult { requests: number, rps: number, p50Ms: number, p99Ms: number, errors: number }

/** wrk's `--latency` figures (`50%    1.23ms`, units us/ms/s) and totals. */
export function parseWrk (out: string): WrkResult {
  const dur = (v: string, unit: string): number => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([0-9.]+)(us|ms|s|m)\\s*$`, 'm').exec(out)
    if (m === null) throw new Error(`wrk output has no ${p}% latency line:\n${out}`)
    return dur(m[1] as string, m[2] as string)
  }
  const req = /^\s*(\d+) requests in /m.exec(out)
  const rps = /^Requests\/sec:\s+([0-9.]+)/m.exec(out)
  if (req === null || rps === null) throw new Error(`wrk output without totals:\n${out}`)
  const err = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const errors = (err === null ? 0 : [1, 2, 3, 4].reduce((s, i) => s + Number(err[i]), 0)) + (non2xx === null ? 0 : Number(non2xx[1]))
  return { requests: Number(req[1]), rps: Number(rps[1]), p50Ms: pct('50'), p99Ms: pct('99'), errors }
}

/** Busy and total jiffies of all CPUs (/proc/stat). */
async function cpuJiffies (): Promise<{ busy: number, total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] as string
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0)
  return { busy: total - idle, total }
}

/** nginx answering every request with BODY_BYTES from memory, in `netns`; its files under `dir`. */
async function startNginx (dir: string, netns: string, cleanup: Cleanup): Promise<ProcRef> {
  await mkdir(join(dir, 'tmp'), { recursive: true })
  const conf = join(dir, 'nginx.conf')
  await writeFile(conf, [
    'worker_processes 1;',
    'daemon off;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(dir, 'tmp')}; proxy_temp_path ${join(dir, 'tmp')}; fastcgi_temp_path ${join(dir, 'tmp')}; uwsgi_temp_path ${join(dir, 'tmp')}; scgi_temp_path ${join(dir, 'tmp')};`,
    '  keepalive_requests 1000000;',
    `  server { listen ${TARGET_PORT}; location / { return 200 "${'x'.repeat(BODY_BYTES - 1)}\\n"; } }`,
    '}',
    ''
  ].join('\n'))
  const ref = spawnDetached({ argv: ['nginx', '-c', conf], netns, logFile: join(dir, 'nginx.log') })
  cleanup.add(`nginx ${netns}`, async () => { await stopProcess(ref) })
  return ref
}

async function wrk (clientNs: string, url: string, f: Flags): Promise<WrkResult> {
  const out = await sh('ip', ['netns', 'exec', clientNs, 'wrk', '-t1', `-c${f.connections}`, `-d${f.seconds}s`, '--latency', url])
  return parseWrk(out)
}

/** Symbols above this share of samples are listed per path. */
const PERF_PERCENT_LIMIT = 0.8
/** Symbols listed per path. */
const PERF_TOP = 20

/** One wrk run per path under `perf record -a`; prints each path's top symbols (self time, all CPUs). */
async function profile (dir: string, clientNs: string, urls: Record<PathName, string>, f: Flags): Promise<void> {
  await sh('sh', ['-c', 'command -v perf']).catch(() => { throw new BenchUsageError('--perf needs perf (Debian: apt-get install linux-perf)') })
  for (const p of PATHS) {
    const data = join(dir, `perf-${p}.data`)
    const rec = sh('perf', ['record', '-a', '-F', '999', '-o', data, '--', 'sleep', String(f.seconds)])
    const w = await wrk(clientNs, urls[p], f)
    await rec
    const rep = await sh('perf', ['report', '-i', data, '--stdio', '--no-children', '--comms', 'wrk,nginx', '--percentage', 'relative', '--sort', 'sym', '--percent-limit', String(PERF_PERCENT_LIMIT)])
    const top = rep.split('\n').filter((l) => /^\s+[0-9.]+%/.test(l)).slice(0, PERF_TOP)
    console.log(`\nperf, ${p} (${round(w.rps, 0)} req/s during the recording): top symbols, % of all samples`)
    for (const l of top) console.log(l.replace(/\s+/g, ' ').trim())
  }
}

async function bench (run: string, cleanup: Cleanup, f: Flags): Promise<void> {
  for (const tool of ['wrk', 'nginx']) await sh('sh', ['-c', `command -v ${tool}`]).catch(() => { throw new BenchUsageError(`bench:datapath needs ${tool} (Debian: apt-get install wrk nginx-light)`) })
  const stateDir = `/run/scalelb-bench-${run}`
  const lab: { state?: LabState } = {}
  cleanup.add('lab', async () => {
    const st = lab.state ?? await loadLabState(stateDir).catch(() => undefined)
    if (st !== undefined) await labDown(st)
    await rm(stateDir, { recursive: true, force: true })
  })
  console.log(`bench:datapath run ${run}: lab of 2 agents (state in ${stateDir})`)
  const state = lab.state = await labUp({ nodes: 2, stateDir, mode: 'netns' })
  const [h1, h2] = state.hosts as [LabHost, LabHost]
  await labApi.createNetwork(h1, 'dp', [SUBNET])
  for (const s of ['remote', 'local', 'client']) await labApi.createService(h1, s, ['dp'], [`80:${TARGET_PORT}/tcp`])
  await waitFor('h2 knows the services', async () => await labApi.inspectService(h2, 'client').then(() => true, () => false), { timeoutMs: SETUP_TIMEOUT_MS })
  const task = async (h: LabHost, service: string, id: string): Promise<{ ns: string, ip: string }> => {
    const ns = taskNetnsName(state, h, id)
    await createPlainNetns(state, ns)
    const info = await labApi.addTaskNetns(h, { service, id, netnsPath: `/run/netns/${ns}`, networks: ['dp'] })
    const ip = info.endpoints[0]?.ip
    if (ip === undefined) throw new Error(`task ${id}: no endpoint`)
    return { ns, ip }
  }
  const far = await task(h2, 'remote', 'srv-far')
  const near = await task(h1, 'local', 'srv-near')
  const client = await task(h1, 'client', 'cli')
  await startNginx(join(stateDir, 'nginx-far'), far.ns, cleanup)
  await startNginx(join(stateDir, 'nginx-near'), near.ns, cleanup)
  const vip = async (name: string): Promise<string> => {
    const v = labApi.vipOn(await labApi.inspectService(h1, name), 'dp')
    if (v === undefined) throw new Error(`service ${name} has no VIP on dp`)
    return v
  }
  const urls: Record<PathName, string> = {
    direct: `http://${far.ip}:${TARGET_PORT}/`,
    'vip-remote': `http://${await vip('remote')}/`,
    'direct-local': `http://${near.ip}:${TARGET_PORT}/`,
    'vip-local': `http://${await vip('local')}/`
  }
  for (const p of PATHS) {
    await waitFor(`${p} answers`, async () => await sh('ip', ['netns', 'exec', client.ns, 'curl', '-sf', '-m', '2', '-o', '/dev/null', urls[p]]).then(() => true, () => false), { timeoutMs: SETUP_TIMEOUT_MS })
  }
  console.log(`setup done; ${f.rounds} rounds of ${PATHS.join(', ')}, ${f.seconds} s each, ${f.connections} connections, 1 wrk thread`)

  const samples: Record<PathName, Array<WrkResult & { cpuUsPerReq: number }>> = { direct: [], 'vip-remote': [], 'direct-local': [], 'vip-local': [] }
  const hz = Number(await sh('getconf', ['CLK_TCK']))
  for (let r = 0; r < f.rounds; r++) {
    for (const p of PATHS) {
      const c0 = await cpuJiffies()
      const w = await wrk(client.ns, urls[p], f)
      const c1 = await cpuJiffies()
      const cpuUsPerReq = ((c1.busy - c0.busy) / hz) * 1e6 / Math.max(1, w.requests)
      samples[p].push({ ...w, cpuUsPerReq })
      console.log(`round ${r + 1} ${p}: ${round(w.rps, 0)} req/s, p50 ${round(w.p50Ms, 3)} ms, p99 ${round(w.p99Ms, 3)} ms, ${round(cpuUsPerReq, 1)} µs CPU/request${w.errors > 0 ? `, ${w.errors} errors` : ''}`)
    }
  }
  const fig = (p: PathName): { rps: number, p50: number, p99: number, cpu: number, errors: number } => ({
    rps: median(samples[p].map((s) => s.rps)),
    p50: median(samples[p].map((s) => s.p50Ms)),
    p99: median(samples[p].map((s) => s.p99Ms)),
    cpu: median(samples[p].map((s) => s.cpuUsPerReq)),
    errors: samples[p].reduce((s, x) => s + x.errors, 0)
  })
  // ratio per round (paths of one round ran back to back), then the median
  const directOf = (p: PathName): PathName => p === 'vip-local' ? 'direct-local' : 'direct'
  const isVip = (p: PathName): boolean => p.startsWith('vip-')
  const ratio = (p: PathName): number => median(samples[p].map((s, i) => s.rps / (samples[directOf(p)][i]?.rps ?? NaN)))
  console.log('')
  printTable([
    ['path', 'req/s (median)', 'ratio to its direct path', 'latency p50 ms', 'latency p99 ms', 'CPU µs/request', 'errors'],
    ...PATHS.map((p) => {
      const x = fig(p)
      return [p, round(x.rps, 0), isVip(p) ? round(ratio(p), 3) : '1', round(x.p50, 3), round(x.p99, 3), round(x.cpu, 1), String(x.errors)]
    })
  ])
  if (f.perf) await profile(stateDir, client.ns, urls, f)
  const res: Record<string, number> = {}
  for (const p of PATHS) {
    const x = fig(p)
    const k = p.replaceAll('-', '_')
    res[`${k}_rps`] = round(x.rps, 0)
    res[`${k}_latency_ms_p50`] = round(x.p50, 3)
    res[`${k}_latency_ms_p99`] = round(x.p99, 3)
    res[`${k}_cpu_us_per_request`] = round(x.cpu, 1)
    res[`${k}_errors`] = x.errors
    if (isVip(p)) res[`${k}_ratio_to_direct`] = round(ratio(p), 3)
  }
  printJsonLine('datapath', { rounds: f.rounds, seconds: f.seconds, connections: f.connections, body_bytes: BODY_BYTES }, res)
}

runBench('bench:datapath', 'bd', async (run, cleanup) => { await bench(run, cleanup, fromFlags()) })
