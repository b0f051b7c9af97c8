/**
 * bench:cli — start-up cost of the `scalelb` command as a user runs it: wall
 * time of `scalelb --version` and of `scalelb status` against a running
 * agent, each a fresh `node packages/agent/bin/scalelb.js` process (the
 * built CLI), interleaved, with `node -e 0` as the floor Node itself sets
 * and `scalelb --version` with the gossip stack (libp2p) imported first, what
 * every command cost when the client entry loaded it.
 *
 * The agent is started here: memory programmer, loopback only, a temp data
 * dir, no cluster key; it is stopped by PID and its files removed at the end
 * (also on Ctrl-C). Needs no root.
 *
 * Run: npm run bench:cli -- [--runs N]
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createApiClient } from '../src/api/client.js'
import { freePort, spawnDetached, stopProcess, waitFor } from '@scalelb/lab'
import { intFlag, percentile, printJsonLine, printTable, round, runBench } from './common.js'

/** Runs per command (the figure is the median of 20). */
const DEFAULT_RUNS = 20
/** Unrecorded runs first: the first spawns warm the page cache. */
const WARMUP_RUNS = 2
/** How long the agent may take to answer on its socket. */
const AGENT_START_TIMEOUT_MS = 30_000

const BIN = fileURLToPath(new URL('../bin/scalelb.js', import.meta.url))
/** The gossip stack (libp2p): the client entry imported it before it was made light; loaded first here as the baseline. */
const GOSSIP = fileURLToPath(new URL('../../gossip/dist/index.js', import.meta.url))

/** Wall time (ms) of one process run; throws when it exits non-zero. */
async function timeRun (argv: readonly string[]): Promise<number> {
  const t0 = performance.now()
  const [code, err] = await new Promise<[number | null, string]>((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('error', reject)
    child.once('close', (c) => { resolve([c, stderr]) })
  })
  const ms = performance.now() - t0
  if (code !== 0) throw new Error(`node ${argv.join(' ')} exited ${String(code)}: ${err.trim()}`)
  return ms
}

runBench('bench:cli', 'slbcli', async (_run, cleanup) => {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, json: { type: 'boolean' } }, strict: true })
  const runs = intFlag('runs', values.runs, DEFAULT_RUNS, 1, 1000)

  const dir = await mkdtemp(join(tmpdir(), 'slb-bench-cli-'))
  cleanup.add(`rm ${dir}`, async () => { await rm(dir, { recursive: true, force: true }) })
  const socket = join(dir, 'api.sock')
  const agent = spawnDetached({
    argv: [process.execPath, BIN, 'agent', '--insecure', '--programmer', 'memory', '--data-dir', dir, '--api-socket', socket,
      '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`, '--underlay-ip', '127.0.0.1',
      '--metrics-addr', `127.0.0.1:${await freePort()}`, '--log-level', 'warn'],
    logFile: join(dir, 'agent.log')
  })
  cleanup.add(`agent pid ${agent.pid}`, async () => { await stopProcess(agent) })
  const api = createApiClient({ socketPath: socket }, 2000)
  await waitFor(`the agent answers on ${socket} (log: ${join(dir, 'agent.log')})`, async () => {
    return await api.status().then(() => true, () => false)
  }, { timeoutMs: AGENT_START_TIMEOUT_MS })

  const cases = [
    { name: 'node -e 0 (floor)', key: 'node_floor', argv: ['-e', '0'] },
    { name: 'scalelb --version', key: 'version', argv: [BIN, '--version'] },
    { name: 'scalelb status', key: 'status', argv: [BIN, 'status', '--socket', socket] },
    { name: 'scalelb --version, gossip loaded', key: 'version_gossip', argv: ['--import', GOSSIP, BIN, '--version'] }
  ] as const
  const samples = new Map<string, number[]>(cases.map((c) => [c.key, []]))
  for (let i = 0; i < WARMUP_RUNS + runs; i++) {
    for (const c of cases) {
      const ms = await timeRun(c.argv)
      if (i >= WARMUP_RUNS) samples.get(c.key)?.push(ms)
    }
  }

  const stats = (key: string): { p50: number, min: number, max: number } => {
    const xs = samples.get(key) ?? []
    return { p50: percentile(xs, 50), min: Math.min(...xs), max: Math.max(...xs) }
  }
  const floor = stats('node_floor').p50
  printTable([
    ['command', 'wall ms p50', 'min', 'max', 'over node -e 0, ms'],
    ...cases.map((c) => {
      const s = stats(c.key)
      return [c.name, round(s.p50, 1), round(s.min, 1), round(s.max, 1), round(s.p50 - floor, 1)]
    })
  ])
  const results: Record<string, number> = {}
  for (const c of cases) {
    const s = stats(c.key)
    results[`${c.key}_ms_p50`] = round(s.p50, 1)
    results[`${c.key}_ms_min`] = round(s.min, 1)
    results[`${c.key}_ms_max`] = round(s.max, 1)
  }
  results.version_over_floor_ratio = round(stats('version').p50 / floor, 2)
  results.status_over_floor_ratio = round(stats('status').p50 / floor, 2)
  results.version_gossip_over_version_ratio = round(stats('version_gossip').p50 / stats('version').p50, 2)
  printJsonLine('cli', { runs, warmup_runs: WARMUP_RUNS }, results)
})
