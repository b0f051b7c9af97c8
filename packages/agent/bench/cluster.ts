/**
 * bench:cluster — a lab cluster of real agents (one netns "host" each, libp2p
 * gossip over a bridge underlay, nft LB sandboxes), measured from outside:
 *
 * - first task on each node (its first address on the network; every node
 *   but the network's creator owns no space until it gets a donation):
 *   API call time per node, and p50/p99 over the nodes that own no space;
 * - task add at one node until its backend is programmed in every other
 *   node's LB sandbox (seen by `nft monitor` in each sandbox), p50/p99 ms;
 * - node killed (SIGKILL) until its backends are withdrawn from every other
 *   sandbox, p50/p99 s;
 * - gossip bytes sent per node per second, idle and under --rate task
 *   events/s (each agent's scalelb_gossip_sent_bytes_total);
 * - the same for every task the churn phase adds (propagation under load);
 * - agent CPU (from /proc, % of one core: mean and the busiest agent) and
 *   resident memory.
 *
 * `--cpu-prof-dir DIR` runs every agent with `node --cpu-prof` (a profile
 * per agent, written when it stops; killed agents write none) and writes
 * DIR/phases.json with each phase's start and end on the profiles' clock, for
 * `bench/cpu-profile.ts --phases` to cut the profiles by phase. `--rate 0`,
 * `--adds 0` and `--kills 0` skip those phases (an idle profile).
 *
 * `--logs-dir DIR` keeps a copy of every agent's log (the lab's are removed
 * with it).
 *
 * `--churn-hosts K` puts the churn phase's tasks on the first K hosts only
 * (default: all): the other agents then see only remote task events, as
 * nearly every agent of a large cluster does, and their CPU per event is
 * reported apart ("agents hosting no churn task").
 *
 * `--node-flags="FLAGS"` adds node flags to every agent's command line after
 * the agent's own (`--max-semi-space-size=4` overrides its 1; `--trace-gc`
 * prints each collection into the agent's log, see `--logs-dir`).
 *
 * Run (root): npm run bench:cluster -- [--nodes 20] [--adds 20] [--kills 3] [--rate 10] [--phase-seconds 20] [--churn-hosts K] [--prefix sl] [--cpu-prof-dir DIR] [--logs-dir DIR] [--node-flags="FLAGS"]
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { setTimeout as delay } from 'node:timers/promises'
import { lbNetnsName, nftTableName } from '../src/dataplane/kernel/index.js'
import { LB_NFT_FAMILY } from '../src/dataplane/spec/family.js'
import {
  addUnderlayHelper, createPlainNetns, labApi, labUp, resolveAgentCommand, taskNetnsName, waitFor, type LabHelper, type LabHost, type LabState
} from '@scalelb/lab'
import { benchLab } from './bench-lab.js'
import type { TaskInfo } from '../src/types.js'
import { phaseFigures, sampleCluster, type PhaseFigures } from './cluster-sample.js'
import {
  BenchUsageError, benchEnv, intFlag, isRoot, netnsWithPrefix, percentile, printJsonLine, printTable, round, runBench, sh, type Cleanup
} from './common.js'
import { waitAll, watchSandbox, type SandboxWatch } from './kernel-watch.js'

/** Defaults of the issue: 20 nodes, 10 task events/s. */
const DEFAULT_NODES = 20
const DEFAULT_RATE_PER_S = 10
/** Measured task adds (one at a time, round-robin over the nodes). */
const DEFAULT_ADDS = 20
/** Nodes killed one after another (each waits for its withdrawal everywhere). */
const DEFAULT_KILLS = 3
/** Length of the idle and the churn phase (s). */
const DEFAULT_PHASE_S = 20
/**
 * Tasks the churn phase removes and adds back, in turn, per event/s of
 * --rate: a task's next event comes this many seconds after its last (an
 * API call returns once the change is applied locally, ~1 s on a busy
 * 2-core machine with 20 agents).
 */
const CHURN_POOL_SECONDS = 4
/** Give up on one add being programmed everywhere after this long (ms). */
const ADD_TIMEOUT_MS = 30_000
/** Give up on a killed node's backends being withdrawn everywhere after this long (ms): beyond SWIM's suspicion maximum. */
const KILL_TIMEOUT_MS = 90_000
/** Setup steps (services known everywhere, sandboxes programmed) must finish within this (ms). */
const SETUP_TIMEOUT_MS = 120_000
/**
 * Unmeasured seconds before the idle phase: the setup's writes are still
 * being retransmitted (retransmitMult 4 x ceil(log10(n+1)) = 8 gossip rounds
 * of 200 ms = 1.6 s) and synced (every 2 s); 5 s covers both twice over.
 */
const SETUP_DRAIN_S = 5
/** `lab up` waits at least this long for every agent to see every member (ms): the lab's own default. */
const LAB_READY_MIN_MS = 60_000
/** ... and this long per agent (ms): 50 agents starting at once on 2 cores took over 60 s to see each other; 20 in batches under load average 40 from other work, over 80 s. */
const LAB_READY_PER_NODE_MS = 6_000
/** Tries of one setup add the agent abandoned (503) or whose connection failed. */
const SETUP_ADD_TRIES = 4
/** Pause before the n-th retry of a setup add: n times this (ms). */
const SETUP_RETRY_PAUSE_MS = 2_000
/** Hosts adding their churn tasks at the same time during setup. */
const SETUP_PARALLEL_HOSTS = 5
/**
 * First tasks (one per node) added at the same time during setup: each
 * builds its node's LB sandbox while every other node programs the new
 * backend. One after another, 50 took 14 minutes on a loaded 2-core machine;
 * 8 at a time under load average 56, every call passed the API deadline.
 */
const SETUP_PARALLEL_FIRST = 4
/** How long a setup add the agent abandoned is looked for on its node (it goes on in the background) before it is added again (ms). */
const SETUP_ABANDONED_WAIT_MS = 60_000
/** Subnet of the benchmark network (exists only inside the lab's namespaces). */
const SUBNET = '10.215.0.0/16'
const TARGET_PORT = 8080
const PORTS = [`80:${TARGET_PORT}/tcp`]

interface Flags { nodes: number, adds: number, kills: number, rate: number, phaseS: number, churnHosts: number, prefix: string | undefined, cpuProfDir: string | undefined, logsDir: string | undefined, nodeFlags: string[] }

/** Now on the clock of V8's CPU profiles (CLOCK_MONOTONIC, µs), the same in every process of the machine. */
function monotonicUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

function fromFlags (): Flags {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string' },
      adds: { type: 'string' },
      kills: { type: 'string' },
      rate: { type: 'string' },
      'phase-seconds': { type: 'string' },
      'churn-hosts': { type: 'string' },
      prefix: { type: 'string' },
      'cpu-prof-dir': { type: 'string' },
      'logs-dir': { type: 'string' },
      'node-flags': { type: 'string' },
      json: { type: 'boolean' }
    }
  })
  const nodes = intFlag('nodes', values.nodes, DEFAULT_NODES, 2, 64)
  const f: Flags = {
    nodes,
    adds: intFlag('adds', values.adds, DEFAULT_ADDS, 0, 500),
    kills: intFlag('kills', values.kills, DEFAULT_KILLS, 0, nodes - 2),
    rate: intFlag('rate', values.rate, DEFAULT_RATE_PER_S, 0, 100),
    phaseS: intFlag('phase-seconds', values['phase-seconds'], DEFAULT_PHASE_S, 2, 600),
    churnHosts: intFlag('churn-hosts', values['churn-hosts'], nodes, 1, nodes),
    prefix: values.prefix,
    cpuProfDir: values['cpu-prof-dir'],
    logsDir: values['logs-dir'],
    nodeFlags: values['node-flags'] === undefined ? [] : values['node-flags'].split(/\s+/).filter(x => x !== '')
  }
  for (const fl of f.nodeFlags) if (!/^--[a-z][a-z0-9-_]*(=[A-Za-z0-9._/-]+)?$/.test(fl)) throw new BenchUsageError(`--node-flags: expected node flags such as "--max-semi-space-size=4 --trace-gc", got ${JSON.stringify(fl)}`)
  if (f.prefix !== undefined && !/^[a-z][a-z0-9]{1,2}$/.test(f.prefix)) throw new BenchUsageError(`--prefix: expected 2-3 of [a-z0-9] starting with a letter (the agents' netns prefix is at most 12 chars), got ${JSON.stringify(f.prefix)}`)
  for (const [flag, dir] of [['cpu-prof-dir', f.cpuProfDir], ['logs-dir', f.logsDir]] as const) {
    if (dir !== undefined && !dir.startsWith('/')) throw new BenchUsageError(`--${flag}: must be an absolute path, got ${JSON.stringify(dir)}`)
  }
  if (!isRoot()) throw new BenchUsageError('bench:cluster needs root (network namespaces, nftables)')
  return f
}

/** A task in its own netns on a host, added through that host's agent. */
interface BenchTask { id: string, host: LabHost, netnsPath: string, ip: string | undefined }

async function addTask (host: LabHost, service: string, id: string, netnsPath: string): Promise<string> {
  const info: TaskInfo = await labApi.addTaskNetns(host, { service, id, netnsPath, networks: ['bench'] })
  const ip = info.endpoints[0]?.ip
  if (ip === undefined) throw new Error(`task ${id}: the agent gave it no endpoint`)
  return ip
}

/**
 * A setup call (network, services, base and churn tasks) the agent abandoned
 * at its deadline (HTTP 503, the machine is overloaded) or whose connection
 * failed (status 0) is tried again, up to SETUP_ADD_TRIES in all, after a
 * growing pause; counted. A retry refused as a duplicate (409: the
 * abandoned call was applied after all) resolves `existing()`.
 */
async function setupCall<T> (what: string, retries: { n: number }, call: () => Promise<T>, existing?: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (err) {
      const status = (err as { status?: number }).status
      if (status === 409 && attempt > 1 && existing !== undefined) return await existing()
      if ((status !== 503 && status !== 0) || attempt >= SETUP_ADD_TRIES) throw err
      retries.n++
      say(`  ${what}: ${(err as Error).message}; trying again (${attempt + 1} of ${SETUP_ADD_TRIES})`)
      await delay(SETUP_RETRY_PAUSE_MS * attempt)
    }
  }
}

/**
 * A setup task add. An add the agent abandoned at its API deadline goes on
 * in the background, so before adding again (which would collide with it)
 * the task is looked for on its node for up to SETUP_ABANDONED_WAIT_MS.
 */
async function addSetupTask (host: LabHost, service: string, id: string, netnsPath: string, retries: { n: number }): Promise<string> {
  const listed = async (): Promise<string | undefined> => (await labApi.listTasks(host).catch(() => [])).find((t) => t.id === id)?.endpoints[0]?.ip
  let tried = false
  return await setupCall(`${id} on ${host.name}`, retries, async () => {
    if (tried) {
      const end = performance.now() + SETUP_ABANDONED_WAIT_MS
      for (;;) {
        const ip = await listed()
        if (ip !== undefined) return ip
        if (performance.now() >= end) break
        await delay(SETUP_RETRY_PAUSE_MS)
      }
    }
    tried = true
    return await addTask(host, service, id, netnsPath)
  }, async () => {
    const ip = await listed()
    if (ip === undefined) throw new Error(`task ${id}: refused as a duplicate, but ${host.name} lists it without an endpoint`)
    return ip
  })
}

async function newTaskNetns (state: LabState, host: LabHost, id: string): Promise<string> {
  const ns = taskNetnsName(state, host, id)
  await createPlainNetns(state, ns)
  return `/run/netns/${ns}`
}

/**
 * Run `fn` on every item, at most `limit(item)` at a time counting the
 * ones running (an item whose limit is 0 runs alone, before the next one starts).
 */
async function inPool<T> (items: readonly T[], limit: (item: T) => number, fn: (item: T) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>()
  for (const item of items) {
    const max = limit(item)
    while (running.size > 0 && running.size >= Math.max(1, max)) await Promise.race(running)
    const p: Promise<void> = fn(item).finally(() => running.delete(p))
    running.add(p)
    if (max === 0) await p
  }
  await Promise.all(running)
}

function say (line: string): void {
  console.log(line)
}

async function bench (run: string, cleanup: Cleanup, f: Flags): Promise<void> {
  const logsDir = f.logsDir
  const { stateDir, lab } = benchLab(run, cleanup, logsDir === undefined
    ? undefined
    : async (st) => {
      await mkdir(logsDir, { recursive: true })
      for (const h of st.hosts) await copyFile(h.logFile, `${logsDir}/${h.name}.log`).catch(() => {})
    })
  const watches = new Map<string, SandboxWatch>()
  cleanup.add('nft monitors', async () => { for (const w of watches.values()) w.stop() })

  const tUp = performance.now()
  say(`bench:cluster run ${run}: lab of ${f.nodes} agents (state in ${stateDir})`)
  let agentCommand: string[] | undefined
  if (f.cpuProfDir !== undefined || f.nodeFlags.length > 0) {
    const extra = [...f.nodeFlags]
    if (f.cpuProfDir !== undefined) {
      await mkdir(f.cpuProfDir, { recursive: true })
      extra.push('--cpu-prof', '--cpu-prof-dir', f.cpuProfDir)
    }
    const cmd = await resolveAgentCommand()
    // node's own flags go before the script (the last element); a later flag overrides the agent's own
    agentCommand = [...cmd.slice(0, -1), ...extra, cmd.at(-1) as string]
  }
  const state = lab.state = await labUp({
    nodes: f.nodes, stateDir, mode: 'netns', progress: (l) => { say(`  ${l}`) },
    // agents start in parallel on the machine's cores: ~1-2 s of CPU each before they answer
    readyTimeoutMs: Math.max(LAB_READY_MIN_MS, f.nodes * LAB_READY_PER_NODE_MS),
    // a failed lab up is taken down by this benchmark's clean-up, which first keeps the logs (--logs-dir)
    cleanupOnFailure: false,
    ...(f.prefix === undefined ? {} : { prefixHead: f.prefix }),
    ...(agentCommand === undefined ? {} : { agentCommand })
  })
  const phases: Record<string, [number, number]> = {}
  const labUpS = (performance.now() - tUp) / 1000
  const loads = [loadavg()[0] as number]
  const hosts = state.hosts
  const first = hosts[0] as LabHost
  const helper: LabHelper = await addUnderlayHelper(state, 'bm')

  // network + services, known everywhere
  const retries = { n: 0 }
  const net = await setupCall('network bench', retries, async () => await labApi.createNetwork(first, 'bench', [SUBNET]), async () => await labApi.inspectNetwork(first, 'bench'))
  for (const s of ['base', 'probe', 'churn']) await setupCall(`service ${s}`, retries, async () => await labApi.createService(first, s, ['bench'], PORTS), async () => await labApi.inspectService(first, s))
  await waitFor('every agent knows network bench and its 3 services', async () => {
    const ok = await Promise.all(hosts.map(async (h) => {
      try {
        await labApi.inspectNetwork(h, 'bench')
        for (const s of ['base', 'probe', 'churn']) await labApi.inspectService(h, s)
        return true
      } catch {
        return false
      }
    }))
    return ok.every(Boolean)
  }, { timeoutMs: SETUP_TIMEOUT_MS })

  // one `base` task per node: every node gets an LB sandbox on the network
  const base: BenchTask[] = []
  const firstTaskMs: Array<[string, number]> = []
  const wait0 = await sampleCluster(helper, hosts)
  const tBase = performance.now()
  // the network's creator first (it owns the address space the others ask donations of), then SETUP_PARALLEL_FIRST at a time
  await inPool(hosts, (h) => h === first ? 0 : SETUP_PARALLEL_FIRST, async (h) => {
    const id = `base-${h.name}`
    const netnsPath = await newTaskNetns(state, h, id)
    const t0 = performance.now()
    base.push({ id, host: h, netnsPath, ip: await addSetupTask(h, 'base', id, netnsPath, retries) })
    firstTaskMs.push([h.name, performance.now() - t0])
  })
  base.sort((a, b) => hosts.indexOf(a.host) - hosts.indexOf(b.host))
  firstTaskMs.sort((a, b) => hosts.findIndex((h) => h.name === a[0]) - hosts.findIndex((h) => h.name === b[0]))
  const baseS = (performance.now() - tBase) / 1000
  const wait1 = await sampleCluster(helper, hosts)
  // each node's own allocations (task IP + LB IP) of its first task waited this long for address space
  const firstWaitMs: Array<[string, number]> = hosts.map((h, i) => [h.name, ((wait1.agents[i]?.addressWaitS ?? NaN) - (wait0.agents[i]?.addressWaitS ?? NaN)) * 1000])
  say(`  first task per node, API call ms (${first.name} created the network): ${firstTaskMs.map(([n, ms]) => `${n} ${round(ms, 0)}`).join(', ')}`)
  say(`  of which waiting for address space, ms: ${firstWaitMs.map(([n, ms]) => `${n} ${round(ms, 0)}`).join(', ')}`)
  say(`  ${base.length} base tasks added (one per node, up to ${SETUP_PARALLEL_FIRST} at a time) in ${round(baseS, 1)} s; waiting for every sandbox`)
  const sandboxOf = (h: LabHost): string => lbNetnsName(h.netnsPrefix, net.id)
  await waitFor('every node has its LB sandbox', async () => {
    const present = new Set(await netnsWithPrefix(state.prefix))
    return hosts.every((h) => present.has(sandboxOf(h)))
  }, { timeoutMs: SETUP_TIMEOUT_MS })
  for (const h of hosts) watches.set(h.name, watchSandbox(h.name, sandboxOf(h)))
  // churn tasks, spread over the nodes (present at the start of the churn phase)
  const churn: BenchTask[] = Array.from({ length: f.rate * CHURN_POOL_SECONDS }, (_, i) => ({ id: `churn-${i}`, host: hosts[i % f.churnHosts] as LabHost, netnsPath: '', ip: undefined }))
  await inPool(churn, () => SETUP_PARALLEL_FIRST, async (t) => { t.netnsPath = await newTaskNetns(state, t.host, t.id) })
  const tChurn = performance.now()
  // SETUP_PARALLEL_HOSTS hosts at a time (unmeasured setup): one add on all 20 at once made every agent
  // reprogram 19 remote backends while building its own, and on a loaded 2-core machine calls passed the deadline
  for (let i = 0; i < hosts.length; i += SETUP_PARALLEL_HOSTS) {
    await Promise.all(hosts.slice(i, i + SETUP_PARALLEL_HOSTS).map(async (h) => {
      for (const t of churn) if (t.host === h) t.ip = await addSetupTask(h, 'churn', t.id, t.netnsPath, retries)
    }))
  }
  await waitAll([...watches.values()], (w) => {
    const ts = churn.filter((t) => t.host.name !== w.name).map((t) => w.find('add', t.ip as string, TARGET_PORT, tChurn))
    return ts.every((t) => t !== undefined) ? 0 : undefined
  }, SETUP_TIMEOUT_MS)
  say(`  ${churn.length} churn tasks added`)
  // base tasks were added before the monitors started: read every sandbox's backend map once
  await waitFor('every sandbox holds every base task', async () => {
    const maps = await Promise.all(hosts.map(async (h) => await sh('nsenter', [`--net=/run/netns/${sandboxOf(h)}`, '--', 'nft', 'list', 'map', LB_NFT_FAMILY, nftTableName(net.id), 'backends_tcp']).catch(() => '')))
    return maps.every((m) => base.every((b) => m.includes(`: ${b.ip as string} . ${TARGET_PORT}`)))
  }, { timeoutMs: SETUP_TIMEOUT_MS })
  say('  setup done: every sandbox programmed')

  // phase 1: idle gossip
  say(`idle phase: ${f.phaseS} s (after ${SETUP_DRAIN_S} s for the setup's gossip to drain)`)
  await delay(SETUP_DRAIN_S * 1000)
  const setupDoneS = (performance.now() - tUp) / 1000 - labUpS
  loads.push(loadavg()[0] as number)
  const idle0 = await sampleCluster(helper, hosts)
  const idleUs = monotonicUs()
  await delay(f.phaseS * 1000)
  phases.idle = [idleUs, monotonicUs()]
  const idle1 = await sampleCluster(helper, hosts)
  const idle = phaseFigures(idle0, idle1)

  // phase 2: task add -> programmed on every other node
  say(`task add phase: ${f.adds} adds, one at a time, round-robin over the nodes`)
  const addMs: number[] = []
  const addNodeMs: number[] = []
  let addTimeouts = 0
  loads.push(loadavg()[0] as number)
  const add0 = await sampleCluster(helper, hosts)
  const addUs = monotonicUs()
  for (let e = 0; e < f.adds; e++) {
    const h = hosts[e % hosts.length] as LabHost
    const id = `probe-${e}`
    const netnsPath = await newTaskNetns(state, h, id)
    const t0 = performance.now()
    const ip = await addTask(h, 'probe', id, netnsPath)
    const others = [...watches.values()].filter((w) => w.name !== h.name)
    const ts = await waitAll(others, (w) => w.find('add', ip, TARGET_PORT, t0), ADD_TIMEOUT_MS)
    if (ts.some((t) => t === undefined)) {
      addTimeouts++
      continue
    }
    const lat = (ts as number[]).map((t) => t - t0)
    addMs.push(Math.max(...lat))
    addNodeMs.push(...lat)
    if ((e + 1) % 5 === 0) say(`  ${e + 1}/${f.adds}: last ${round(Math.max(...lat), 1)} ms to all ${others.length} other nodes`)
  }
  phases.add = [addUs, monotonicUs()]
  const add1 = await sampleCluster(helper, hosts)
  const addPhase = phaseFigures(add0, add1)

  // phase 3: churn, --rate task events/s (a churn task removed, or added back)
  if (f.rate > 0) say(`churn phase: ${f.rate} task events/s for ${f.phaseS} s`)
  /** Every add of the churn phase: when it was called, where, and the IP it got. */
  const churnAdds: Array<{ t0: number, t1: number, host: string, ip: string }> = []
  /** When the phase last removed the task holding each IP. */
  const removedAt = new Map<string, number>()
  const present = churn.map(() => true)
  const busy = churn.map(() => false)
  let issued = 0
  let failed = 0
  let skipped = 0
  let next = 0
  const callMs: number[] = []
  const inflight = new Set<Promise<void>>()
  loads.push(loadavg()[0] as number)
  const churn0 = await sampleCluster(helper, hosts)
  const churnUs = monotonicUs()
  const tStart = performance.now()
  for (let i = 0; f.rate > 0 && performance.now() - tStart < f.phaseS * 1000; i++) {
    const due = tStart + (i * 1000) / f.rate
    const wait = due - performance.now()
    if (wait > 0) await delay(wait)
    // the next task not waiting on its last call (a call returns once the change is applied on its node)
    let k = -1
    for (let j = 0; j < churn.length && k < 0; j++) if (busy[(next + j) % churn.length] !== true) k = (next + j) % churn.length
    if (k < 0) {
      skipped++
      continue
    }
    next = (k + 1) % churn.length
    const t = churn[k] as BenchTask
    busy[k] = true
    issued++
    const p = (async () => {
      const c0 = performance.now()
      try {
        if (present[k] === true) {
          if (t.ip !== undefined) removedAt.set(t.ip, c0)
          await labApi.removeTask(t.host, t.id)
        } else {
          t.ip = await addTask(t.host, 'churn', t.id, t.netnsPath)
          churnAdds.push({ t0: c0, t1: performance.now(), host: t.host.name, ip: t.ip })
        }
        present[k] = !(present[k] as boolean)
        callMs.push(performance.now() - c0)
      } catch {
        failed++
      } finally {
        busy[k] = false
      }
    })()
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
  }
  const churnSeconds = (performance.now() - tStart) / 1000
  phases.churn = [churnUs, monotonicUs()]
  const churn1 = await sampleCluster(helper, hosts)
  await Promise.all(inflight)
  const churnPhase = phaseFigures(churn0, churn1)
  // each churn add -> its backend in every other sandbox (the watches saw it during the phase, or see it now)
  // all at once, each until ADD_TIMEOUT_MS after its own add (one after another, every timed-out add cost
  // the run another 30 s: 24 of them made a 50-agent run 12 minutes longer)
  const churnAddMs: number[] = []
  const churnAddFromReturnMs: number[] = []
  let churnAddTimeouts = 0
  let churnAddsRemovedFirst = 0
  await Promise.all(churnAdds.map(async (a) => {
    const ts = await waitAll([...watches.values()].filter((w) => w.name !== a.host), (w) => w.find('add', a.ip, TARGET_PORT, a.t0), Math.max(0, a.t0 + ADD_TIMEOUT_MS - performance.now()))
    if (ts.some((t) => t === undefined)) {
      churnAddTimeouts++
      // the task was removed again before every node had programmed it: a node that got the add and the
      // removal in one reconciler window programs neither, so it never shows the add
      const rm = removedAt.get(a.ip)
      if (rm !== undefined && rm > a.t0) churnAddsRemovedFirst++
    } else {
      churnAddMs.push(Math.max(...(ts as number[])) - a.t0)
      churnAddFromReturnMs.push(Math.max(0, Math.max(...(ts as number[])) - a.t1))
    }
  }))
  if (f.cpuProfDir !== undefined) await writeFile(`${f.cpuProfDir}/phases.json`, JSON.stringify({ clock: 'CLOCK_MONOTONIC us', phases }) + '\n')

  // phase 4: kill nodes (SIGKILL, no goodbye) -> their base backend withdrawn from every other sandbox
  say(`failure phase: ${f.kills} nodes killed one after another`)
  const killS: number[] = []
  let killTimeouts = 0
  const alive = new Set(hosts.map((h) => h.name))
  for (let j = 0; j < f.kills; j++) {
    const victim = hosts[hosts.length - 1 - j] as LabHost
    const ip = base.find((b) => b.host === victim)?.ip as string
    watches.get(victim.name)?.stop()
    alive.delete(victim.name)
    const survivors = [...watches.values()].filter((w) => alive.has(w.name))
    const t0 = performance.now()
    process.kill(victim.pid as number, 'SIGKILL')
    const ts = await waitAll(survivors, (w) => w.find('delete', ip, TARGET_PORT, t0), KILL_TIMEOUT_MS)
    if (ts.some((t) => t === undefined)) {
      killTimeouts++
      say(`  ${victim.name} killed: not withdrawn everywhere within ${KILL_TIMEOUT_MS / 1000} s`)
      continue
    }
    const s = (Math.max(...(ts as number[])) - t0) / 1000
    killS.push(s)
    say(`  ${victim.name} killed: withdrawn from all ${survivors.length} other sandboxes after ${round(s, 2)} s`)
  }

  const runS = (performance.now() - tUp) / 1000 - labUpS
  loads.push(loadavg()[0] as number)
  report(f, {
    firstTaskMs, firstWaitMs, creator: first.name, setupRetries: retries.n,
    labUpS, baseS, setupS: setupDoneS, runS, loads, idle, addPhase, churnPhase, churnSeconds, issued, failed, skipped, callMs,
    addMs, addNodeMs, addTimeouts, churnAddMs, churnAddFromReturnMs, churnAddTimeouts, churnAddsRemovedFirst, killS, killTimeouts
  })
}

interface Results {
  /** API time of the first task on each node, [node, ms], in the order added. */
  firstTaskMs: Array<[string, number]>
  /** Time the allocations of each node's first task waited for address space, [node, ms]. */
  firstWaitMs: Array<[string, number]>
  /** The node that created the network (owns space from the start). */
  creator: string
  /** Setup adds abandoned at the agent's deadline and tried again. */
  setupRetries: number
  labUpS: number
  /** Seconds to add every node's first task. */
  baseS: number
  /** Seconds from lab up to the end (setup and phases, before the clean-up), and of the setup alone (after lab up). */
  runS: number
  setupS: number
  /** The machine's 1-minute load average at lab up, each phase's start and the end. */
  loads: number[]
  idle: PhaseFigures
  addPhase: PhaseFigures
  churnPhase: PhaseFigures
  churnSeconds: number
  issued: number
  failed: number
  skipped: number
  /** Duration of the churn phase's API calls (task rm / add, each returns once applied on its node). */
  callMs: number[]
  addMs: number[]
  addNodeMs: number[]
  addTimeouts: number
  /** Each churn-phase add: API call to its backend in every other sandbox (ms). */
  churnAddMs: number[]
  /** The same from the API call's return (the entry is written before it returns): propagation and remote programming alone. */
  churnAddFromReturnMs: number[]
  churnAddTimeouts: number
  /** Of those timed out: the phase removed the task again before every node had programmed it. */
  churnAddsRemovedFirst: number
  killS: number[]
  killTimeouts: number
}

/**
 * Mean agent CPU per churn task event (ms): (churn % - idle %) of each agent
 * over the events per second, over the agents of host index >= `from`.
 */
function cpuMsPerEvent (r: Results, eventsPerS: number, from: number): number {
  const per: number[] = []
  r.churnPhase.cpuPercentByAgent.forEach((c, i) => {
    const idle = r.idle.cpuPercentByAgent[i] ?? Number.NaN
    if (i >= from && Number.isFinite(c) && Number.isFinite(idle)) per.push(10 * (c - idle) / eventsPerS)
  })
  return per.length === 0 || eventsPerS <= 0 ? Number.NaN : per.reduce((s, v) => s + v, 0) / per.length
}

function report (f: Flags, r: Results): void {
  const nan = (x: number): number | null => Number.isNaN(x) ? null : x
  const eventsPerS = r.churnSeconds > 0 ? r.issued / r.churnSeconds : 0
  const msPerEvent = cpuMsPerEvent(r, eventsPerS, 0)
  const msPerRemoteEvent = f.churnHosts < f.nodes ? cpuMsPerEvent(r, eventsPerS, f.churnHosts) : Number.NaN
  const firstMs = r.firstTaskMs.filter(([n]) => n !== r.creator).map(([, ms]) => ms)
  const waitMs = r.firstWaitMs.filter(([n]) => n !== r.creator).map(([, ms]) => ms)
  const cf = r.churnPhase.flow
  console.log('')
  console.log(`${f.nodes} agents (lan gossip profile), each in its own netns on one bridge underlay, sharing this machine's ${benchEnv().cpus} cores; lab up took ${round(r.labUpS, 1)} s, then set-up ${round(r.setupS, 1)} s (first tasks ${round(r.baseS, 1)} s), set-up and phases ${round(r.runS, 1)} s; load average (1 min) ${r.loads.map((l) => round(l, 1)).join(', ')} (lab up, idle, add, churn, end)`)
  printTable([
    ['figure', 'value'],
    ['first task on a node owning no space (API call), ms p50', round(percentile(firstMs, 50), 1)],
    ['first task on a node owning no space (API call), ms p99', round(percentile(firstMs, 99), 1)],
    ['first task on a node owning no space (API call), ms max', round(Math.max(...firstMs), 1)],
    ['  of which waiting for address space, ms p50', round(percentile(waitMs, 50), 1)],
    ['  of which waiting for address space, ms p99', round(percentile(waitMs, 99), 1)],
    ['setup task adds abandoned at the agent deadline and retried', r.setupRetries],
    ['task add -> programmed on all other nodes, ms p50', round(percentile(r.addMs, 50), 1)],
    ['task add -> programmed on all other nodes, ms p99', round(percentile(r.addMs, 99), 1)],
    ['task add -> programmed on one other node, ms p50', round(percentile(r.addNodeMs, 50), 1)],
    [`adds measured / timed out (> ${ADD_TIMEOUT_MS / 1000} s)`, `${r.addMs.length} / ${r.addTimeouts}`],
    ["agents' own programming histogram, mean ms (add phase)", round(r.addPhase.agentProgrammingMsMean, 1)],
    [`task add during churn (${round(eventsPerS, 1)} events/s) -> programmed on all other nodes, ms p50`, round(percentile(r.churnAddMs, 50), 1)],
    [`task add during churn (${round(eventsPerS, 1)} events/s) -> programmed on all other nodes, ms p99`, round(percentile(r.churnAddMs, 99), 1)],
    ['  the same from the API call\'s return, ms p50 / p99', `${round(percentile(r.churnAddFromReturnMs, 50), 1)} / ${round(percentile(r.churnAddFromReturnMs, 99), 1)}`],
    [`churn adds measured / timed out (> ${ADD_TIMEOUT_MS / 1000} s)`, `${r.churnAddMs.length} / ${r.churnAddTimeouts}`],
    ['  of the timed out: removed again before every node programmed them', String(r.churnAddsRemovedFirst)],
    ['node killed -> backends withdrawn everywhere, s p50', round(percentile(r.killS, 50), 2)],
    ['node killed -> backends withdrawn everywhere, s p99', round(percentile(r.killS, 99), 2)],
    [`kills measured / timed out (> ${KILL_TIMEOUT_MS / 1000} s)`, `${r.killS.length} / ${r.killTimeouts}`],
    ['gossip bytes sent per node per s, idle', round(r.idle.sentBytesPerNodePerS, 0)],
    ['gossip messages (frames) sent per node per s: idle / churn', `${round(r.idle.sentMessagesPerNodePerS, 2)} / ${round(r.churnPhase.sentMessagesPerNodePerS, 2)}`],
    [`gossip bytes sent per node per s, ${round(eventsPerS, 1)} task events/s`, round(r.churnPhase.sentBytesPerNodePerS, 0)],
    ['kernel transactions per node per task event (churn - idle)', round((r.churnPhase.transactionsPerNodePerS - r.idle.transactionsPerNodePerS) / eventsPerS, 2)],
    ['gossip bytes sent per node per task event (churn - idle)', round((r.churnPhase.sentBytesPerNodePerS - r.idle.sentBytesPerNodePerS) / eventsPerS, 0)],
    ['task events issued / failed / skipped (all tasks busy)', `${r.issued} / ${r.failed} / ${r.skipped}`],
    ['task add/rm API call (returns once applied locally), ms p50 / p99', `${round(percentile(r.callMs, 50), 1)} / ${round(percentile(r.callMs, 99), 1)}`],
    ['table entries written per task event (all nodes); mean bytes per entry', `${round(cf.written / Math.max(1, r.issued), 2)}; ${round(cf.writtenBytes / Math.max(1, cf.written), 0)}`],
    ['entries learned per node per s in churn: by gossip push / by anti-entropy', `${round(cf.learnedPush / Math.max(1, cf.agents) / r.churnPhase.seconds, 2)} / ${round(cf.learnedSync / Math.max(1, cf.agents) / r.churnPhase.seconds, 2)}`],
    ['entries put into packets per node per s in churn; relayed entries pruned per node per s', `${round(cf.broadcastsSent / Math.max(1, cf.agents) / r.churnPhase.seconds, 1)}; ${round(cf.broadcastsPruned / Math.max(1, cf.agents) / r.churnPhase.seconds, 2)}`],
    ['broadcast queue depth at the end of churn, mean / max', `${round(cf.broadcastsQueued, 1)} / ${cf.broadcastsQueuedMax}`],
    ['agent CPU % of one core, per agent, idle', round(r.idle.cpuPercentPerAgent, 2)],
    ['agent CPU % of one core, busiest agent, idle', round(r.idle.cpuPercentMaxAgent, 2)],
    ['agent CPU % of one core, per agent, add phase', round(r.addPhase.cpuPercentPerAgent, 1)],
    ['agent CPU % of one core, per agent, churn', round(r.churnPhase.cpuPercentPerAgent, 1)],
    ['agent CPU % of one core, all agents, churn', round(r.churnPhase.cpuPercentAllAgents, 1)],
    ['agent CPU per task event, ms ((churn - idle) / events per s), mean of all agents', round(msPerEvent, 2)],
    [`  the same, mean of the ${f.nodes - f.churnHosts} agents hosting no churn task (--churn-hosts ${f.churnHosts})`, round(msPerRemoteEvent, 2)],
    ['agent RSS MiB mean / max (after churn)', `${round(r.churnPhase.rssMiBMean, 1)} / ${round(r.churnPhase.rssMiBMax, 1)}`]
  ])
  printJsonLine('cluster', { nodes: f.nodes, adds: f.adds, kills: f.kills, rate_per_s: f.rate, phase_s: f.phaseS, churn_hosts: f.churnHosts, profile: 'lan', ...(f.nodeFlags.length > 0 ? { node_flags: f.nodeFlags.join(' ') } : {}) }, {
    lab_up_s: round(r.labUpS, 1),
    setup_s: round(r.setupS, 1),
    first_tasks_s: round(r.baseS, 1),
    run_after_lab_up_s: round(r.runS, 1),
    load_average_1m: r.loads.map((l) => round(l, 1)),
    first_task_ms_p50: nan(round(percentile(firstMs, 50), 1)),
    first_task_ms_p99: nan(round(percentile(firstMs, 99), 1)),
    first_task_ms_max: nan(round(Math.max(...firstMs), 1)),
    first_task_ms_by_node: Object.fromEntries(r.firstTaskMs.map(([n, ms]) => [n, round(ms, 1)])),
    first_task_address_wait_ms_p50: nan(round(percentile(waitMs, 50), 1)),
    first_task_address_wait_ms_p99: nan(round(percentile(waitMs, 99), 1)),
    first_task_address_wait_ms_by_node: Object.fromEntries(r.firstWaitMs.map(([n, ms]) => [n, nan(round(ms, 1))])),
    setup_retries: r.setupRetries,
    add_all_ms_p50: nan(round(percentile(r.addMs, 50), 1)),
    add_all_ms_p99: nan(round(percentile(r.addMs, 99), 1)),
    add_node_ms_p50: nan(round(percentile(r.addNodeMs, 50), 1)),
    add_node_ms_p99: nan(round(percentile(r.addNodeMs, 99), 1)),
    adds_measured: r.addMs.length,
    adds_timed_out: r.addTimeouts,
    agent_programming_ms_mean: nan(round(r.addPhase.agentProgrammingMsMean, 1)),
    churn_add_all_ms_p50: nan(round(percentile(r.churnAddMs, 50), 1)),
    churn_add_all_ms_p99: nan(round(percentile(r.churnAddMs, 99), 1)),
    churn_add_all_from_return_ms_p50: nan(round(percentile(r.churnAddFromReturnMs, 50), 1)),
    churn_add_all_from_return_ms_p99: nan(round(percentile(r.churnAddFromReturnMs, 99), 1)),
    churn_adds_measured: r.churnAddMs.length,
    churn_adds_timed_out: r.churnAddTimeouts,
    churn_adds_removed_first: r.churnAddsRemovedFirst,
    kill_withdrawn_s_p50: nan(round(percentile(r.killS, 50), 2)),
    kill_withdrawn_s_p99: nan(round(percentile(r.killS, 99), 2)),
    kills_measured: r.killS.length,
    kills_timed_out: r.killTimeouts,
    idle_bytes_per_node_per_s: nan(round(r.idle.sentBytesPerNodePerS, 0)),
    idle_messages_per_node_per_s: nan(round(r.idle.sentMessagesPerNodePerS, 2)),
    churn_messages_per_node_per_s: nan(round(r.churnPhase.sentMessagesPerNodePerS, 2)),
    idle_received_bytes_per_node_per_s: nan(round(r.idle.receivedBytesPerNodePerS, 0)),
    churn_events_per_s: round(eventsPerS, 2),
    churn_events_failed: r.failed,
    churn_events_skipped: r.skipped,
    churn_api_call_ms_p50: nan(round(percentile(r.callMs, 50), 1)),
    churn_api_call_ms_p99: nan(round(percentile(r.callMs, 99), 1)),
    churn_bytes_per_node_per_s: nan(round(r.churnPhase.sentBytesPerNodePerS, 0)),
    churn_transactions_per_node_per_event: nan(round((r.churnPhase.transactionsPerNodePerS - r.idle.transactionsPerNodePerS) / eventsPerS, 2)),
    churn_bytes_per_node_per_event: nan(round((r.churnPhase.sentBytesPerNodePerS - r.idle.sentBytesPerNodePerS) / eventsPerS, 0)),
    churn_entries_written_per_event: round(cf.written / Math.max(1, r.issued), 2),
    churn_bytes_per_entry_written: round(cf.writtenBytes / Math.max(1, cf.written), 0),
    churn_learned_push_per_node_per_s: round(cf.learnedPush / Math.max(1, cf.agents) / r.churnPhase.seconds, 2),
    churn_learned_sync_per_node_per_s: round(cf.learnedSync / Math.max(1, cf.agents) / r.churnPhase.seconds, 2),
    churn_broadcasts_sent_per_node_per_s: round(cf.broadcastsSent / Math.max(1, cf.agents) / r.churnPhase.seconds, 1),
    churn_broadcasts_pruned_per_node_per_s: round(cf.broadcastsPruned / Math.max(1, cf.agents) / r.churnPhase.seconds, 2),
    churn_broadcasts_queued_mean: nan(round(cf.broadcastsQueued, 1)),
    churn_broadcasts_queued_max: cf.broadcastsQueuedMax,
    churn_received_bytes_per_node_per_s: nan(round(r.churnPhase.receivedBytesPerNodePerS, 0)),
    idle_cpu_percent_per_agent: nan(round(r.idle.cpuPercentPerAgent, 2)),
    idle_cpu_percent_max_agent: nan(round(r.idle.cpuPercentMaxAgent, 2)),
    add_cpu_percent_per_agent: nan(round(r.addPhase.cpuPercentPerAgent, 2)),
    idle_rss_mib_mean: nan(round(r.idle.rssMiBMean, 1)),
    churn_cpu_percent_per_agent: nan(round(r.churnPhase.cpuPercentPerAgent, 2)),
    churn_cpu_percent_all_agents: nan(round(r.churnPhase.cpuPercentAllAgents, 1)),
    churn_cpu_ms_per_event: nan(round(msPerEvent, 2)),
    churn_cpu_ms_per_remote_event: nan(round(msPerRemoteEvent, 2)),
    rss_mib_mean: nan(round(r.churnPhase.rssMiBMean, 1)),
    rss_mib_max: nan(round(r.churnPhase.rssMiBMax, 1))
  })
}

runBench('bench:cluster', 'bc', async (run, cleanup) => { await bench(run, cleanup, fromFlags()) })
