/**
 * bench:ingress — HTTP from outside the cluster through published ports,
 * against going straight to a server, on a lab of 2 real agents plus an
 * "outside" namespace on the underlay (wrk runs there):
 *
 * - `direct`: nginx in h1's own namespace, reached on h1's underlay address
 *   (no NAT, no sandbox: what a published port cannot beat; the host has no
 *   route to a task, by design, so this is the "straight to the task" path);
 * - `host`: a `mode=host` published port on h1, whose nginx task runs on h1
 *   (host DNAT straight to the task, the sandbox forwards without NAT);
 * - `ingress`: a `mode=ingress` published port on h2, which has no task of
 *   the service (h2's DNAT to the VIP, h2's sandbox, the overlay to h1);
 * - `vip`: a task on h2 to the service's VIP (h2's sandbox, the overlay).
 *
 * The paths run in turn, --rounds times, in one run; per path: requests/s
 * (median), latency p50/p99, CPU per request, and the ratio to `direct` per
 * round, then the median.
 *
 * Run (root; Debian packages wrk and nginx-light):
 *   npm run bench:ingress -- [--rounds 3] [--seconds 5] [--connections 16]
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  addUnderlayHelper, createPlainNetns, labApi, labUp, taskNetnsName, waitFor, type LabHost
} from '@scalelb/lab'
import { benchLab } from './bench-lab.js'
import { BenchUsageError, isRoot, printJsonLine, printTable, round, runBench, sh, type Cleanup } from './common.js'
import { BODY_BYTES, TARGET_PORT, median, pathFigures, runRounds, startNginx, wrk, wrkFlags } from './http-load.js'

const PATHS = ['direct', 'host', 'ingress', 'vip'] as const
type PathName = typeof PATHS[number]
const DEFAULT_ROUNDS = 3
const SUBNET = '10.218.0.0/16'
const SETUP_TIMEOUT_MS = 90_000
const DIRECT_PORT = 18000
const HOST_PORT = 18001
const INGRESS_PORT = 18002

interface Flags { rounds: number, seconds: number, connections: number }

function fromFlags (): Flags {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, json: { type: 'boolean' } } })
  const f: Flags = wrkFlags(values, DEFAULT_ROUNDS)
  if (!isRoot()) throw new BenchUsageError('bench:ingress needs root (network namespaces, nftables)')
  return f
}

async function bench (run: string, cleanup: Cleanup, f: Flags): Promise<void> {
  for (const tool of ['wrk', 'nginx', 'curl']) await sh('sh', ['-c', `command -v ${tool}`]).catch(() => { throw new BenchUsageError(`bench:ingress needs ${tool} (Debian: apt-get install wrk nginx-light curl)`) })
  const { stateDir, lab } = benchLab(run, cleanup)
  console.log(`bench:ingress run ${run}: lab of 2 agents and an outside namespace (state in ${stateDir})`)
  const state = lab.state = await labUp({ nodes: 2, stateDir, mode: 'netns', prefixHead: 'hib' })
  const [h1, h2] = state.hosts as [LabHost, LabHost]
  const outside = await addUnderlayHelper(state, 'outside')
  const api = labApi.hostApi(h1)
  await api.createNetwork({ name: 'in', subnets: [SUBNET] })
  await api.createService({ name: 'web', ports: [`80:${TARGET_PORT}/tcp`], networks: ['in'], publish: [`published=${HOST_PORT},target=${TARGET_PORT},mode=host`, `${INGRESS_PORT}:${TARGET_PORT}`] })
  await api.createService({ name: 'client', ports: [], networks: ['in'] })
  await waitFor('h2 knows the services', async () => await labApi.inspectService(h2, 'client').then(() => true, () => false), { timeoutMs: SETUP_TIMEOUT_MS })
  const task = async (h: LabHost, service: string, id: string): Promise<string> => {
    const ns = taskNetnsName(state, h, id)
    await createPlainNetns(state, ns)
    await labApi.addTaskNetns(h, { service, id, netnsPath: `/run/netns/${ns}`, networks: ['in'] })
    return ns
  }
  const srv = await task(h1, 'web', 'srv')
  const client = await task(h2, 'client', 'cli')
  await startNginx(join(stateDir, 'nginx-task'), srv, cleanup)
  await startNginx(join(stateDir, 'nginx-host'), h1.netns, cleanup, DIRECT_PORT)
  const vip = labApi.vipOn(await labApi.inspectService(h1, 'web'), 'in') as string
  const urls: Record<PathName, string> = {
    direct: `http://${h1.ip}:${DIRECT_PORT}/`,
    host: `http://${h1.ip}:${HOST_PORT}/`,
    ingress: `http://${h2.ip}:${INGRESS_PORT}/`,
    vip: `http://${vip}/`
  }
  const from = (p: PathName): string => p === 'vip' ? client : outside.netns
  for (const p of PATHS) {
    await waitFor(`${p} answers`, async () => await sh('ip', ['netns', 'exec', from(p), 'curl', '-sf', '-m', '2', '-o', '/dev/null', urls[p]]).then(() => true, () => false), { timeoutMs: SETUP_TIMEOUT_MS })
  }
  console.log(`setup done; ${f.rounds} rounds of ${PATHS.join(', ')}, ${f.seconds} s each, ${f.connections} connections, 1 wrk thread`)
  const samples = await runRounds(PATHS, f.rounds, async (p) => await wrk(from(p), urls[p], f))
  const ratio = (p: PathName): number => median(samples[p].map((s, i) => s.rps / (samples.direct[i]?.rps ?? NaN)))
  const fig = (p: PathName): ReturnType<typeof pathFigures> => pathFigures(samples[p])
  console.log('')
  printTable([
    ['path', 'req/s (median)', 'ratio to direct', 'latency p50 ms', 'latency p99 ms', 'CPU µs/request', 'errors'],
    ...PATHS.map((p) => {
      const x = fig(p)
      return [p, round(x.rps, 0), round(ratio(p), 3), round(x.p50, 3), round(x.p99, 3), round(x.cpu, 1), String(x.errors)]
    })
  ])
  const res: Record<string, number> = {}
  for (const p of PATHS) {
    const x = fig(p)
    res[`${p}_rps`] = round(x.rps, 0)
    res[`${p}_latency_ms_p50`] = round(x.p50, 3)
    res[`${p}_latency_ms_p99`] = round(x.p99, 3)
    res[`${p}_cpu_us_per_request`] = round(x.cpu, 1)
    res[`${p}_errors`] = x.errors
    if (p !== 'direct') res[`${p}_ratio_to_direct`] = round(ratio(p), 3)
  }
  printJsonLine('ingress', { rounds: f.rounds, seconds: f.seconds, connections: f.connections, body_bytes: BODY_BYTES }, res)
}

runBench('bench:ingress', 'hi', async (run, cleanup) => { await bench(run, cleanup, fromFlags()) })
