/**
 * bench:dns — the agent's resolver against a reference resolver (unbound),
 * both driven by dnsperf from a task namespace, interleaved in one run.
 *
 * Namespaces (all named with the run's prefix): `c` (the task: dnsperf runs
 * here), `s` (the LB sandbox: the resolver's sockets are opened there by the
 * same helper the agent uses, and served by this process, as in the agent)
 * and `u` (unbound with every name in a local zone). Names: `svc-<i>` (A: the
 * VIP), `tasks.svc-<i>` (3 task IPs) and `fwd-<i>.ext.test` (scalelb forwards
 * it to an upstream: a second unbound on this namespace's loopback holding
 * `ext.test`; the reference answers it from its own zone). At 100 and 10,000
 * services: queries/s (dnsperf at full speed, 100 queries outstanding) and
 * latency p50/p99 at a moderate rate (dnsperf -v -Q).
 *
 * Run (root): npm run bench:dns -- [--seconds S] [--rate QPS] [--scales 100,10000]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createDnsResolver } from '../src/dns/resolver.js'
import type { NameSource } from '../src/dns/names.js'
import type { NetworkDesired } from '../src/dataplane/spec/types.js'
import type { EndpointRecord } from '../src/state/desired.js'
import type { NetworkValue, ServiceValue } from '../src/state/tables.js'
import { createRootLogger } from '../src/logging/logger.js'
import { BenchUsageError, intFlag, isRoot, percentile, printJsonLine, printTable, round, runBench, sh, type Cleanup } from './common.js'

/** Seconds of each throughput run (dnsperf -l). */
const DEFAULT_SECONDS = 5
/** Queries/s of the latency runs: a moderate load, where latency is the resolver's, not a queue's. */
const DEFAULT_RATE = 2000
const DEFAULT_SCALES = [100, 10_000]
/** Tasks per service (answers of `tasks.` names). */
const TASKS_PER_SERVICE = 3
/** Distinct names in each query file (cycled by dnsperf). */
const NAMES_PER_FILE = 10_000
/** Addresses inside the run's own namespaces only. */
const CLIENT_S = '10.214.0.1'
const SANDBOX = '10.214.0.2'
const CLIENT_U = '10.214.1.1'
const UNBOUND = '10.214.1.2'
const NET_ID = 'bench0000000000000000net'

type Kind = 'service' | 'tasks' | 'forwarded'
const KINDS: Kind[] = ['service', 'tasks', 'forwarded']
type Who = 'scalelb' | 'unbound'

function vip (i: number): string { return `10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}` }
function taskIp (i: number, k: number): string { return `10.${150 + k}.${Math.floor(i / 256) % 256}.${i % 256}` }
function name (kind: Kind, i: number): string {
  return kind === 'service' ? `svc-${i}` : kind === 'tasks' ? `tasks.svc-${i}` : `fwd-${i}.ext.test`
}

/** The tables of a network with `n` services of 3 tasks each (no changes during the run). */
function tables (n: number): NameSource & { subscribe: () => () => void } {
  const networks = new Map<string, NetworkValue>([[NET_ID, { name: 'bench', subnets: ['10.0.0.0/8'], vni: 4096, options: {} }]])
  const services = new Map<string, ServiceValue>()
  const endpoints = new Map<string, EndpointRecord>()
  for (let i = 0; i < n; i++) {
    services.set(`s${i}`, { name: `svc-${i}`, ports: [], vips: { [NET_ID]: vip(i) } })
    for (let k = 0; k < TASKS_PER_SERVICE; k++) {
      const key = `node/t${i}-${k}`
      endpoints.set(key, { key, status: 'live', value: { kind: 'task', service: `s${i}`, ip: taskIp(i, k), mac: '02:00:00:00:00:01', node: 'node', state: 'ready', originMs: 0 } })
    }
  }
  return { networks: () => networks, services: () => services, endpoints: (id) => id === NET_ID ? endpoints : undefined, networkScopes: () => [NET_ID], subscribe: () => () => {} }
}

function unboundConf (dir: string, iface: string, zone: string, lines: string[]): string {
  return [
    'server:',
    `  interface: ${iface}`,
    '  do-daemonize: no', '  chroot: ""', '  username: ""', `  directory: "${dir}"`, `  pidfile: "${join(dir, `${iface}.pid`)}"`,
    '  use-syslog: no', `  logfile: "${join(dir, 'unbound.log')}"`, '  verbosity: 0', '  num-threads: 1', '  do-ip6: no',
    '  access-control: 0.0.0.0/0 allow', '  module-config: "iterator"', '  msg-cache-size: 64m', '  rrset-cache-size: 64m',
    `  local-zone: "${zone}" static`,
    ...lines.map((l) => `  local-data: "${l}"`),
    'remote-control:', '  control-enable: no', ''
  ].join('\n')
}

async function freeUdpPort (): Promise<number> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  const p = s.address().port
  s.close()
  return p
}

/** Start unbound (in `netns` when given) and wait until it answers `probe`. */
async function startUnbound (cleanup: Cleanup, conf: string, netns: string | undefined, server: string, port: number, probe: string): Promise<ChildProcess> {
  const argv = ['unbound', '-d', '-c', conf]
  const child = netns === undefined ? spawn(argv[0] as string, argv.slice(1), { stdio: 'ignore' }) : spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: 'ignore' })
  cleanup.add(`unbound pid ${child.pid}`, async () => { if (child.exitCode === null) child.kill('SIGTERM') })
  for (let i = 0; i < 300; i++) {
    const ns = netns ?? ''
    const dig = ns === '' ? ['dig'] : ['ip', 'netns', 'exec', ns, 'dig']
    const out = await sh(dig[0] as string, [...dig.slice(1), '+short', '+tries=1', '+time=1', '-p', String(port), `@${server}`, probe]).catch(() => '')
    if (out.trim() !== '') return child
    if (child.exitCode !== null) throw new Error(`unbound (${conf}) exited with ${child.exitCode}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`unbound (${conf}) does not answer ${probe}`)
}

interface Figures { qps: number, lost: number, p50Ms: number, p99Ms: number }

async function dnsperf (client: string, server: string, file: string, seconds: number, rate: number): Promise<Figures> {
  const full = await sh('ip', ['netns', 'exec', client, 'dnsperf', '-s', server, '-d', file, '-l', String(seconds), '-c', '4', '-q', '100', '-t', '2'])
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(full)?.[1] ?? NaN)
  const lost = Number(/Queries lost:\s+(\d+)/.exec(full)?.[1] ?? NaN)
  const verbose = await sh('ip', ['netns', 'exec', client, 'dnsperf', '-s', server, '-d', file, '-l', String(Math.max(2, Math.ceil(seconds / 2))), '-Q', String(rate), '-v', '-t', '2'])
  const lat: number[] = []
  for (const line of verbose.split('\n')) {
    if (!line.startsWith('> ')) continue
    const x = Number(line.trim().split(/\s+/).pop())
    if (Number.isFinite(x)) lat.push(x * 1000)
  }
  lat.sort((a, b) => a - b)
  return { qps, lost, p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) }
}

function parse (argv: string[]): { seconds: number, rate: number, scales: number[] } {
  let values: { seconds?: string, rate?: string, scales?: string }
  try {
    values = parseArgs({ args: argv, options: { seconds: { type: 'string' }, rate: { type: 'string' }, scales: { type: 'string' } }, strict: true }).values
  } catch (err) {
    throw new BenchUsageError((err as Error).message)
  }
  const seconds = intFlag('--seconds', values.seconds, DEFAULT_SECONDS, 1, 600)
  const rate = intFlag('--rate', values.rate, DEFAULT_RATE, 10, 1_000_000)
  const scales = values.scales === undefined ? DEFAULT_SCALES : values.scales.split(',').map((s) => intFlag('--scales', s, 0, 1, 60_000))
  return { seconds, rate, scales }
}

runBench('bench:dns', 'sdb', async (run, cleanup) => {
  const { seconds, rate, scales } = parse(process.argv.slice(2))
  if (!isRoot()) throw new BenchUsageError('needs root (network namespaces, port 53 in them)')
  for (const tool of ['dnsperf', 'unbound', 'dig']) {
    await sh('sh', ['-c', `command -v ${tool}`]).catch(() => { throw new BenchUsageError(`needs ${tool} (Debian: apt-get install dnsperf unbound bind9-dnsutils)`) })
  }
  const dir = await mkdtemp(join(tmpdir(), `${run}-`))
  cleanup.add(`temp dir ${dir}`, async () => { await rm(dir, { recursive: true, force: true }) })
  const [c, s, u] = [`${run}c`, `${run}s`, `${run}u`]
  for (const ns of [c, s, u]) {
    await sh('ip', ['netns', 'add', ns])
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  }
  for (const [peer, mine, theirs, idx] of [[s, CLIENT_S, SANDBOX, 0], [u, CLIENT_U, UNBOUND, 1]] as const) {
    await sh('ip', ['-n', c, 'link', 'add', `v${idx}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer])
    await sh('ip', ['-n', c, 'addr', 'add', `${mine}/24`, 'dev', `v${idx}`])
    await sh('ip', ['-n', c, 'link', 'set', `v${idx}`, 'up'])
    await sh('ip', ['-n', peer, 'addr', 'add', `${theirs}/24`, 'dev', 'eth0'])
    await sh('ip', ['-n', peer, 'link', 'set', 'eth0', 'up'])
  }
  const maxN = Math.max(...scales)
  // the upstream scalelb forwards to: unbound on this namespace's loopback, holding ext.test
  const upPort = await freeUdpPort()
  const upConf = join(dir, 'upstream.conf')
  await writeFile(upConf, unboundConf(dir, `127.0.0.1@${upPort}`, 'ext.test.', Array.from({ length: maxN }, (_, i) => `${name('forwarded', i)}. 5 A 192.0.2.${i % 250}`)))
  await startUnbound(cleanup, upConf, undefined, '127.0.0.1', upPort, name('forwarded', 0))

  const rows: Array<Array<string | number>> = [['services', 'names', 'resolver', 'qps', 'lost', 'p50 ms', 'p99 ms']]
  const results: Record<string, number> = {}
  for (const n of scales) {
    // the reference: every name in a local zone
    const refConf = join(dir, `ref-${n}.conf`)
    const lines: string[] = []
    for (let i = 0; i < n; i++) {
      lines.push(`svc-${i}. 5 A ${vip(i)}`)
      for (let k = 0; k < TASKS_PER_SERVICE; k++) lines.push(`tasks.svc-${i}. 5 A ${taskIp(i, k)}`)
      lines.push(`${name('forwarded', i)}. 5 A 192.0.2.${i % 250}`)
    }
    await writeFile(refConf, unboundConf(dir, UNBOUND, '.', lines))
    const ref = await startUnbound(cleanup, refConf, u, UNBOUND, 53, 'svc-0')
    // scalelb: the resolver as the agent runs it, its sockets opened in the sandbox namespace
    const desired = new Map([[NET_ID, { sandbox: { networkId: NET_ID, lbAddresses: [`${SANDBOX}/24`], lbMac: '', services: [] } } as unknown as NetworkDesired]])
    const resolver = createDnsResolver({
      cache: tables(n), desired: () => desired, sandboxNetns: () => s, upstreams: [{ host: '127.0.0.1', port: upPort }],
      timeoutMs: 2000, ttlS: 5, logger: createRootLogger({ level: 'error' })
    })
    resolver.component.beforeStart?.()
    await resolver.component.start?.()
    resolver.component.afterStart?.()
    for (let i = 0; i < 200 && resolver.served().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    if (resolver.served().length === 0) throw new Error('the resolver did not open its sockets in the sandbox namespace')
    try {
      for (const kind of KINDS) {
        const file = join(dir, `${kind}-${n}.txt`)
        await writeFile(file, Array.from({ length: NAMES_PER_FILE }, (_, j) => `${name(kind, (j * 7919) % n)} A`).join('\n') + '\n')
        // interleaved: scalelb, then the reference, on the same names
        for (const [who, server] of [['scalelb', SANDBOX], ['unbound', UNBOUND]] as Array<[Who, string]>) {
          const f = await dnsperf(c, server, file, seconds, rate)
          rows.push([n, kind, who, round(f.qps, 0), f.lost, round(f.p50Ms, 3), round(f.p99Ms, 3)])
          results[`${kind}_${n}_${who}_qps`] = round(f.qps, 0)
          results[`${kind}_${n}_${who}_p50_ms`] = round(f.p50Ms, 3)
          results[`${kind}_${n}_${who}_p99_ms`] = round(f.p99Ms, 3)
          results[`${kind}_${n}_${who}_lost`] = f.lost
        }
        results[`${kind}_${n}_qps_ratio`] = round((results[`${kind}_${n}_scalelb_qps`] ?? 0) / (results[`${kind}_${n}_unbound_qps`] ?? 1), 3)
      }
    } finally {
      await resolver.component.stop?.('restart')
      if (ref.exitCode === null) {
        const gone = new Promise((resolve) => ref.once('exit', resolve))
        ref.kill('SIGTERM')
        await gone
      }
    }
  }
  printTable(rows)
  printJsonLine('dns', { seconds, latency_rate_qps: rate, scales, tasks_per_service: TASKS_PER_SERVICE, reference: 'unbound (local zone, 1 thread)' }, results)
})
