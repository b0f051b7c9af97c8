import { SCOPES_TABLE } from '../tables/constants.js'
import type { EntryEvent, NodeId, ScopeName } from '../types.js'
import { Sim, type SimInit, type SimNode } from './engine.js'
import { percentile, round } from './report.js'

/** Scenario names of the simulator. */
export type ScenarioName = 'convergence' | 'failure' | 'partition' | 'churn' | 'networks'

/** A scenario's figures: flat numbers with units in the keys. */
export type Results = Record<string, number>

const WARMUP_MS = 3000
const SIM_TABLE = 'sim'

/** Pick `k` distinct random live node indexes. */
function pick (sim: Sim, k: number, ok: (sn: SimNode) => boolean = sn => sn.up): number[] {
  const cands = sim.nodes.filter(ok).map(sn => sn.index)
  const out: number[] = []
  while (out.length < k && cands.length > 0) {
    const j = Math.floor(sim.rng.next() * cands.length)
    out.push(cands[j] as number)
    cands.splice(j, 1)
  }
  return out
}

/**
 * Convergence: `events` writes from random nodes, `rate` per second cluster-wide (default one a second); for each,
 * the time until 99%, 99.9% and 100% of nodes hold it. With
 * `loseBroadcasts`, every gossip/ping/ack carrying table messages that the
 * writer sends in the 5 s after its write is dropped, so only anti-entropy
 * (sync responses and push-backs) can start the spread. `valueBytes` pads
 * each written value with a string of that many characters (the agent's
 * signed endpoint entries are a few hundred bytes).
 */
export function convergence (init: SimInit, events = 20, loseBroadcasts = false, rate = 1, valueBytes = 0): Results {
  const gapMs = 1000 / rate
  const sim = new Sim(init)
  const n = sim.nodes.length
  const gi = sim.cfg.gossipIntervalMs
  const holders = new Array<number>(events).fill(0)
  const startAt = new Array<number>(events).fill(0)
  const t99: number[] = []; const t999: number[] = []; const t100: number[] = []
  const need99 = Math.ceil(0.99 * n); const need999 = Math.ceil(0.999 * n)
  let done = 0
  for (const sn of sim.nodes) {
    let seen: Uint8Array | undefined
    sn.node.onEntry((ev: EntryEvent) => {
      if (ev.entry.table !== SIM_TABLE || ev.previousStatus !== undefined) return
      const e = Number(ev.entry.key)
      seen ??= new Uint8Array(events)
      if (seen[e] === 1) return
      seen[e] = 1
      const c = ++holders[e]!
      const dt = sim.now - (startAt[e] as number)
      if (c === need99) t99.push(dt)
      if (c === need999) t999.push(dt)
      if (c === n) { t100.push(dt); done++ }
    })
  }
  sim.runUntil(WARMUP_MS)
  const bytes0 = sim.bytesSent; const t0 = sim.now
  const kinds0 = new Map(sim.bytesByKind)
  // the steady window: while writes go out (first write to the last), as bench:contacts measures
  const writeEnd = WARMUP_MS + (events - 1) * gapMs
  let writeBytes = NaN; let writeKinds = kinds0
  const muted = new Map<number, number>()
  if (loseBroadcasts) sim.dropFilter = (from, msg) => msg.t !== 'push' && msg.tb !== undefined && (muted.get(from.index) ?? -1) > sim.now
  for (let e = 0; e < events; e++) {
    sim.at(WARMUP_MS + e * gapMs, () => {
      if (e === events - 1) { writeBytes = sim.bytesSent - bytes0; writeKinds = new Map(sim.bytesByKind) }
      const [i] = pick(sim, 1)
      if (loseBroadcasts) muted.set(i as number, sim.now + 5000)
      startAt[e] = sim.now
      ;(sim.nodes[i as number] as SimNode).node.set(sim.now, 'cluster', SIM_TABLE, String(e), valueBytes > 0 ? { e, from: i, pad: 'x'.repeat(valueBytes) } : { e, from: i })
    })
  }
  const deadline = WARMUP_MS + events * gapMs + 60_000
  sim.runUntil(deadline, () => done === events)
  for (let t = sim.now; done < events && t < deadline; t += 1000) sim.runUntil(t)
  const dur = (sim.now - t0) / 1000
  const writeS = (writeEnd - t0) / 1000
  const toRounds = (ms: number): number => ms / gi
  let learnedPush = 0; let learnedSync = 0; let pruned = 0
  for (const sn of sim.nodes) {
    const f = sn.node.stats().flow
    learnedPush += f.learnedPush; learnedSync += f.learnedSync; pruned += f.broadcastsPruned
  }
  return {
    nodes: n,
    events,
    events_complete: done,
    rounds_99_p50: round(toRounds(percentile(t99, 50)), 2),
    rounds_99_p99: round(toRounds(percentile(t99, 99)), 2),
    rounds_999_p50: round(toRounds(percentile(t999, 50)), 2),
    rounds_999_p99: round(toRounds(percentile(t999, 99)), 2),
    rounds_100_p50: round(toRounds(percentile(t100, 50)), 2),
    rounds_100_p99: round(toRounds(percentile(t100, 99)), 2),
    rounds_100_max: round(toRounds(Math.max(...t100)), 2),
    seconds_99_p50: round(percentile(t99, 50) / 1000),
    seconds_999_p50: round(percentile(t999, 50) / 1000),
    seconds_100_p50: round(percentile(t100, 50) / 1000),
    seconds_100_p99: round(percentile(t100, 99) / 1000),
    seconds_100_max: round(Math.max(...t100) / 1000),
    bytes_per_node_per_s: round((sim.bytesSent - bytes0) / n / dur, 1),
    messages_total: sim.messagesSent,
    learned_by_sync_share: round(learnedSync / Math.max(1, learnedPush + learnedSync), 3),
    broadcasts_pruned_per_node: round(pruned / n, 1),
    ...(Number.isNaN(writeBytes) || writeS === 0 || sim.bytesSent === 0
      ? {}
      : {
          measured_s: round(dur, 2),
          write_window_s: round(writeS, 2),
          write_window_bytes_per_node_per_s: round(writeBytes / n / writeS, 1),
          ...kindRates(kinds0, writeKinds, n, writeS, 'write_window_')
        })
  }
}

/** Bytes per node per second of each message kind between two `bytesByKind` snapshots, keyed `<prefix><kind>_bytes_per_node_per_s`. */
export function kindRates (from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>, n: number, seconds: number, prefix = ''): Results {
  const out: Results = {}
  for (const [k, b] of [...to].sort((x, y) => x[0] < y[0] ? -1 : 1)) out[`${prefix}${k.replace(/-/g, '_')}_bytes_per_node_per_s`] = round((b - (from.get(k) ?? 0)) / n / seconds, 1)
  return out
}

/** How slowed nodes misbehave in the failure scenario (see {@link failure}). */
export type SlowModelName = 'mixed' | 'pause' | 'lag' | 'latency'

/** Pauses of a paused node: each lasts 0.5-5 s, after 1-10 s of running. */
const PAUSE_MS: [number, number] = [500, 5000]
const RUN_BETWEEN_PAUSES_MS: [number, number] = [1000, 10_000]
/** A CPU-starved node handles each input 0.2-1.5 s late (probe timeout: 500 ms). */
const STARVED_LAG_MS: [number, number] = [200, 1500]
/** Traffic of a `latency`-slowed node takes this many times longer. */
const LATENCY_FACTOR = 10
/** Share of nodes slowed. */
const SLOW_FRACTION = 0.05
/** Slowed nodes stay slow this long after the last crash. */
const SLOW_TAIL_MS = 60_000

const between = (sim: Sim, [lo, hi]: [number, number]): number => lo + sim.rng.next() * (hi - lo)

/**
 * Failure detection under slowness: from the end of the warm-up, 5% of the
 * nodes are slowed (`slow`): `pause` nodes are paused as a whole for 0.5-5 s
 * after every 1-10 s of running (nothing handled, sent or timed; then a burst
 * of late work), `lag` nodes are CPU-starved (every input handled 0.2-1.5 s
 * late, so probes of them time out), `mixed` is half of each, `latency` is
 * the earlier kind model (10x latency, round trips stay under the probe
 * timeout). Meanwhile `crashes` other nodes crash, one every 2 s: the time
 * until every live node marks each dead (the agent withdraws its backends
 * then), and until every live node that is not slowed does. Slowness lasts
 * 60 s past the last crash; every live node marked dead by anyone is a false
 * positive, every suspicion of one a false suspicion.
 */
export function failure (init: SimInit, crashes = 20, slow: SlowModelName = 'mixed'): Results {
  const sim = new Sim(init)
  const n = sim.nodes.length
  crashes = Math.min(crashes, Math.floor(n / 4))
  const crashedAt = new Map<NodeId, number>()
  const deadCount = new Map<NodeId, number>()
  const healthyDeadCount = new Map<NodeId, number>()
  const detect: number[] = []; const detectHealthy: number[] = []
  const firstSuspect = new Map<NodeId, number>(); const firstDead = new Map<NodeId, number>()
  const slowedSet = new Set<number>()
  let falseDead = 0; let falseSuspect = 0; let pauses = 0
  const slowCount = Math.max(1, Math.round(SLOW_FRACTION * n))
  const liveAfterCrash = n - crashes
  for (const sn of sim.nodes) {
    sn.node.onMember(ev => {
      if (!sn.up) return
      const id = ev.member.id
      if (crashedAt.has(id)) {
        const since = sim.now - (crashedAt.get(id) as number)
        if (ev.member.state === 'suspect' && !firstSuspect.has(id)) firstSuspect.set(id, since)
        if (ev.member.state !== 'dead') return
        if (!firstDead.has(id)) firstDead.set(id, since)
        const c = (deadCount.get(id) ?? 0) + 1
        deadCount.set(id, c)
        if (c === liveAfterCrash) detect.push(sim.now - (crashedAt.get(id) as number))
        if (slowedSet.has(sn.index)) return
        const h = (healthyDeadCount.get(id) ?? 0) + 1
        healthyDeadCount.set(id, h)
        if (h === liveAfterCrash - slowedSet.size) detectHealthy.push(sim.now - (crashedAt.get(id) as number))
      } else if (ev.member.state === 'dead') {
        falseDead++
      } else if (ev.member.state === 'suspect') {
        falseSuspect++
      }
    })
  }
  sim.runUntil(WARMUP_MS)
  const victims = pick(sim, crashes)
  const slowed = pick(sim, slowCount, sn => sn.up && !victims.includes(sn.index))
  for (const i of slowed) slowedSet.add(i)
  const slowEnd = WARMUP_MS + crashes * 2000 + SLOW_TAIL_MS
  slowed.forEach((i, j) => {
    const kind = slow === 'mixed' ? (j % 2 === 0 ? 'pause' : 'lag') : slow
    const sn = sim.nodes[i] as SimNode
    if (kind === 'latency') {
      sn.slow = LATENCY_FACTOR
      sim.at(slowEnd, () => { sn.slow = 1 })
    } else if (kind === 'lag') {
      sim.starve(i, STARVED_LAG_MS)
      sim.at(slowEnd, () => { sim.starve(i, undefined) })
    } else {
      const next = (t: number): void => {
        if (t >= slowEnd) return
        sim.at(t, () => {
          const ms = between(sim, PAUSE_MS)
          pauses++
          sim.pause(i, ms)
          next(sim.now + ms + between(sim, RUN_BETWEEN_PAUSES_MS))
        })
      }
      next(WARMUP_MS + between(sim, RUN_BETWEEN_PAUSES_MS))
    }
  })
  victims.forEach((v, j) => {
    sim.at(WARMUP_MS + 2000 + j * 2000, () => {
      const sn = sim.nodes[v] as SimNode
      crashedAt.set(sn.id, sim.now)
      sim.crash(v)
    })
  })
  sim.runUntil(slowEnd + 30_000)
  return {
    nodes: n,
    crashes,
    detected: detect.length,
    detect_s_p50: round(percentile(detect, 50) / 1000),
    detect_s_p99: round(percentile(detect, 99) / 1000),
    detect_s_max: round(Math.max(...detect) / 1000),
    first_suspect_s_p50: round(percentile([...firstSuspect.values()], 50) / 1000),
    first_suspect_s_p99: round(percentile([...firstSuspect.values()], 99) / 1000),
    first_dead_s_p50: round(percentile([...firstDead.values()], 50) / 1000),
    first_dead_s_p99: round(percentile([...firstDead.values()], 99) / 1000),
    detect_healthy_s_p50: round(percentile(detectHealthy, 50) / 1000),
    detect_healthy_s_p99: round(percentile(detectHealthy, 99) / 1000),
    slowed_nodes: slowed.length,
    pauses,
    false_positives: falseDead,
    false_suspicions: falseSuspect,
    messages_total: sim.messagesSent
  }
}

/** Fingerprint of what a node's tables and member list say (for agreement checks). */
function fingerprint (sn: SimNode): string {
  const parts: string[] = []
  for (const e of sn.node.tables.entries('cluster')) parts.push(`${e.table}/${e.key}@${e.lamport}:${e.origin}:${e.status}`)
  parts.sort()
  return parts.join('|')
}

/**
 * Partition: split the cluster in two for 60 s (longer than the suspicion
 * timeout), write on both sides, heal, and time until every live table
 * agrees and every member sees every other alive.
 */
export function partition (init: SimInit, writesPerSide = 10): Results {
  const sim = new Sim(init)
  const n = sim.nodes.length
  for (const i of pick(sim, Math.min(10, n))) (sim.nodes[i] as SimNode).node.set(0, 'cluster', SIM_TABLE, `pre-${i}`, i)
  sim.runUntil(WARMUP_MS)
  const half = Math.floor(n / 2)
  for (const sn of sim.nodes) sn.group = sn.index < half ? 0 : 1
  const partMs = 60_000
  for (let w = 0; w < writesPerSide; w++) {
    sim.at(WARMUP_MS + 5000 + w * 1000, () => {
      const [a] = pick(sim, 1, sn => sn.group === 0)
      const [b] = pick(sim, 1, sn => sn.group === 1)
      ;(sim.nodes[a as number] as SimNode).node.set(sim.now, 'cluster', SIM_TABLE, `a-${w}`, w)
      ;(sim.nodes[b as number] as SimNode).node.set(sim.now, 'cluster', SIM_TABLE, `b-${w}`, w)
    })
  }
  sim.runUntil(WARMUP_MS + partMs)
  let deadSeen = 0
  for (const sn of sim.nodes) for (const m of sn.node.members(sim.now)) if (m.state === 'dead') deadSeen++
  const healAt = sim.now
  for (const sn of sim.nodes) sn.group = 0
  let tablesAgree = NaN; let membersAgree = NaN
  const limit = healAt + 300_000
  for (let t = healAt; t <= limit && (Number.isNaN(tablesAgree) || Number.isNaN(membersAgree)); t += 250) {
    sim.runUntil(t)
    if (Number.isNaN(tablesAgree)) {
      const f0 = fingerprint(sim.nodes[0] as SimNode)
      if (f0.includes(':live') && sim.nodes.every(sn => fingerprint(sn) === f0) && !f0.includes(':suspended')) tablesAgree = (t - healAt) / 1000
    }
    if (Number.isNaN(membersAgree)) {
      if (sim.nodes.every(sn => sn.node.members(sim.now).every(m => m.state === 'alive'))) membersAgree = (t - healAt) / 1000
    }
  }
  return {
    nodes: n,
    partition_s: partMs / 1000,
    dead_marks_at_heal: deadSeen,
    tables_agree_s: round(tablesAgree),
    members_agree_s: round(membersAgree),
    entries: (sim.nodes[0] as SimNode).node.tables.entries('cluster').length,
    messages_total: sim.messagesSent
  }
}

/**
 * Churn: every 2 s a random node stops announcing a restart and comes back
 * 5 s later with the same ID; counts members wrongly marked dead and times
 * until the restarted node is seen alive (not restarting) by all.
 */
export function churn (init: SimInit, restarts = 20): Results {
  const sim = new Sim(init)
  const n = sim.nodes.length
  restarts = Math.min(restarts, Math.floor(n / 2))
  let falseDead = 0
  let up = n
  const backAt = new Map<NodeId, number>()
  const seen = new Map<NodeId, Set<NodeId>>()
  const rejoin: number[] = []
  const hook = (sn: SimNode): void => {
    sn.node.onMember(ev => {
      if (!sn.up) return
      if (ev.member.state === 'dead') falseDead++
      const t = backAt.get(ev.member.id)
      if (t !== undefined && ev.member.state === 'alive' && !ev.member.restarting) {
        const s = seen.get(ev.member.id) as Set<NodeId>
        s.add(sn.id)
        // every node up right now (other than the restarted one) has seen it
        if (s.size >= up - 1) { rejoin.push(sim.now - t); backAt.delete(ev.member.id) }
      }
    })
  }
  for (const sn of sim.nodes) hook(sn)
  sim.runUntil(WARMUP_MS)
  const victims = pick(sim, restarts)
  victims.forEach((v, j) => {
    const t = WARMUP_MS + j * 2000
    sim.at(t, () => { sim.stopForRestart(v); up-- })
    sim.at(t + 5000, () => {
      const sn = sim.nodes[v] as SimNode
      backAt.set(sn.id, sim.now)
      seen.set(sn.id, new Set())
      up++
      sim.restart(v)
      hook(sn)
    })
  })
  sim.runUntil(WARMUP_MS + restarts * 2000 + 60_000)
  return {
    nodes: n,
    restarts,
    rejoined: rejoin.length,
    rejoin_s_p50: round(percentile(rejoin, 50) / 1000),
    rejoin_s_p99: round(percentile(rejoin, 99) / 1000),
    false_dead: falseDead,
    messages_total: sim.messagesSent
  }
}

/** Shape of the networks scenario. */
export interface NetworksInit {
  /** Network scopes. @default 1000 */
  networks?: number
  /** Nodes each network spans (chosen by seed). @default 50 */
  span?: number
  /** Entries written in each network before the warm-up (its standing state). @default 10 */
  preload?: number
  /** Writes in each measured phase (network-scoped, then cluster-wide), one every 100 ms. @default 20 */
  events?: number
  /** Told a line each virtual second of settling and at each phase (long runs: how far they got). */
  progress?: (line: string) => void
}

const NET_TABLE = 'simnet'
const NET_WRITE_EVERY_MS = 100
const NET_IDLE_MS = 5000
const NET_SETTLE_LIMIT_MS = 120_000
const NET_PHASE_TAIL_MS = 30_000

/**
 * Per-network scoping costs: `networks` network scopes, each joined by `span`
 * nodes chosen by seed, each holding `preload` entries written by its
 * members at the start. Settling: the time until every member of every
 * network sees all of that network's members (the cluster-scope `scopes`
 * claims) and holds all its entries. Then, each for a measured phase:
 * idle (no writes); `events` network-scoped writes (random network, random
 * member) every 100 ms, each timed until all the network's members hold it;
 * `events` cluster-wide writes, timed until every node holds it. Bytes per
 * node per second of each phase; entries held per node, network-scoped
 * (what a node holds) against what cluster-wide scoping would make every
 * node hold; `leaks` counts network entries that reached a non-member
 * (must be 0).
 */
export function networks (init: SimInit, opts: NetworksInit = {}): Results {
  const sim = new Sim(init)
  const n = sim.nodes.length
  const nets = opts.networks ?? 1000
  const span = Math.min(opts.span ?? 50, n)
  const preload = opts.preload ?? 10
  const events = opts.events ?? 20
  const gi = sim.cfg.gossipIntervalMs
  const name = (k: number): ScopeName => `network:n${k}`
  const membersOf: number[][] = []
  /** Per node: its networks (indexes). */
  const netsOf: number[][] = sim.nodes.map(() => [])
  for (let k = 0; k < nets; k++) {
    const m = pickFrom(sim, n, span)
    membersOf.push(m)
    for (const i of m) (netsOf[i] as number[]).push(k)
  }
  // network writes: holders count per write, leaks to non-members; cluster writes: holders per write
  const netHolders = new Array<number>(events).fill(0)
  const netStart = new Array<number>(events).fill(0)
  const clHolders = new Array<number>(events).fill(0)
  const clStart = new Array<number>(events).fill(0)
  const tNet: number[] = []; const tCl: number[] = []
  let leaks = 0; let netDone = 0; let clDone = 0
  for (const sn of sim.nodes) {
    const mine = new Set((netsOf[sn.index] as number[]).map(name))
    sn.node.onEntry((ev: EntryEvent) => {
      if (ev.previousStatus !== undefined) return
      const { scope, table } = ev.entry
      if (scope !== 'cluster' && !mine.has(scope)) leaks++
      if (table !== NET_TABLE) return
      if (scope === 'cluster') {
        const e = Number(ev.entry.key)
        if (++clHolders[e]! === n) { tCl.push(sim.now - (clStart[e] as number)); clDone++ }
        return
      }
      const w = Number(ev.entry.key.slice(1))
      if (++netHolders[w]! === span) { tNet.push(sim.now - (netStart[w] as number)); netDone++ }
    })
  }
  for (let k = 0; k < nets; k++) {
    const m = membersOf[k] as number[]
    for (const i of m) (sim.nodes[i] as SimNode).node.joinScope(0, name(k))
    for (let j = 0; j < preload; j++) {
      const w = m[j % m.length] as number
      ;(sim.nodes[w] as SimNode).node.set(0, name(k), 'standing', `e${j}`, { k, j })
    }
  }
  // settle: every member sees its networks' members and holds their standing entries
  const settled = (): boolean => {
    for (let k = 0; k < nets; k++) {
      for (const i of membersOf[k] as number[]) {
        const t = (sim.nodes[i] as SimNode).node.tables
        if (t.scopeMembers(name(k)).length !== span || t.entries(name(k), 'standing').length !== preload) return false
      }
    }
    return true
  }
  let settleMs = NaN
  const progress = opts.progress
  for (let t = 1000; t <= NET_SETTLE_LIMIT_MS; t += 1000) {
    sim.runUntil(t)
    if (progress !== undefined) {
      const claims = (sim.nodes[0] as SimNode).node.tables.entries('cluster', SCOPES_TABLE).length
      progress(`t=${t / 1000} s settling: node 0 holds ${claims} of ${n} claims; ${sim.messagesSent} messages`)
    }
    if (settled()) { settleMs = t; break }
  }
  progress?.(`settled at ${settleMs / 1000} s; idle phase`)
  const t0 = sim.now
  const phaseBytes = (from: number, fromT: number): number => (sim.bytesSent - from) / n / ((sim.now - fromT) / 1000)
  // idle
  let b0 = sim.bytesSent
  const k0 = new Map(sim.bytesByKind)
  sim.runUntil(t0 + NET_IDLE_MS)
  const idleBps = phaseBytes(b0, t0)
  const idleKinds = sim.bytesSent === 0 ? {} : kindRates(k0, sim.bytesByKind, n, (sim.now - t0) / 1000, 'idle_')
  // network-scoped writes
  progress?.(`t=${sim.now / 1000} s: network writes`)
  b0 = sim.bytesSent; const t1 = sim.now
  const k1 = new Map(sim.bytesByKind)
  for (let w = 0; w < events; w++) {
    sim.at(t1 + w * NET_WRITE_EVERY_MS, () => {
      const k = Math.floor(sim.rng.next() * nets)
      const m = membersOf[k] as number[]
      const writer = m[Math.floor(sim.rng.next() * m.length)] as number
      netStart[w] = sim.now
      ;(sim.nodes[writer] as SimNode).node.set(sim.now, name(k), NET_TABLE, `w${w}`, { w })
    })
  }
  const netEnd = t1 + events * NET_WRITE_EVERY_MS
  sim.runUntil(netEnd + NET_PHASE_TAIL_MS, () => netDone === events && sim.now >= netEnd)
  progress?.(`t=${sim.now / 1000} s: network writes done (${netDone} of ${events}); cluster writes`)
  const netBps = phaseBytes(b0, t1)
  const netKinds = sim.bytesSent === 0 ? {} : kindRates(k1, sim.bytesByKind, n, (sim.now - t1) / 1000, 'net_phase_')
  // cluster-wide writes, for comparison
  b0 = sim.bytesSent; const t2 = sim.now
  const clT0 = t2
  for (let e = 0; e < events; e++) {
    sim.at(t2 + e * NET_WRITE_EVERY_MS, () => {
      const [i] = pick(sim, 1)
      clStart[e] = sim.now
      ;(sim.nodes[i as number] as SimNode).node.set(sim.now, 'cluster', NET_TABLE, String(e), { e })
    })
  }
  const clEnd = t2 + events * NET_WRITE_EVERY_MS
  sim.runUntil(clEnd + NET_PHASE_TAIL_MS, () => clDone === events && sim.now >= clEnd)
  const clBps = phaseBytes(b0, t2)
  // state per node
  let netEntries = 0; let claims = 0; let scopes = 0; let pruned = 0
  for (const sn of sim.nodes) {
    const stats = sn.node.tables.stats()
    pruned += stats.broadcastsPruned
    const st = stats.entries
    for (const [scope, c] of Object.entries(st)) if (scope !== 'cluster') { netEntries += c; scopes++ }
    claims += sn.node.tables.entries('cluster', SCOPES_TABLE).length
  }
  const s = (ms: number): number => round(ms / 1000)
  return {
    nodes: n,
    networks: nets,
    span,
    networks_per_node_mean: round(scopes / n, 2),
    settle_s: s(settleMs),
    idle_bytes_per_node_per_s: round(idleBps, 1),
    net_writes: events,
    net_writes_complete: netDone,
    net_rounds_p50: round(percentile(tNet, 50) / gi, 2),
    net_rounds_p99: round(percentile(tNet, 99) / gi, 2),
    net_seconds_max: s(Math.max(...tNet)),
    net_phase_bytes_per_node_per_s: round(netBps, 1),
    leaks,
    cluster_writes_complete: clDone,
    cluster_rounds_p50: round(percentile(tCl, 50) / gi, 2),
    cluster_rounds_p99: round(percentile(tCl, 99) / gi, 2),
    cluster_phase_bytes_per_node_per_s: round(clBps, 1),
    net_entries_per_node_mean: round(netEntries / n, 1),
    net_entries_if_cluster_wide: nets * preload + events,
    scope_claims_per_node_mean: round(claims / n, 1),
    broadcasts_pruned_per_node_mean: round(pruned / n, 1),
    messages_total: sim.messagesSent,
    idle_s: s(NET_IDLE_MS),
    net_phase_s: s(clT0 - t1),
    ...idleKinds,
    ...netKinds
  }
}

/** `k` distinct indexes of `[0, n)` drawn with the sim's RNG (partial Fisher-Yates over a lazily filled swap map). */
function pickFrom (sim: Sim, n: number, k: number): number[] {
  const swapped = new Map<number, number>()
  const out: number[] = []
  for (let i = 0; i < k && i < n; i++) {
    const j = i + Math.floor(sim.rng.next() * (n - i))
    const a = swapped.get(j) ?? j
    swapped.set(j, swapped.get(i) ?? i)
    out.push(a)
  }
  return out
}
