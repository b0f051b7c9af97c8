/**
 * bench:contacts — what one node's gossip traffic asks of its connections,
 * from the simulator (virtual time, seeded: the same seed prints the same
 * figures).
 *
 * Every node is the real sans-IO GossipNode (as in `npm run sim`). After a
 * warm-up, for --seconds of virtual time, every datagram and request a node
 * sends is recorded as a contact with its peer, and each node's open
 * connections are modelled as the libp2p transport keeps them: one
 * connection per pair (either side may have dialled it, both use it), at most
 * --cap open per node (the least recently used is closed on both sides, as
 * the connection manager does), closed after --idle-ms without traffic. A
 * contact with a peer without an open connection is a new dial (TCP + pnet +
 * Noise + Yamux; `npm run bench:conn` measures what one costs).
 *
 * Writes: --rate entries per second cluster-wide (0 = idle), each by a random
 * node into the cluster scope (every node receives every write: the worst
 * case; endpoint entries of a network scope reach only its members), keys
 * reused per writer (20 per node, as task endpoints are updated).
 *
 * Run: npm run bench:contacts -- [--nodes 1000,5000] [--rate 0,100] [--seconds 20] [--warmup 10] [--cap 128] [--idle-ms 60000] [--seed 1]
 */
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { LIBP2P_IDLE_TIMEOUT_MS, LIBP2P_MAX_CONNECTIONS } from '../src/transport/libp2p/constants.js'
import { randomBytes } from 'node:crypto'
import { encodeFrame } from '../src/codec/codec.js'
import type { MemberSnapshot } from '../src/codec/messages.js'
import { retransmitLimit } from '../src/config.js'
import { PUSH_PULL_INTERVAL_MS, RETRANSMIT_MULT } from '../src/constants.js'
import type { NodeOutput } from '../src/node.js'
import { Sim, type SimNode } from '../src/sim/engine.js'
import { percentile, round } from '../src/sim/report.js'
import { kindRates, type Results } from '../src/sim/scenarios.js'

class UsageError extends Error { override name = 'UsageError' }

interface Flags { nodes: number[], rates: number[], seconds: number, warmup: number, cap: number, idleMs: number, seed: number }

function list (name: string, raw: string | undefined, def: number[], min: number, max: number): number[] {
  if (raw === undefined) return def
  return raw.split(',').map((s) => {
    const x = Number(s)
    if (s === '' || !Number.isFinite(x) || x < min || x > max) throw new UsageError(`--${name}: each value must be a number in [${min}, ${max}], got ${JSON.stringify(s)}`)
    return x
  })
}

function flags (): Flags {
  const { values } = parseArgs({
    options: { nodes: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' }, cap: { type: 'string' }, 'idle-ms': { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' } },
    strict: true
  })
  const one = (name: string, raw: string | undefined, def: number, min: number, max: number): number => list(name, raw, [def], min, max)[0] as number
  return {
    nodes: list('nodes', values.nodes, [1000, 5000], 10, 20_000).map(Math.floor),
    rates: list('rate', values.rate, [0, 100], 0, 10_000),
    seconds: one('seconds', values.seconds, 20, 1, 3600),
    warmup: one('warmup', values.warmup, 10, 1, 3600),
    cap: Math.floor(one('cap', values.cap, LIBP2P_MAX_CONNECTIONS, 1, 100_000)),
    idleMs: one('idle-ms', values['idle-ms'], LIBP2P_IDLE_TIMEOUT_MS, 1, 86_400_000),
    seed: Math.floor(one('seed', values.seed, 1, 0, 2 ** 31))
  }
}

/** Per node: open connections (peer index -> last use), least recently used first. */
type Conns = Map<number, number>

/** A Sim whose nodes' sends are recorded as contacts once `tap` is set. */
class TappedSim extends Sim {
  tap: ((from: number, to: number) => void) | undefined

  override apply (sn: SimNode, out: NodeOutput): void {
    if (this.tap !== undefined && sn.up) {
      for (const { to } of out.send) {
        const t = this.byId.get(to)
        if (t !== undefined) this.tap(sn.index, t.index)
      }
      for (const { to } of out.requests) {
        const t = this.byId.get(to)
        if (t !== undefined) this.tap(sn.index, t.index)
      }
    }
    super.apply(sn, out)
  }
}

interface Run { nodes: number, rate: number, bytesPerNodePerS: number, byKind: Results, contactsPerNodePerS: number, dialsPerNodePerS: number, dialsPerNodePerSP99: number, handshakesPerNodePerS: number, distinctPeersP50: number, openConnsMean: number, hitRatio: number, wallS: number }

function runOne (f: Flags, nodes: number, rate: number): Run {
  const t0 = performance.now()
  const sim = new TappedSim({ nodes, seed: f.seed })
  const n = sim.nodes.length
  const conns: Conns[] = Array.from({ length: n }, () => new Map())
  const dials = new Uint32Array(n)
  const inbound = new Uint32Array(n)
  const distinct: Array<Set<number>> = Array.from({ length: n }, () => new Set())
  let contacts = 0
  let hits = 0
  const close = (a: number, b: number): void => { conns[a]?.delete(b); conns[b]?.delete(a) }
  const touch = (a: number, b: number, now: number): void => {
    const m = conns[a] as Conns
    m.delete(b)
    m.set(b, now)
    // over the cap: close the least recently used (first in order), on both sides
    while (m.size > f.cap) close(a, m.keys().next().value as number)
  }
  sim.tap = (a, b) => {
    const now = sim.now
    contacts++
    distinct[a]?.add(b)
    const last = conns[a]?.get(b)
    if (last !== undefined && now - last < f.idleMs) hits++
    else {
      if (last !== undefined) close(a, b)
      dials[a]++
      inbound[b]++
    }
    touch(a, b, now)
    touch(b, a, now)
  }
  // writes from the start, so the warm-up reaches the steady state
  if (rate > 0) {
    const gap = 1000 / rate
    const end = (f.warmup + f.seconds) * 1000
    let k = 0
    const write = (): void => {
      const i = Math.floor(sim.rng.next() * n)
      const sn = sim.nodes[i] as SimNode
      if (sn.up) sn.node.set(sim.now, 'cluster', 'bench', `${sn.id}/${k % 20}`, { k, ip: `10.0.${(k >> 8) & 255}.${k & 255}`, port: 8080 })
      k++
      if (sim.now + gap < end) sim.at(sim.now + gap, write)
    }
    sim.at(0, write)
  }
  // contacts start counting (and connections opening) at 0; figures come from the window after the warm-up
  sim.runUntil(f.warmup * 1000)
  const bytes0 = sim.bytesSent
  const kinds0 = new Map(sim.bytesByKind)
  const contacts0 = contacts
  const hits0 = hits
  dials.fill(0)
  inbound.fill(0)
  for (const s of distinct) s.clear()
  sim.runUntil((f.warmup + f.seconds) * 1000)
  const s = f.seconds
  const perNode = [...dials].map((d) => d / s)
  let open = 0
  let hs = 0
  for (let i = 0; i < n; i++) {
    open += (conns[i] as Conns).size
    hs += (dials[i] as number) + (inbound[i] as number)
  }
  return {
    nodes,
    rate,
    bytesPerNodePerS: round((sim.bytesSent - bytes0) / n / s, 1),
    byKind: kindRates(kinds0, sim.bytesByKind, n, s),
    contactsPerNodePerS: round((contacts - contacts0) / n / s, 2),
    dialsPerNodePerS: round(perNode.reduce((a, b) => a + b, 0) / n, 2),
    dialsPerNodePerSP99: round(percentile(perNode, 99), 2),
    handshakesPerNodePerS: round(hs / n / s, 2),
    distinctPeersP50: percentile(distinct.map((x) => x.size), 50),
    openConnsMean: round(open / n, 1),
    hitRatio: round((hits - hits0) / Math.max(1, contacts - contacts0), 3),
    wallS: round((performance.now() - t0) / 1000, 1)
  }
}

/**
 * Bytes of one push-pull request (the response is as big) at `n` members as
 * the agent has them: libp2p peer IDs (52 characters), one TCP address, a
 * signature each; and the push-pull interval at that size (memberlist's
 * scale: x(ceil(log2(n) - 5) + 1) beyond 32 members).
 */
function pushPull (n: number): { bytes: number, intervalS: number } {
  const b58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  const members: MemberSnapshot[] = []
  for (let i = 0; i < n; i++) {
    const r = randomBytes(44)
    let id = '12D3KooW'
    for (const x of r) id += b58[x % 58] as string
    members.push({ id, addrs: [`/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/7946`], state: 'alive', inc: 3, restarting: false, sig: new Uint8Array(randomBytes(64)) })
  }
  const mult = n <= 32 ? 1 : Math.ceil(Math.log2(n) - Math.log2(32)) + 1
  return { bytes: encodeFrame({ t: 'push-pull', join: false, members }).length, intervalS: PUSH_PULL_INTERVAL_MS * mult / 1000 }
}

function main (): number {
  let f: Flags
  try {
    f = flags()
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    return 2
  }
  const runs: Run[] = []
  for (const nodes of f.nodes) {
    for (const rate of f.rates) {
      const r = runOne(f, nodes, rate)
      runs.push(r)
      console.error(`done: ${nodes} nodes, ${rate}/s in ${r.wallS} s wall`)
    }
  }
  const head = ['nodes', 'writes/s', 'B/node/s', 'contacts/node/s', 'dials/node/s', 'p99 node', 'handshakes/node/s (in+out)', `distinct peers in ${f.seconds} s p50`, 'open conns mean', 'reuse ratio', 'wall s']
  const rows = runs.map((r) => [r.nodes, r.rate, r.bytesPerNodePerS, r.contactsPerNodePerS, r.dialsPerNodePerS, r.dialsPerNodePerSP99, r.handshakesPerNodePerS, r.distinctPeersP50, r.openConnsMean, r.hitRatio, r.wallS].map(String))
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  console.log(`gossip contacts and modelled connections: cap ${f.cap}, idle ${f.idleMs} ms, window ${f.seconds} s after ${f.warmup} s, seed ${f.seed}, lan profile, signed`)
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padStart(widths[i] as number)).join('  '))
  console.log('')
  console.log('bytes sent per node per second by message kind (datagrams by packet type; sync and push-pull exchanges):')
  for (const r of runs) console.log(`  ${r.nodes} nodes, ${r.rate}/s: ${Object.entries(r.byKind).map(([k, v]) => `${k.replace('_bytes_per_node_per_s', '')} ${v}`).join(', ')}`)
  console.log('')
  console.log('push-pull (not in the window: its first exchange is 0.5-1.5 intervals after start), at real ID and address lengths:')
  const results: Record<string, number> = {}
  for (const nodes of f.nodes) {
    const pp = pushPull(nodes)
    // each node starts one exchange per interval and answers one on average: 2 requests + 2 responses
    const perS = 4 * pp.bytes / pp.intervalS
    console.log(`  ${nodes} members: ${pp.bytes} B per request (as much per response), every ${pp.intervalS} s per node: ${round(perS, 0)} B/node/s sent + received (${round(perS / 2, 0)} sent); broadcast retransmits at this size: ${retransmitLimit(RETRANSMIT_MULT, nodes)}`)
    results[`n${nodes}_push_pull_bytes`] = pp.bytes
    results[`n${nodes}_push_pull_interval_s`] = pp.intervalS
    results[`n${nodes}_push_pull_bytes_per_node_per_s_sent`] = round(perS / 2, 0)
  }
  for (const r of runs) {
    const k = `n${r.nodes}_r${r.rate}`
    results[`${k}_bytes_per_node_per_s`] = r.bytesPerNodePerS
    results[`${k}_contacts_per_node_per_s`] = r.contactsPerNodePerS
    results[`${k}_dials_per_node_per_s`] = r.dialsPerNodePerS
    results[`${k}_dials_per_node_per_s_p99`] = r.dialsPerNodePerSP99
    results[`${k}_handshakes_per_node_per_s`] = r.handshakesPerNodePerS
    results[`${k}_distinct_peers_p50`] = r.distinctPeersP50
    results[`${k}_open_conns_mean`] = r.openConnsMean
    results[`${k}_reuse_ratio`] = r.hitRatio
    results[`${k}_wall_s`] = r.wallS
    for (const [kind, v] of Object.entries(r.byKind)) results[`${k}_${kind}`] = v
  }
  console.log(JSON.stringify({ bench: 'contacts', params: { nodes: f.nodes, rate: f.rates, seconds: f.seconds, warmup: f.warmup, cap: f.cap, idle_ms: f.idleMs, seed: f.seed }, results, env: { node: process.version, cpus: cpus().length } }))
  return 0
}

process.exitCode = main()
