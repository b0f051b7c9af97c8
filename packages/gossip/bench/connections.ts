/**
 * bench:conn — what a libp2p connection of the gossip transport costs, over
 * loopback, with the agent's transport (createLibp2pTransport: TCP + pnet +
 * Noise + Yamux, a cluster key, the agent's defaults unless said otherwise):
 *
 * - dial + handshake time of a new connection (a fresh peer dials a hub and
 *   gets its NodeId back), p50/p99, dials one after another, paced below the
 *   hub's 100 inbound connections per second per host, after 20 warm-up
 *   dials that are not recorded;
 * - CPU per dial: on the dialling side (this process, around the dials) and
 *   on the accepting side (the hub process, per accepted connection);
 * - memory per open connection at the hub (a child process that only holds
 *   connections: RSS, V8 heap and external after GC) at --steps open
 *   connections, each with the gossip stream a peer opens by sending a frame;
 *   the hub runs with a cap above the largest step;
 * - the cap: --churn peers dial a second hub that has the agent's default
 *   cap (128 connections), each sending a frame: open connections at the
 *   end, connections it closed (evicted), failed dials.
 *
 * No root, loopback only; every process and transport is stopped at the end,
 * also on SIGINT/SIGTERM.
 *
 * Run: npm run bench:conn -- [--steps 50,200,500] [--churn 300]
 */
import { fork, type ChildProcess } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createLibp2pTransport, generateClusterKey, generateNodeKey, parseClusterKey, type Libp2pTransport } from '../src/index.js'
import { LIBP2P_INBOUND_CONNECTIONS_PER_SECOND, LIBP2P_MAX_CONNECTIONS } from '../src/transport/libp2p/constants.js'
import { percentile, round } from '../src/sim/report.js'

const HERE = fileURLToPath(import.meta.url)
/** Least time between two dial starts (ms): below the hub's inbound rate limit per host. */
const DIAL_GAP_MS = Math.ceil(1000 / (0.8 * LIBP2P_INBOUND_CONNECTIONS_PER_SECOND))
/** A hub must have received every frame within this (ms). */
const FRAMES_DEADLINE_MS = 60_000
/** Idle timeout of the bench's peers and hubs (ms): connections stay open for the whole run. */
const PEER_IDLE_MS = 3_600_000
/** Dials made first and not recorded (their connections stay open and are not counted). */
const WARMUP_DIALS = 20
/** Bytes of the frame each peer sends (a small gossip packet). */
const FRAME_BYTES = 200

class UsageError extends Error { override name = 'UsageError' }

interface HubStats { rssB: number, heapB: number, externalB: number, cpuUs: number, conns: number, frames: number, evicted: number, dropped: Record<string, number> }
type HubReply = { t: 'ready', addr: string } | { t: 'stats', stats: HubStats }

// ---- hub (child process) ----------------------------------------------------

async function hub (maxConnections: number): Promise<void> {
  const key = process.env.SCALELB_BENCH_CLUSTER_KEY
  if (key === undefined) throw new Error('hub: SCALELB_BENCH_CLUSTER_KEY missing')
  const t = createLibp2pTransport({ privateKey: await generateNodeKey(), listen: ['/ip4/127.0.0.1/tcp/0'], clusterKey: parseClusterKey(key), maxConnections, idleTimeoutMs: PEER_IDLE_MS })
  let frames = 0
  t.onMessage(() => { frames++ })
  await t.start()
  const send = (m: HubReply): void => { process.send?.(m) }
  process.on('message', (m: { op: string }) => {
    if (m.op === 'stats') {
      const gc = (globalThis as { gc?: () => void }).gc
      gc?.(); gc?.()
      const mem = process.memoryUsage()
      const cpu = process.cpuUsage()
      const s = t.stats()
      send({ t: 'stats', stats: { rssB: mem.rss, heapB: mem.heapUsed, externalB: mem.external + mem.arrayBuffers, cpuUs: cpu.user + cpu.system, conns: t.connectionCount(), frames, evicted: s.evicted, dropped: s.dropped } })
    } else if (m.op === 'stop') {
      void t.stop().finally(() => process.exit(0))
    }
  })
  send({ t: 'ready', addr: `${t.addrs()[0] as string}` })
}

// ---- driver -----------------------------------------------------------------

class Hub {
  private waiting: { resolve: (r: HubReply) => void, reject: (err: Error) => void } | undefined
  addr = ''
  private constructor (readonly child: ChildProcess) {
    child.on('message', (m: HubReply) => { const w = this.waiting; this.waiting = undefined; w?.resolve(m) })
    child.on('exit', (code) => { const w = this.waiting; this.waiting = undefined; w?.reject(new Error(`hub exited ${String(code)}`)) })
  }

  static async start (maxConnections: number, clusterKey: string, children: Set<ChildProcess>): Promise<Hub> {
    const child = fork(HERE, ['--role', 'hub', '--max-connections', String(maxConnections)], { execArgv: process.execArgv, env: { ...process.env, SCALELB_BENCH_CLUSTER_KEY: clusterKey }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.add(child)
    child.on('exit', () => children.delete(child))
    const h = new Hub(child)
    const r = await h.next()
    if (r.t !== 'ready') throw new Error('hub: expected ready')
    h.addr = r.addr
    return h
  }

  private async next (): Promise<HubReply> {
    return await new Promise((resolve, reject) => { this.waiting = { resolve, reject } })
  }

  async stats (): Promise<HubStats> {
    this.child.send({ op: 'stats' })
    const r = await this.next()
    if (r.t !== 'stats') throw new Error('hub: expected stats')
    return r.stats
  }

  /** Stats once the hub has received `frames` frames (or the deadline passed). */
  async statsAfter (frames: number): Promise<HubStats> {
    const until = performance.now() + FRAMES_DEADLINE_MS
    for (;;) {
      const s = await this.stats()
      if (s.frames >= frames || performance.now() > until) return s
      await sleep(100)
    }
  }

  async stop (): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    this.child.send({ op: 'stop' })
    await Promise.race([exited, sleep(5000)])
    if (this.child.exitCode === null) this.child.kill('SIGKILL')
  }
}

async function sleep (ms: number): Promise<void> { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface DialRun { latMs: number[], cpuUs: number, failed: number }

/** Each peer dials `addr` (paced), then sends one frame (its gossip stream). */
async function dialAll (peers: Libp2pTransport[], addr: string): Promise<DialRun> {
  const frame = new Uint8Array(FRAME_BYTES).fill(7)
  const latMs: number[] = []
  let cpuUs = 0
  let failed = 0
  let last = 0
  for (const p of peers) {
    const wait = last + DIAL_GAP_MS - performance.now()
    if (wait > 0) await sleep(wait)
    last = performance.now()
    const c0 = process.cpuUsage()
    try {
      const id = await p.dial(addr)
      const c = process.cpuUsage(c0)
      latMs.push(performance.now() - last)
      cpuUs += c.user + c.system
      p.send(id, frame)
    } catch {
      failed++
    }
  }
  return { latMs, cpuUs, failed }
}

async function main (): Promise<number> {
  let values
  try {
    values = parseArgs({ options: { steps: { type: 'string' }, churn: { type: 'string' }, role: { type: 'string' }, 'max-connections': { type: 'string' }, json: { type: 'boolean' } }, strict: true }).values
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    return 2
  }
  if (values.role === 'hub') {
    await hub(Number(values['max-connections'] ?? LIBP2P_MAX_CONNECTIONS))
    return 0
  }
  let steps: number[]
  let churn: number
  try {
    steps = (values.steps ?? '50,200,500').split(',').map((s) => {
      if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 2000) throw new UsageError(`--steps: each value must be a whole number in [1, 2000], got ${JSON.stringify(s)}`)
      return Number(s)
    }).sort((a, b) => a - b)
    churn = Number(values.churn ?? 300)
    if (!/^\d+$/.test(values.churn ?? '300') || churn > (steps.at(-1) as number)) throw new UsageError(`--churn: must be a whole number up to the largest step (${steps.at(-1) as number}), got ${JSON.stringify(values.churn)}`)
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    return 2
  }
  const max = steps.at(-1) as number
  const clusterKey = generateClusterKey()
  const psk = parseClusterKey(clusterKey)
  const children = new Set<ChildProcess>()
  const peers: Libp2pTransport[] = []
  let stopping = false
  const cleanup = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    await Promise.allSettled(peers.map(async (p) => { await p.stop() }))
    for (const c of children) c.kill('SIGTERM')
  }
  const onSignal = (code: number) => () => { void cleanup().finally(() => process.exit(code)) }
  process.once('SIGINT', onSignal(130))
  process.once('SIGTERM', onSignal(143))
  try {
    const big = await Hub.start(max + 64, clusterKey, children)
    const capped = await Hub.start(LIBP2P_MAX_CONNECTIONS, clusterKey, children)
    // warm-up (JIT, first-use allocations) on both sides, not recorded; these connections stay open
    const warm: Libp2pTransport[] = []
    for (let i = 0; i < WARMUP_DIALS; i++) warm.push(createLibp2pTransport({ privateKey: await generateNodeKey(), listen: [], clusterKey: psk, idleTimeoutMs: PEER_IDLE_MS }))
    await Promise.all(warm.map(async (p) => { await p.start() }))
    peers.push(...warm)
    await dialAll(warm, big.addr)
    const base = await big.statsAfter(WARMUP_DIALS)
    const rows: Array<{ conns: number, rssKiB: number, heapKiB: number, extKiB: number, hubCpuUs: number }> = []
    const lat: number[] = []
    let dialCpuUs = 0
    let dialFailed = 0
    let prev = base
    for (const step of steps) {
      const fresh: Libp2pTransport[] = []
      while (peers.length - WARMUP_DIALS + fresh.length < step) {
        fresh.push(createLibp2pTransport({ privateKey: await generateNodeKey(), listen: [], clusterKey: psk, idleTimeoutMs: PEER_IDLE_MS }))
      }
      await Promise.all(fresh.map(async (p) => { await p.start() }))
      peers.push(...fresh)
      const d = await dialAll(fresh, big.addr)
      lat.push(...d.latMs)
      dialCpuUs += d.cpuUs
      dialFailed += d.failed
      const s = await big.statsAfter(step + WARMUP_DIALS)
      rows.push({ conns: s.conns - base.conns, rssKiB: (s.rssB - base.rssB) / 1024, heapKiB: (s.heapB - base.heapB) / 1024, extKiB: (s.externalB - base.externalB) / 1024, hubCpuUs: (s.cpuUs - prev.cpuUs) / Math.max(1, fresh.length) })
      prev = s
      console.error(`${step} connections open at the hub (${s.conns} counted, ${s.frames} frames)`)
    }
    // the cap: `churn` peers dial a hub with the default cap
    const c0 = await capped.stats()
    const ch = await dialAll(peers.slice(WARMUP_DIALS, WARMUP_DIALS + churn), capped.addr)
    const c1 = await capped.statsAfter(churn)
    const dialsOk = lat.length

    console.log(`libp2p connections over loopback (TCP + pnet + Noise + Yamux), dials paced at <= ${Math.round(1000 / DIAL_GAP_MS)}/s, one after another`)
    console.log('')
    console.log(`dial + handshake, ${dialsOk} new connections: p50 ${round(percentile(lat, 50), 2)} ms, p99 ${round(percentile(lat, 99), 2)} ms, failed ${dialFailed}`)
    console.log(`CPU per dial: dialling side ${round(dialCpuUs / Math.max(1, dialsOk) / 1000, 2)} ms, accepting side ${round((prev.cpuUs - base.cpuUs) / max / 1000, 2)} ms (hub process, incl. its first gossip frame)`)
    console.log('')
    console.log('open at hub   RSS delta KiB   heap delta KiB   external delta KiB   per conn: RSS KiB   heap KiB   ext KiB   hub CPU ms per accept')
    for (const r of rows) {
      console.log([r.conns, round(r.rssKiB, 0), round(r.heapKiB, 0), round(r.extKiB, 0), round(r.rssKiB / r.conns, 1), round(r.heapKiB / r.conns, 1), round(r.extKiB / r.conns, 1), round(r.hubCpuUs / 1000, 2)].map((x, i) => String(x).padStart(i === 0 ? 11 : [15, 16, 20, 19, 10, 9, 23][i - 1] as number)).join(' '))
    }
    console.log('')
    console.log(`cap ${LIBP2P_MAX_CONNECTIONS} (agent default): ${churn} peers dialled one after another -> ${c1.conns} open, ${c1.evicted - c0.evicted} evicted by the transport, ${ch.failed} dials failed, ${c1.frames - c0.frames} of ${churn} frames received, dial p50 ${round(percentile(ch.latMs, 50), 2)} ms`)
    const last = rows.at(-1) as (typeof rows)[number]
    const results: Record<string, number> = {
      dial_ms_p50: round(percentile(lat, 50), 2),
      dial_ms_p99: round(percentile(lat, 99), 2),
      dials: dialsOk,
      dials_failed: dialFailed,
      dial_cpu_ms_dialler: round(dialCpuUs / Math.max(1, dialsOk) / 1000, 3),
      dial_cpu_ms_acceptor: round((prev.cpuUs - base.cpuUs) / max / 1000, 3),
      cap_open_conns: c1.conns,
      cap_evicted: c1.evicted - c0.evicted,
      cap_dials_failed: ch.failed,
      cap_frames_received: c1.frames - c0.frames,
      cap_dial_ms_p50: round(percentile(ch.latMs, 50), 2)
    }
    for (const r of rows) {
      results[`rss_kib_per_conn_at_${r.conns}`] = round(r.rssKiB / r.conns, 1)
      results[`heap_kib_per_conn_at_${r.conns}`] = round(r.heapKiB / r.conns, 1)
      results[`external_kib_per_conn_at_${r.conns}`] = round(r.extKiB / r.conns, 1)
    }
    results.rss_mib_at_max = round(last.rssKiB / 1024, 1)
    console.log(JSON.stringify({ bench: 'conn', params: { steps, churn, dial_gap_ms: DIAL_GAP_MS, frame_bytes: FRAME_BYTES, cap: LIBP2P_MAX_CONNECTIONS }, results, env: { node: process.version, cpus: cpus().length } }))
    await Promise.all([big.stop(), capped.stop()])
    return 0
  } finally {
    await cleanup()
  }
}

process.exitCode = await main()
