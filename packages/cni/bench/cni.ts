/**
 * bench:cni — a container's way onto a scalelb network through the CNI
 * plugin, beside `scalelb task add --netns`, on a 2-host lab (real agents,
 * nft LB sandboxes):
 *
 * - from the start of the call (a fresh `scalelb-cni` process with CNI_* env
 *   and the configuration on stdin, as a runtime execs it; or a fresh
 *   `scalelb task add` CLI process) on h1 until the new backend is
 *   programmed in h2's LB sandbox (seen by `nft monitor` there), p50/p99 ms;
 * - the wall time of the call itself (process start to exit), p50/p99 ms.
 *
 * Both kinds run interleaved (CNI, task add, CNI, ...) in the same run; the
 * ratio CNI / task add of the p50s is reported beside the figures.
 *
 * Run (root): npm run bench:cni -- [--containers 20]
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { access, rm } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createPlainNetns, labApi, labDown, labUp, loadLabState, waitFor, type LabHost, type LabState } from '@scalelb/lab'
import { BenchUsageError, intFlag, isRoot, percentile, printJsonLine, printTable, round, runBench, type Cleanup } from '../../agent/bench/common.js'
import { watchSandbox, type SandboxWatch } from '../../agent/bench/kernel-watch.js'
import { lbNetnsName } from '@scalelb/agent'

/** Containers per kind (the figure: p50/p99 over 20). */
const DEFAULT_CONTAINERS = 20
/** Give up on one container being programmed on h2 after this long (ms). */
const PROGRAMMED_TIMEOUT_MS = 30_000
const SUBNET = '10.216.0.0/16'
const TARGET_PORT = 8080
const PLUGIN = fileURLToPath(new URL('../bin/scalelb-cni.js', import.meta.url))
const CLI = fileURLToPath(new URL('../../agent/bin/scalelb.js', import.meta.url))

/** One process run: wall time (ms) and stdout; throws when it exits non-zero. */
async function timedProcess (argv: readonly string[], env: Record<string, string>, input: string): Promise<{ ms: number, stdout: string }> {
  const t0 = performance.now()
  const [code, stdout, stderr] = await new Promise<[number | null, string, string]>((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.once('error', reject)
    child.once('close', (c) => { resolve([c, out, err]) })
    child.stdin.end(input)
  })
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${String(code)}: ${stdout}${stderr}`)
  return { ms: performance.now() - t0, stdout }
}

type Kind = 'cni' | 'task_add'

/** Attach one container of `kind` on h1; resolves its address and the call's start time and wall time. */
async function attach (kind: Kind, h1: LabHost, netnsPath: string): Promise<{ ip: string, t0: number, callMs: number }> {
  const id = randomBytes(32).toString('hex')
  const t0 = performance.now()
  if (kind === 'cni') {
    const conf = { cniVersion: '1.0.0', name: 'front-web', type: 'scalelb-cni', network: 'front', service: 'web', socket: h1.apiSocket }
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' }
    const r = await timedProcess([PLUGIN], env, JSON.stringify(conf))
    const result = JSON.parse(r.stdout) as { ips: Array<{ address: string }> }
    return { ip: (result.ips[0]?.address ?? '').split('/')[0] as string, t0, callMs: r.ms }
  }
  const r = await timedProcess([CLI, 'task', 'add', 'web', '--netns', netnsPath, '--network', 'front', '--id', id, '--json'], { SCALELB_API_SOCKET: h1.apiSocket }, '')
  const task = JSON.parse(r.stdout) as { endpoints: Array<{ ip: string }> }
  return { ip: task.endpoints[0]?.ip as string, t0, callMs: r.ms }
}

async function bench (run: string, cleanup: Cleanup, containers: number): Promise<void> {
  const stateDir = `/run/scalelb-bench-${run}`
  const lab: { state?: LabState } = {}
  const watched: { watch?: SandboxWatch } = {}
  cleanup.add('lab', async () => {
    const st = lab.state ?? await loadLabState(stateDir).catch(() => undefined)
    if (st !== undefined) await labDown(st)
    await rm(stateDir, { recursive: true, force: true })
  })
  cleanup.add('nft monitor', async () => { watched.watch?.stop() })

  console.log(`bench:cni run ${run}: lab of 2 agents (state in ${stateDir})`)
  const state = lab.state = await labUp({ nodes: 2, stateDir, mode: 'netns', agentArgs: ['--profile', 'local'] })
  const [h1, h2] = state.hosts as [LabHost, LabHost]
  const net = await labApi.createNetwork(h1, 'front', [SUBNET])
  await labApi.createService(h1, 'web', ['front'], [`80:${TARGET_PORT}/tcp`])
  await waitFor('h2 learns the service', async () => await labApi.inspectService(h2, 'web').then(() => true, () => false), { timeoutMs: 30_000 })
  // h2 gets its sandbox on front with a local endpoint of its own (an address only, no backend)
  await labApi.hostApi(h2).addTask({ networks: ['front'], ip: '10.216.255.250', id: 'bench-anchor' })
  const sandbox = lbNetnsName(h2.netnsPrefix, net.id)
  await waitFor('h2\'s sandbox exists', async () => await access(`/run/netns/${sandbox}`).then(() => true, () => false), { timeoutMs: 30_000 })
  const watch = watched.watch = watchSandbox('h2', sandbox)

  const programmed: Record<Kind, number[]> = { cni: [], task_add: [] }
  const calls: Record<Kind, number[]> = { cni: [], task_add: [] }
  for (let i = 0; i < containers; i++) {
    for (const kind of ['cni', 'task_add'] as const) {
      const ns = `${state.prefix}-t-h1-${kind === 'cni' ? 'c' : 't'}${i}`
      await createPlainNetns(state, ns)
      const a = await attach(kind, h1, `/run/netns/${ns}`)
      await waitFor(`${kind} ${i} (${a.ip}) programmed on h2`, async () => watch.find('add', a.ip, TARGET_PORT, a.t0) !== undefined, { timeoutMs: PROGRAMMED_TIMEOUT_MS })
      programmed[kind].push((watch.find('add', a.ip, TARGET_PORT, a.t0) as number) - a.t0)
      calls[kind].push(a.callMs)
    }
  }

  const fig = (xs: number[], p: number): number => round(percentile(xs, p), 1)
  printTable([
    ['kind', 'to programmed on h2 p50 ms', 'p99 ms', 'call p50 ms', 'call p99 ms'],
    ...(['cni', 'task_add'] as const).map((k) => [k === 'cni' ? 'scalelb-cni ADD' : 'scalelb task add', fig(programmed[k], 50), fig(programmed[k], 99), fig(calls[k], 50), fig(calls[k], 99)])
  ])
  printJsonLine('bench:cni', { containers, hosts: 2 }, {
    cni_programmed_ms_p50: fig(programmed.cni, 50),
    cni_programmed_ms_p99: fig(programmed.cni, 99),
    task_add_programmed_ms_p50: fig(programmed.task_add, 50),
    task_add_programmed_ms_p99: fig(programmed.task_add, 99),
    cni_call_ms_p50: fig(calls.cni, 50),
    cni_call_ms_p99: fig(calls.cni, 99),
    task_add_call_ms_p50: fig(calls.task_add, 50),
    task_add_call_ms_p99: fig(calls.task_add, 99),
    programmed_p50_ratio_cni_over_task_add: round(percentile(programmed.cni, 50) / percentile(programmed.task_add, 50), 2)
  })
}

runBench('bench:cni', 'slbcni', async (run, cleanup) => {
  const { values } = parseArgs({ options: { containers: { type: 'string' }, json: { type: 'boolean' } }, strict: true })
  const containers = intFlag('containers', values.containers, DEFAULT_CONTAINERS, 1, 500)
  if (!isRoot) throw new BenchUsageError('bench:cni needs root (network namespaces, nftables)')
  await bench(run, cleanup, containers)
})

