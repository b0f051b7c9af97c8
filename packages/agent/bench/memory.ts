/**
 * bench:memory — where a real agent's resident memory goes: RSS split into
 * anonymous pages (V8 heap, malloc, stacks) and file pages (the node binary's
 * code and data, shared libraries), the V8 heap used/committed by space
 * (young generation, old, code, bytecode in `trusted`), and external
 * (ArrayBuffers, Buffers). Read from /proc/<pid>/status, /proc/<pid>/smaps and
 * the agent's own /metrics (prom-client's nodejs_heap_space_size_*).
 *
 * Two cases, each with Node's default flags and with the agent's
 * (`AGENT_NODE_FLAGS`, what bin/scalelb.js, the image and the lab start it
 * with), the two interleaved in one run:
 * - idle: a fresh agent, no networks, after --settle-ms;
 * - loaded: one network with --services x --backends tasks, created through
 *   the control API (all tasks on this node: `--ip` mode, the memory
 *   programmer holds the LB sandbox's model), then --settle-ms.
 *
 * The agents run with the memory programmer on loopback, a temp data dir,
 * no cluster key; each is stopped by PID and its files removed at the end
 * (also on Ctrl-C). Needs no root.
 *
 * `--try="[VAR=value ...] <node flags>"` (repeatable) adds a variant:
 * candidates measured beside the two (leading VAR=value words go to the
 * agent's environment, e.g. MALLOC_ARENA_MAX=2). `--bin` measures another build's bin/scalelb.js.
 * `--heap-snapshot-dir D` writes a V8 heap snapshot of each agent after its
 * sample (node --heapsnapshot-signal; summarise with heap-summary.ts).
 *
 * `--before path/to/scalelb.js` adds another build (agent flags) first, and the ratio is over it.
 *
 * Run: npm run bench:memory -- [--services 10000] [--backends 10] [--settle-ms 40000] [--bin path/to/scalelb.js] [--try="--max-semi-space-size=2"]
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { setTimeout as delay } from 'node:timers/promises'
import { freePort, spawnDetached, stopProcess, waitFor } from '@scalelb/lab'
import { createApiClient, type ApiClient } from '../src/api/client.js'
import { AGENT_NODE_FLAGS } from '../src/constants.js'
import { FEED_NETWORK, startFeeder, type Feeder } from './memory-feeder.js'
import { intFlag, printJsonLine, printTable, round, runBench, type Cleanup } from './common.js'

const DEFAULT_SERVICES = 10_000
const DEFAULT_BACKENDS = 10
/** Wait after start (or after loading) before sampling: the start-up garbage is collected, and the agent's memory trimmer (an RSS check every 10 s; a trim once RSS stopped growing, at least every 30 s) has run, by then. */
const DEFAULT_SETTLE_MS = 40_000
/** How long the agent may take to receive and program the loaded case. */
const LOAD_TIMEOUT_MS = 600_000
/** Poll interval while loading (two equal reads this far apart: programmed). */
const LOAD_POLL_MS = 2000
const AGENT_START_TIMEOUT_MS = 30_000
const BIN = fileURLToPath(new URL('../bin/scalelb.js', import.meta.url))
const MIB = 1024 * 1024
/** A `--try` word that sets an environment variable. */
const ENV_WORD = /^[A-Z_][A-Z0-9_]*=/
/** The agent's one local task in the loaded case (in the feeder's /8, below the feeder's addresses). */
const LOCAL_TASK_IP = '10.1.0.10'


/** One sample of a running agent, MiB. */
interface MemorySample {
  rss: number
  anon: number
  file: number
  /** File pages of the node executable (its code, read-only data: ICU, built-in JS sources). */
  nodeBinary: number
  heapUsed: number
  heapTotal: number
  /** Young generation committed (both semi-spaces). */
  newSpace: number
  oldUsed: number
  /** Machine code (code + code large-object space), used. */
  codeUsed: number
  /** Bytecode and other trusted objects (trusted spaces), used. */
  trustedUsed: number
  external: number
  /** Anonymous pages not held by live V8 objects or Buffers: malloc (OpenSSL, libuv, Node), thread stacks, V8's free and young-generation pages. */
  native: number
  /** Resident pages of the `[heap]` mapping: glibc's main malloc arena (brk). */
  brk: number
}

async function procKb (pid: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const line of (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n')) {
    const m = /^(VmRSS|RssAnon|RssFile):\s+(\d+) kB/.exec(line)
    if (m !== null) out[m[1] as string] = Number(m[2])
  }
  return out
}

/** CPU time the process used so far (user + system), seconds (/proc/<pid>/stat, in clock ticks of 1/100 s). */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // the fields after the command name (which may hold spaces): utime and stime are the 12th and 13th
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

/** Resident kB of the mappings of the node executable, and of `[heap]` (malloc's main arena). */
async function mappingsKb (pid: number): Promise<{ nodeBinary: number, brk: number }> {
  const exe = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((c) => c.split('\0')[0] as string)
  let what: 'nodeBinary' | 'brk' | undefined
  const kb = { nodeBinary: 0, brk: 0 }
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      const name = line.trimEnd()
      what = name.endsWith(exe) ? 'nodeBinary' : name.endsWith('[heap]') ? 'brk' : undefined
    } else if (what !== undefined && line.startsWith('Rss:')) kb[what] += Number(line.split(/\s+/)[1])
  }
  return kb
}

/** Gauges of the agent's /metrics: `name` or `name{space="x"}` -> value. */
async function scrape (metricsAddr: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${metricsAddr}/metrics`)).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^(nodejs_[a-z_]+(?:\{space="[a-z_]+"\})?) ([0-9.e+]+)$/.exec(line)
    if (m !== null) out.set(m[1] as string, Number(m[2]))
  }
  return out
}

async function sample (pid: number, metricsAddr: string): Promise<MemorySample> {
  const g = await scrape(metricsAddr)
  const st = await procKb(pid)
  const m = (k: string): number => (g.get(k) ?? 0) / MIB
  const space = (s: string, what: 'used' | 'total'): number => m(`nodejs_heap_space_size_${what}_bytes{space="${s}"}`)
  const anon = (st.RssAnon ?? 0) / 1024
  const heapUsed = m('nodejs_heap_size_used_bytes')
  const external = m('nodejs_external_memory_bytes')
  const maps = await mappingsKb(pid)
  return {
    rss: (st.VmRSS ?? 0) / 1024,
    anon,
    file: (st.RssFile ?? 0) / 1024,
    nodeBinary: maps.nodeBinary / 1024,
    heapUsed,
    heapTotal: m('nodejs_heap_size_total_bytes'),
    newSpace: space('new', 'total'),
    oldUsed: space('old', 'used'),
    codeUsed: space('code', 'used') + space('code_large_object', 'used'),
    trustedUsed: space('trusted', 'used') + space('trusted_large_object', 'used'),
    external,
    native: anon - heapUsed - external,
    brk: maps.brk / 1024
  }
}

/** Ask the agent for a heap snapshot (SIGUSR2) and wait until its file is complete. */
async function heapSnapshot (pid: number, dir: string): Promise<void> {
  const before = new Set(await readdir(dir))
  process.kill(pid, 'SIGUSR2')
  let file: string | undefined
  let size = -1
  await waitFor(`heap snapshot of pid ${pid} in ${dir}`, async () => {
    file ??= (await readdir(dir)).find((f) => !before.has(f) && f.includes(`.${pid}.`) && f.endsWith('.heapsnapshot'))
    if (file === undefined) return false
    const now = (await stat(join(dir, file))).size
    const done = now > 0 && now === size
    size = now
    if (!done) await delay(1000)
    return done
  }, { timeoutMs: LOAD_TIMEOUT_MS })
  console.log(`heap snapshot: ${join(dir, file as string)}`)
}

/** A started agent. */
interface RunningAgent {
  pid: number
  metricsAddr: string
  api: ApiClient
  stop: () => Promise<void>
}

async function startAgent (bin: string, words: readonly string[], tag: string, peers: readonly string[], cleanup: Cleanup): Promise<RunningAgent> {
  const env = Object.fromEntries(words.filter((w) => ENV_WORD.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]))
  const nodeFlags = words.filter((w) => !ENV_WORD.test(w))
  const dir = await mkdtemp(join(tmpdir(), `slb-bench-mem-${tag}-`))
  const socket = join(dir, 'api.sock')
  const metricsAddr = `127.0.0.1:${await freePort()}`
  const ref = spawnDetached({
    argv: [process.execPath, ...nodeFlags, bin, 'agent', '--insecure', '--programmer', 'memory', '--data-dir', dir, '--api-socket', socket,
      '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`, '--underlay-ip', '127.0.0.1', '--metrics-addr', metricsAddr, '--log-level', 'warn',
      ...peers.flatMap((a) => ['--join', a, '--insecure-unsigned-gossip'])],
    logFile: join(dir, 'agent.log'),
    env
  })
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await stopProcess(ref)
    await rm(dir, { recursive: true, force: true })
  }
  cleanup.add(`agent ${tag} pid ${ref.pid}`, stop)
  const api = createApiClient({ socketPath: socket }, 60_000)
  await waitFor(`agent ${tag} answers on ${socket} (log: ${join(dir, 'agent.log')})`, async () => {
    return await api.status().then(() => true, () => false)
  }, { timeoutMs: AGENT_START_TIMEOUT_MS })
  return { pid: ref.pid, metricsAddr, api, stop }
}

/** Gauges of the agent's /metrics whose name starts with `scalelb_` (labels kept in the key). */
async function scalelbGauges (metricsAddr: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${metricsAddr}/metrics`)).text()
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^(scalelb_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+]+)$/.exec(line)
    if (m !== null) out.set(m[1] as string, Number(m[2]))
  }
  return out
}

/**
 * Load the agent: it creates the network, the feeder publishes the services
 * and tasks on it by gossip, the agent adds one local task to the first
 * service (so it builds its LB sandbox); then wait until it holds every task
 * (network-scope entries) and its programmed objects stop changing.
 */
async function load (agent: RunningAgent, feeder: Feeder, services: number, backends: number, localIp: string): Promise<void> {
  const net = await agent.api.createNetwork({ name: FEED_NETWORK.name, subnets: [FEED_NETWORK.subnet] })
  feeder.populate(net.id, services, backends)
  await waitFor(`agent pid ${agent.pid} sees the feeder's first service`, async () => {
    return await agent.api.inspectService(feeder.firstService).then(() => true, () => false)
  }, { timeoutMs: LOAD_TIMEOUT_MS })
  await agent.api.addTask({ service: feeder.firstService, ip: localIp, networks: [FEED_NETWORK.name] })
  let last = -1
  await waitFor(`agent pid ${agent.pid} holds ${services} x ${backends} tasks, programmed`, async () => {
    // a busy agent (a large sync blocking its loop past the status server's request timeout) resets the scrape: poll again
    const g = await scalelbGauges(agent.metricsAddr).catch(() => undefined)
    if (g === undefined) {
      await delay(LOAD_POLL_MS)
      return false
    }
    const entries = g.get('scalelb_gossip_entries{kind="network"}') ?? 0
    const objects = g.get('scalelb_lb_kernel_objects') ?? 0
    const settled = entries >= services * backends && objects > services * backends && objects === last
    last = objects
    if (!settled) await delay(LOAD_POLL_MS)
    return settled
  }, { timeoutMs: LOAD_TIMEOUT_MS })
}

const ROWS: Array<[keyof MemorySample, string]> = [
  ['rss', 'RSS'], ['anon', '  anonymous'], ['file', '  file-backed'], ['nodeBinary', '    of it the node binary'],
  ['heapTotal', 'V8 heap committed'], ['heapUsed', 'V8 heap used'], ['newSpace', '  young generation committed'],
  ['oldUsed', '  old space used'], ['codeUsed', '  machine code used'], ['trustedUsed', '  bytecode (trusted) used'],
  ['external', 'external (Buffers)'], ['native', 'other anonymous (anon - used - external)'],
  ['brk', '  of anonymous: malloc main arena ([heap])']
]

/** JSON key of a field: `rss` -> `rss_mib`, `heapUsed` -> `heap_used_mib`. */
function key (f: string): string {
  return `${f.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_mib`
}

runBench('bench:memory', 'slbmem', async (_run, cleanup) => {
  const { values } = parseArgs({ options: { services: { type: 'string' }, backends: { type: 'string' }, 'settle-ms': { type: 'string' }, bin: { type: 'string' }, try: { type: 'string', multiple: true }, 'heap-snapshot-dir': { type: 'string' }, 'skip-defaults': { type: 'boolean' }, before: { type: 'string' }, json: { type: 'boolean' } }, strict: true })
  const services = intFlag('services', values.services, DEFAULT_SERVICES, 0, 60_000)
  const backends = intFlag('backends', values.backends, DEFAULT_BACKENDS, 1, 100)
  const settleMs = intFlag('settle-ms', values['settle-ms'], DEFAULT_SETTLE_MS, 0, 600_000)
  const bin = values.bin === undefined ? BIN : resolve(values.bin)
  const snapshotDir = values['heap-snapshot-dir'] === undefined ? undefined : resolve(values['heap-snapshot-dir'])
  const snapshotFlags = snapshotDir === undefined ? [] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`]

  const before = values.before === undefined ? [] : [{ name: `before (${values.before})`, key: 'before', flags: [...AGENT_NODE_FLAGS], bin: resolve(values.before) }]
  const variants: Array<{ name: string, key: string, flags: string[], bin?: string }> = [...before,
    ...(values['skip-defaults'] === true ? [] : [{ name: 'node defaults', key: 'default', flags: [] as string[] }]), { name: `agent (${AGENT_NODE_FLAGS.join(' ')})`, key: 'agent', flags: [...AGENT_NODE_FLAGS] },
    ...(values.try ?? []).map((f, i) => ({ name: f, key: `try${i + 1}`, flags: f.split(' ').filter((x) => x !== '') }))]
  const cases = [{ name: 'idle', services: 0 }, ...(services > 0 ? [{ name: `${services}x${backends}`, services }] : [])]
  const results: Record<string, number> = {}
  for (const c of cases) {
    const samples: MemorySample[] = []
    for (const v of variants) {
      const tag = `${c.name}-${v.key}`
      let feeder: Feeder | undefined
      if (c.services > 0) {
        const f = feeder = await startFeeder(await freePort())
        cleanup.add(`feeder ${tag}`, async () => { await f.stop() })
      }
      const agent = await startAgent(v.bin ?? bin, [...v.flags, ...snapshotFlags], tag, feeder === undefined ? [] : [feeder.addr], cleanup)
      let loadMs = 0
      if (feeder !== undefined) {
        const t0 = performance.now()
        await load(agent, feeder, c.services, backends, LOCAL_TASK_IP)
        loadMs = performance.now() - t0
      }
      await delay(settleMs)
      const s = await sample(agent.pid, agent.metricsAddr)
      const cpuS = await cpuSeconds(agent.pid)
      const g = await scalelbGauges(agent.metricsAddr)
      const trims = { count: g.get('scalelb_memory_trim_duration_seconds_count') ?? 0, ms: (g.get('scalelb_memory_trim_duration_seconds_sum') ?? 0) * 1000 }
      samples.push(s)
      if (snapshotDir !== undefined) await heapSnapshot(agent.pid, snapshotDir)
      await agent.stop()
      await feeder?.stop()
      const ck = c.services > 0 ? 'loaded' : 'idle'
      for (const [f] of ROWS) results[`${ck}_${v.key}_${key(f)}`] = round(s[f], 1)
      if (c.services > 0) results[`${ck}_${v.key}_load_s`] = round(loadMs / 1000, 1)
      results[`${ck}_${v.key}_cpu_s`] = round(cpuS, 1)
      results[`${ck}_${v.key}_trims`] = trims.count
      results[`${ck}_${v.key}_trim_ms_total`] = round(trims.ms, 0)
      console.log(`${tag}: ${trims.count} memory trims, ${round(trims.ms, 0)} ms in all (the loop blocked meanwhile); CPU ${round(cpuS, 1)} s since start${c.services > 0 ? `, loaded in ${round(loadMs / 1000, 1)} s` : ''}`)
    }
    console.log(`\n${c.name} agent (MiB)`)
    // this build over --before, else agent flags over node defaults (none without either)
    const baseKey = before.length > 0 ? 'before' : values['skip-defaults'] === true ? undefined : 'default'
    const def = samples[variants.findIndex((v) => v.key === baseKey)]
    const agent = samples[variants.findIndex((v) => v.key === 'agent')]
    const ratio = (f: keyof MemorySample): number | string => agent === undefined || def === undefined ? '' : round(agent[f] / def[f], 2)
    printTable([['', ...variants.map((v) => v.name), 'ratio'], ...ROWS.map(([f, label]) => [label, ...samples.map((s) => round(s[f], 1)), ratio(f)])])
    if (def !== undefined) console.log(`(ratio: agent over ${baseKey === 'before' ? 'before' : 'node defaults'})`)
    const ck = c.services > 0 ? 'loaded' : 'idle'
    if (def !== undefined) results[`${ck}_rss_agent_over_${baseKey as string}_ratio`] = ratio('rss') as number
  }
  printJsonLine('memory', { services, backends, settle_ms: settleMs, node_flags: AGENT_NODE_FLAGS.join(' ') }, results)
})
