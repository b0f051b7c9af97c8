/**
 * Samples of a lab cluster's agents for bench:cluster: gossip byte counters
 * and programming-latency histograms from every agent's /metrics (fetched by
 * one process inside a helper netns on the underlay), CPU time and RSS from
 * /proc of every agent process.
 */
import { readFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { sampleValue, type LabHelper, type LabHost } from '@scalelb/lab'
import { sh } from './common.js'

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100

/** Fetch every URL in parallel and print a JSON array of bodies ('' when unreachable). */
const FETCH_ALL_SCRIPT = `
const urls = process.argv.slice(1)
Promise.all(urls.map((u) => fetch(u, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).catch(() => '')))
  .then((bodies) => process.stdout.write(JSON.stringify(bodies)))`

/** One agent at one moment. */
export interface AgentSample {
  /** Undefined when its /metrics did not answer. */
  sentBytes: number | undefined
  receivedBytes: number | undefined
  /** Gossip messages sent so far, all types (each datagram is one frame on the wire). */
  sentMessages: number | undefined
  programmingSumS: number | undefined
  programmingCount: number | undefined
  /** Seconds its allocations waited for address space so far (scalelb_ipam_address_wait_seconds_sum). */
  addressWaitS: number | undefined
  /** Kernel transactions its reconciler issued so far (scalelb_lb_transactions_total). */
  transactions: number | undefined
  /** Table entry flow so far (scalelb_gossip_entries_*, broadcast_*): undefined when its /metrics did not answer. */
  flow: Flow | undefined
  /** CPU seconds (user + system) used by the agent process so far; undefined when it is gone. */
  cpuS: number | undefined
  rssMiB: number | undefined
}

/** Table entry counters of one agent (and the broadcast queue's depth, a gauge). */
export interface Flow {
  written: number
  writtenBytes: number
  learnedPush: number
  learnedSync: number
  broadcastsSent: number
  broadcastsPruned: number
  broadcastsQueued: number
}

function flowOf (text: string): Flow {
  const v = (name: string): number => sampleValue(text, name) ?? 0
  let learnedPush = 0
  let learnedSync = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('scalelb_gossip_entries_learned_total{via="push"}')) learnedPush = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (line.startsWith('scalelb_gossip_entries_learned_total{via="sync"}')) learnedSync = Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return {
    written: v('scalelb_gossip_entries_written_total'),
    writtenBytes: v('scalelb_gossip_entries_written_bytes_total'),
    learnedPush,
    learnedSync,
    broadcastsSent: v('scalelb_gossip_broadcast_entries_sent_total'),
    broadcastsPruned: v('scalelb_gossip_broadcasts_pruned_total'),
    broadcastsQueued: v('scalelb_gossip_broadcasts_queued')
  }
}

/** Every agent at one moment. */
export interface ClusterSample {
  /** performance.now() when taken. */
  t: number
  agents: AgentSample[]
}

async function procFigures (pid: number | undefined): Promise<{ cpuS: number | undefined, rssMiB: number | undefined }> {
  if (pid === undefined) return { cpuS: undefined, rssMiB: undefined }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields 14 (utime) and 15 (stime) are rest[11], rest[12]
    const cpuS = (Number(rest[11]) + Number(rest[12])) / USER_HZ
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
    return { cpuS, rssMiB: m === null ? undefined : Number(m[1]) / 1024 }
  } catch {
    return { cpuS: undefined, rssMiB: undefined }
  }
}

/** Sum of every series of counter `name` (all label values); undefined when it has none. */
function sumSamples (text: string, name: string): number | undefined {
  let sum: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    const v = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(v)) sum = (sum ?? 0) + v
  }
  return sum
}

/** Sample every host's agent (metrics through `helper`, CPU/RSS from /proc). */
export async function sampleCluster (helper: LabHelper, hosts: readonly LabHost[]): Promise<ClusterSample> {
  const urls = hosts.map((h) => `http://${h.metricsAddr}/metrics`)
  const procs = await Promise.all(hosts.map(async (h) => await procFigures(h.pid)))
  const out = await sh('nsenter', [`--net=/run/netns/${helper.netns}`, '--', process.execPath, '-e', FETCH_ALL_SCRIPT, ...urls])
  const t = performance.now()
  const bodies = JSON.parse(out) as string[]
  const agents = hosts.map((_, i): AgentSample => {
    const text = bodies[i] ?? ''
    const p = procs[i] as { cpuS: number | undefined, rssMiB: number | undefined }
    return {
      sentBytes: text === '' ? undefined : sampleValue(text, 'scalelb_gossip_sent_bytes_total'),
      receivedBytes: text === '' ? undefined : sampleValue(text, 'scalelb_gossip_received_bytes_total'),
      sentMessages: text === '' ? undefined : sumSamples(text, 'scalelb_gossip_messages_sent_total'),
      programmingSumS: text === '' ? undefined : sampleValue(text, 'scalelb_network_programming_duration_seconds_sum'),
      programmingCount: text === '' ? undefined : sampleValue(text, 'scalelb_network_programming_duration_seconds_count'),
      addressWaitS: text === '' ? undefined : sampleValue(text, 'scalelb_ipam_address_wait_seconds_sum'),
      transactions: text === '' ? undefined : sampleValue(text, 'scalelb_lb_transactions_total'),
      flow: text === '' ? undefined : flowOf(text),
      cpuS: p.cpuS,
      rssMiB: p.rssMiB
    }
  })
  return { t, agents }
}

/** Per-phase figures between two samples, over the agents present in both. */
export interface PhaseFigures {
  seconds: number
  /** Mean over agents of gossip bytes sent per second. */
  sentBytesPerNodePerS: number
  receivedBytesPerNodePerS: number
  /** Mean over agents of gossip messages (frames) sent per second, all types. */
  sentMessagesPerNodePerS: number
  /** Mean over agents of CPU use, percent of one core. */
  cpuPercentPerAgent: number
  /** The busiest agent's CPU use, percent of one core. */
  cpuPercentMaxAgent: number
  /** Sum over agents, percent of one core (200 = both cores of this machine). */
  cpuPercentAllAgents: number
  /** Each agent's CPU use, percent of one core, in host order (NaN where it was not sampled both times). */
  cpuPercentByAgent: number[]
  /** Mean over agents of kernel transactions per second. */
  transactionsPerNodePerS: number
  /** Sums over the agents sampled both times of the table flow counters' increase; `broadcastsQueued` is the mean and `broadcastsQueuedMax` the max of the gauge at the end. */
  flow: Flow & { agents: number, broadcastsQueuedMax: number }
  /** Mean and max RSS at the end. */
  rssMiBMean: number
  rssMiBMax: number
  /** Mean programming latency the agents' own histogram saw in the phase (ms), NaN when none. */
  agentProgrammingMsMean: number
}

/** Figures between samples `a` and `b`. */
export function phaseFigures (a: ClusterSample, b: ClusterSample): PhaseFigures {
  const seconds = (b.t - a.t) / 1000
  let sent = 0
  let recv = 0
  let nBytes = 0
  let msgs = 0
  let nMsgs = 0
  let cpu = 0
  let nCpu = 0
  let cpuMax = 0
  let progSum = 0
  let progCount = 0
  let tx = 0
  let nTx = 0
  const rss: number[] = []
  const byAgent: number[] = []
  const flow = { written: 0, writtenBytes: 0, learnedPush: 0, learnedSync: 0, broadcastsSent: 0, broadcastsPruned: 0, broadcastsQueued: 0, agents: 0, broadcastsQueuedMax: 0 }
  b.agents.forEach((y, i) => {
    const x = a.agents[i] as AgentSample
    if (x.sentBytes !== undefined && y.sentBytes !== undefined && x.receivedBytes !== undefined && y.receivedBytes !== undefined) {
      sent += y.sentBytes - x.sentBytes
      recv += y.receivedBytes - x.receivedBytes
      nBytes++
    }
    if (x.sentMessages !== undefined && y.sentMessages !== undefined) {
      msgs += y.sentMessages - x.sentMessages
      nMsgs++
    }
    if (x.cpuS !== undefined && y.cpuS !== undefined) {
      cpu += y.cpuS - x.cpuS
      cpuMax = Math.max(cpuMax, y.cpuS - x.cpuS)
      nCpu++
    }
    byAgent.push(x.cpuS !== undefined && y.cpuS !== undefined ? 100 * (y.cpuS - x.cpuS) / seconds : Number.NaN)
    if (x.transactions !== undefined && y.transactions !== undefined) {
      tx += y.transactions - x.transactions
      nTx++
    }
    if (x.flow !== undefined && y.flow !== undefined) {
      for (const k of ['written', 'writtenBytes', 'learnedPush', 'learnedSync', 'broadcastsSent', 'broadcastsPruned'] as const) flow[k] += y.flow[k] - x.flow[k]
      flow.broadcastsQueued += y.flow.broadcastsQueued
      flow.broadcastsQueuedMax = Math.max(flow.broadcastsQueuedMax, y.flow.broadcastsQueued)
      flow.agents++
    }
    if (y.rssMiB !== undefined) rss.push(y.rssMiB)
    if (x.programmingSumS !== undefined && y.programmingSumS !== undefined && x.programmingCount !== undefined && y.programmingCount !== undefined) {
      progSum += y.programmingSumS - x.programmingSumS
      progCount += y.programmingCount - x.programmingCount
    }
  })
  return {
    seconds,
    sentBytesPerNodePerS: nBytes === 0 ? Number.NaN : sent / nBytes / seconds,
    receivedBytesPerNodePerS: nBytes === 0 ? Number.NaN : recv / nBytes / seconds,
    sentMessagesPerNodePerS: nMsgs === 0 ? Number.NaN : msgs / nMsgs / seconds,
    cpuPercentPerAgent: nCpu === 0 ? Number.NaN : 100 * cpu / nCpu / seconds,
    cpuPercentMaxAgent: nCpu === 0 ? Number.NaN : 100 * cpuMax / seconds,
    cpuPercentAllAgents: 100 * cpu / seconds,
    cpuPercentByAgent: byAgent,
    transactionsPerNodePerS: nTx === 0 ? Number.NaN : tx / nTx / seconds,
    flow: { ...flow, broadcastsQueued: flow.agents === 0 ? Number.NaN : flow.broadcastsQueued / flow.agents },
    rssMiBMean: rss.length === 0 ? Number.NaN : rss.reduce((s, v) => s + v, 0) / rss.length,
    rssMiBMax: rss.length === 0 ? Number.NaN : Math.max(...rss),
    agentProgrammingMsMean: progCount === 0 ? Number.NaN : 1000 * progSum / progCount
  }
}
