import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { CONFIG_KEYS, resolveConfig, type GossipConfig } from '../config.js'
import type { ProfileName } from '../types.js'
import { formatTable } from './report.js'
import { churn, convergence, failure, networks, partition, type Results, type ScenarioName, type SlowModelName } from './scenarios.js'

const USAGE = `usage: npm run sim -- [--nodes N] [--loss P] [--seed S] [--scenario convergence|failure|partition|churn|networks]
                     [--profile lan|wan|local] [--set option=value ...] [--events E] [--rate R] [--value-bytes B] [--no-bytes] [--lose-broadcasts]
                     [--slow mixed|pause|lag|latency] [--unsigned] [--networks K] [--span S] [--preload P]
Runs a deterministic gossip simulation (virtual time) and prints a table, then one JSON line.
Nodes sign and check membership facts and entries as in production; --unsigned turns that off for comparison.
--set overrides a GossipConfig option of the profile (e.g. --set suspicionMult=3 --set awarenessMax=1).
--slow: how the failure scenario's 5% slowed nodes misbehave (default mixed: half paused 0.5-5 s at a time,
half CPU-starved); see packages/gossip/README.md, Simulator.
--scenario networks: K network scopes (default 1000), each joined by S nodes chosen by seed (default 50),
each holding P entries (default 10); --events network-scoped and then cluster-wide writes are timed.
--rate: writes per second cluster-wide in the convergence scenario (default 1); --value-bytes pads each of its values.`

class UsageError extends Error { override name = 'UsageError' }

function num (v: string | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def
  const x = Number(v)
  if (!Number.isFinite(x) || x < min || x > max) throw new UsageError(`--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`)
  return x
}

function main (): number {
  let args
  try {
    args = parseArgs({
      options: {
        nodes: { type: 'string' },
        loss: { type: 'string' },
        seed: { type: 'string' },
        scenario: { type: 'string' },
        profile: { type: 'string' },
        events: { type: 'string' },
        rate: { type: 'string' },
        'value-bytes': { type: 'string' },
        'no-bytes': { type: 'boolean' },
        'lose-broadcasts': { type: 'boolean' },
        unsigned: { type: 'boolean' },
        set: { type: 'string', multiple: true },
        slow: { type: 'string' },
        networks: { type: 'string' },
        span: { type: 'string' },
        preload: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      },
      strict: true
    }).values
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    console.error(USAGE)
    return 2
  }
  if (args.help === true) { console.log(USAGE); return 0 }
  let nodes: number, loss: number, seed: number, events: number, rate: number, valueBytes: number, nets: number, span: number, preload: number
  const scenario = (args.scenario ?? 'convergence') as ScenarioName
  const profile = (args.profile ?? 'lan') as ProfileName
  const slow = (args.slow ?? 'mixed') as SlowModelName
  const overrides: Partial<GossipConfig> = {}
  try {
    nodes = Math.floor(num(args.nodes, 'nodes', 1000, 2, 100_000))
    loss = num(args.loss, 'loss', 0, 0, 0.9)
    seed = Math.floor(num(args.seed, 'seed', 1, 0, 2 ** 31))
    events = Math.floor(num(args.events, 'events', 20, 1, 1000))
    rate = num(args.rate, 'rate', 1, 0.01, 10_000)
    if (args.rate !== undefined && scenario !== 'convergence') throw new UsageError('--rate applies to the convergence scenario only')
    valueBytes = Math.floor(num(args['value-bytes'], 'value-bytes', 0, 0, 16 * 1024))
    if (args['value-bytes'] !== undefined && scenario !== 'convergence') throw new UsageError('--value-bytes applies to the convergence scenario only')
    nets = Math.floor(num(args.networks, 'networks', 1000, 1, 100_000))
    span = Math.floor(num(args.span, 'span', 50, 2, nodes))
    preload = Math.floor(num(args.preload, 'preload', 10, 0, 1000))
    if (!['convergence', 'failure', 'partition', 'churn', 'networks'].includes(scenario)) throw new UsageError(`--scenario must be convergence, failure, partition, churn or networks, got ${JSON.stringify(scenario)}`)
    if (!['lan', 'wan', 'local'].includes(profile)) throw new UsageError(`--profile must be lan, wan or local, got ${JSON.stringify(profile)}`)
    if (!['mixed', 'pause', 'lag', 'latency'].includes(slow)) throw new UsageError(`--slow must be mixed, pause, lag or latency, got ${JSON.stringify(slow)}`)
    for (const kv of args.set ?? []) {
      const m = /^([A-Za-z]+)=(.+)$/.exec(kv)
      if (m === null) throw new UsageError(`--set takes option=value, got ${JSON.stringify(kv)}`)
      const [, key, value] = m as unknown as [string, string, string]
      if (!CONFIG_KEYS.has(key)) throw new UsageError(`--set: unknown option ${JSON.stringify(key)} (one of ${[...CONFIG_KEYS].join(', ')})`)
      ;(overrides as Record<string, number>)[key] = num(value, `set ${key}`, NaN, 0, Number.MAX_SAFE_INTEGER)
    }
    resolveConfig(profile, overrides)
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    console.error(USAGE)
    return 2
  }
  const unsigned = args.unsigned === true
  const init = { nodes, seed, loss, profile, overrides, countBytes: args['no-bytes'] !== true, unsigned }
  const t0 = performance.now()
  let results: Results
  switch (scenario) {
    case 'convergence': results = convergence(init, events, args['lose-broadcasts'] === true, rate, valueBytes); break
    case 'failure': results = failure(init, events, slow); break
    case 'partition': results = partition(init); break
    case 'churn': results = churn(init, events); break
    case 'networks': {
      // progress to stderr: a long run shows how far it got (virtual time, wall and CPU time, RSS, V8 heap in use)
      const t0 = Date.now()
      const progress = (line: string): void => {
        const cpu = process.cpuUsage()
        const m = process.memoryUsage()
        process.stderr.write(`[${Math.round((Date.now() - t0) / 1000)} s wall, ${Math.round((cpu.user + cpu.system) / 1e6)} s cpu, ${Math.round(m.rss / 1e6)} MB, heap ${Math.round(m.heapUsed / 1e6)} MB] ${line}\n`)
      }
      results = networks(init, { networks: nets, span, preload, events, progress })
      break
    }
  }
  const wallS = Math.round((performance.now() - t0) / 10) / 100
  const rssMb = Math.round(process.memoryUsage().rss / 2 ** 20)
  const params = { scenario, nodes, loss, seed, profile, overrides, events, rate, ...(valueBytes > 0 ? { value_bytes: valueBytes } : {}), lose_broadcasts: args['lose-broadcasts'] === true, slow, signed: !unsigned, ...(scenario === 'networks' ? { networks: nets, span, preload } : {}) }
  console.log(formatTable(`gossip sim: ${scenario}, ${nodes} nodes, loss ${loss}, seed ${seed}, profile ${profile}, ${unsigned ? 'unsigned' : 'signed'}`, [
    ...Object.entries(results).map(([k, v]): [string, number] => [k, v]),
    ['wall_s (context only, not deterministic)', wallS],
    ['rss_mb at the end (context only)', rssMb]
  ]))
  console.log(JSON.stringify({ bench: `gossip-sim-${scenario}`, params, results: { ...results, wall_s: wallS, rss_mb: rssMb }, env: { node: process.version, cpus: cpus().length } }))
  return 0
}

process.exitCode = main()
