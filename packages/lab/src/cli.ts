/** `scalelb lab up|status|down`: argument parsing and printing. */
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_LAB_NODES, DEFAULT_LAB_STATE_DIR, LAB_PREFIX_HEAD_RE, LOG_TAIL_LINES } from './constants.js'
import { LabError, LabUsageError } from './errors.js'
import { isRoot } from '@scalelb/agent'
import { labDown, labStatus, labUp, type LabStatus } from './lab.js'
import { loadLabState } from './state.js'
import { runDemo } from './demo.js'
import { addUnderlayHelper } from './chaos.js'

const USAGE = `usage: scalelb lab [up|status|down] [options]   (no command: up)

commands:
  up       build N hosts, one agent each, joined into one cluster
  status   show the lab's hosts, agents and namespaces
  down     stop every process the lab started and remove everything it made

options:
  --nodes N          hosts to build (up; default ${DEFAULT_LAB_NODES})
  --demo             after up: a network, two services with tasks on every host, and traffic to each service by name (http://web/) from every host
  --outside          after up (root): an "outside" namespace on the underlay that is no cluster host, to reach published ports from
  --dual-stack       with --demo: the network has an IPv4 and an IPv6 subnet; clients reach each service by name and by its IPv6 VIP
  --underlay-v6      hosts talk over an IPv6 underlay (gossip and VXLAN over IPv6)
  --require-admission the cluster admits only nodes a manager admitted (each worker host gets an admission from the lab's manager key)
  --profile P        gossip profile of the agents: lan | wan | local (up; default: the agent's)
  --prefix HEAD      first 2-3 letters of the lab's namespaces and links (up; default sl)
  --state-dir DIR    where the lab keeps its state (default ${DEFAULT_LAB_STATE_DIR} as root, $TMPDIR/scalelb-lab-<uid> otherwise)
  --json             machine-readable output (status)
  -h, --help         this text

As root the hosts are network namespaces (<prefix>-h1...) on a bridge with no
address in the root namespace; without root the agents run on 127.0.0.1 with
the memory programmer and nothing in the kernel changes. h1 holds the
cluster's manager key: create networks and services there (the other hosts
are workers and refuse them).`

/** Default state dir for this user. */
export function defaultLabStateDir (): string {
  return isRoot() ? DEFAULT_LAB_STATE_DIR : join(tmpdir(), `scalelb-lab-${process.getuid?.() ?? 'user'}`)
}

function out (line: string): void {
  process.stdout.write(line + '\n')
}

function printStatus (s: LabStatus): void {
  out(`lab ${s.prefix} (${s.mode}${s.underlayCidr !== undefined ? `, underlay ${s.underlayCidr}` : ''}), up since ${s.createdAt}, state in ${s.dir}`)
  out('host  role     pid      agent    members  metrics')
  for (const h of s.hosts) {
    out(`${h.name.padEnd(5)} ${(h.manager ? 'manager' : 'worker').padEnd(8)} ${String(h.pid ?? '-').padEnd(8)} ${(h.running ? 'running' : 'stopped').padEnd(8)} ${String(h.aliveMembers ?? '-').padEnd(8)} ${h.metricsUrl}${h.netns !== undefined ? ` (from netns ${h.netns})` : ''}`)
  }
  if (s.mode === 'netns') out(`namespaces: ${s.netns.length} (${s.netns.join(' ')})`)
}

function parseNodes (raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LAB_NODES
  if (!/^\d+$/.test(raw)) throw new LabUsageError('--nodes', `expected a whole number, got ${JSON.stringify(raw)}`)
  return Number(raw)
}

/**
 * Entry of `scalelb lab ...` (argv after `lab`). Resolves the exit code:
 * 0 ok, 1 failure, 2 usage.
 */
export async function runLab (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        nodes: { type: 'string' },
        demo: { type: 'boolean' },
        outside: { type: 'boolean' },
        'dual-stack': { type: 'boolean' },
        'underlay-v6': { type: 'boolean' },
        'require-admission': { type: 'boolean' },
        profile: { type: 'string' },
        'state-dir': { type: 'string' },
        prefix: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    process.stderr.write(`scalelb lab: ${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    out(USAGE)
    return 0
  }
  // `scalelb lab --nodes 3 --demo` (no command) means `up`
  const cmd = positionals[0] ?? 'up'
  if (positionals.length > 1 || (cmd !== 'up' && cmd !== 'status' && cmd !== 'down')) {
    process.stderr.write(`scalelb lab: expected one command (up, status, down), got ${JSON.stringify(positionals.join(' '))}\n${USAGE}\n`)
    return 2
  }
  const stateDir = values['state-dir'] ?? defaultLabStateDir()
  try {
    if (!stateDir.startsWith('/')) throw new LabUsageError('--state-dir', `must be an absolute path, got ${JSON.stringify(stateDir)}`)
    if (values.profile !== undefined && !['lan', 'wan', 'local'].includes(values.profile)) {
      throw new LabUsageError('--profile', `must be lan, wan or local, got ${JSON.stringify(values.profile)}`)
    }
    if (values.prefix !== undefined && !LAB_PREFIX_HEAD_RE.test(values.prefix)) {
      throw new LabUsageError('--prefix', `must be 2-3 of [a-z0-9], starting with a letter, got ${JSON.stringify(values.prefix)}`)
    }
    if (cmd === 'up') return await cmdUp(stateDir, parseNodes(values.nodes), values.demo === true, values.profile, { dualStack: values['dual-stack'] === true, underlayV6: values['underlay-v6'] === true, requireAdmission: values['require-admission'] === true, outside: values.outside === true, prefixHead: values.prefix })
    const state = await loadLabState(stateDir)
    if (state === undefined) {
      process.stderr.write(`scalelb lab: no lab in ${stateDir}\n`)
      return cmd === 'down' ? 0 : 1
    }
    if (cmd === 'status') {
      const s = await labStatus(state)
      if (values.json === true) out(JSON.stringify(s, null, 2))
      else printStatus(s)
      return s.hosts.every((h) => h.running) ? 0 : 1
    }
    if (state.mode === 'netns' && !isRoot()) throw new LabError('this lab uses network namespaces: run `lab down` as root')
    const r = await labDown(state)
    out(`lab ${state.prefix} down: ${r.processesStopped} processes stopped, ${r.netnsRemoved.length} namespaces and ${r.linksRemoved.length} links removed`)
    return 0
  } catch (err) {
    const e = err as Error
    process.stderr.write(`scalelb lab ${cmd}: ${e.name}: ${e.message}\n`)
    return e instanceof LabUsageError ? 2 : 1
  }
}

async function cmdUp (stateDir: string, nodes: number, demo: boolean, profile: string | undefined, opts: { dualStack: boolean, underlayV6: boolean, requireAdmission: boolean, outside: boolean, prefixHead: string | undefined }): Promise<number> {
  const root = isRoot()
  if (!root) out('scalelb lab: not running as root: building the cluster on 127.0.0.1 with the memory programmer (run with sudo for network namespaces and nftables)')
  let state
  try {
    state = await labUp({
      nodes,
      stateDir,
      mode: root ? 'netns' : 'loopback',
      agentArgs: profile !== undefined ? ['--profile', profile] : [],
      progress: out,
      cleanupOnFailure: false,
      underlayV6: opts.underlayV6,
      requireAdmission: opts.requireAdmission,
      ...(opts.prefixHead === undefined ? {} : { prefixHead: opts.prefixHead })
    })
    if (opts.outside) {
      if (!root) throw new LabUsageError('--outside', 'needs root (network namespaces)')
      const o = await addUnderlayHelper(state, 'outside')
      out(`outside: netns ${o.netns}, ${o.ip} on the underlay (not a cluster host): ip netns exec ${o.netns} curl http://<host underlay IP>:<published port>/`)
    }
    if (demo) await runDemo({ state, print: out, dualStack: opts.dualStack })
  } catch (err) {
    const e = err as Error
    process.stderr.write(`scalelb lab up: ${e.name}: ${e.message}\n`)
    const left = state ?? await loadLabState(stateDir).catch(() => undefined)
    if (left !== undefined) {
      for (const h of left.hosts) {
        const tail = (await readFile(h.logFile, 'utf8').catch(() => '')).trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n')
        if (tail !== '') process.stderr.write(`--- last lines of ${h.name}'s agent log:\n${tail}\n`)
      }
      process.stderr.write('scalelb lab up: removing the half-built lab (`lab down`)\n')
      await labDown(left)
    }
    return e instanceof LabUsageError ? 2 : 1
  }
  printStatus(await labStatus(state))
  out(`stop it with: ${root ? 'sudo ' : ''}npm run lab -- down${stateDir !== defaultLabStateDir() ? ` --state-dir ${stateDir}` : ''}`)
  return 0
}
