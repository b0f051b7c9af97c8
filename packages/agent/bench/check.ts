/**
 * bench:check — what one periodic kernel check of the agent costs
 * (`Programmer.verify` of a network: its overlay's links, FDB and neighbour
 * entries, and its LB sandbox's generation and `lb0` addresses read back),
 * with the reads in-process over rtnetlink and with the `ip`/`bridge`
 * commands (the fallback), side by side on the same network.
 *
 * One host netns holds a network programmed as an agent of a --nodes
 * cluster would (one remote endpoint and one LB per other node); each
 * variant runs --rounds checks. CPU counts this process and the commands it
 * waited for (/proc/self/stat utime+stime+cutime+cstime).
 *
 * Run (root): npm run bench:check -- [--nodes 50] [--rounds 50] [--json]
 */
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { createKernel, netnsAdd } from '../src/dataplane/kernel/index.js'
import { createProgrammer, type NetworkDesired } from '../src/dataplane/programmer/index.js'
import { BenchUsageError, benchEnv, intFlag, isRoot, printJsonLine, printTable, round, runBench } from './common.js'

const NET = 'checknet000000000001'
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100

/** CPU seconds of this process and its waited-for children so far. */
function cpuS (): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // after the command name: state is field 3; utime, stime, cutime, cstime are fields 14-17
  return [11, 12, 13, 14].reduce((s, i) => s + Number(f[i]), 0) / USER_HZ
}

function mac (i: number): string {
  return `02:42:0a:5c:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`
}

function desired (nodes: number): NetworkDesired {
  const remotes = []
  for (let n = 2; n <= nodes; n++) {
    remotes.push({ ip: `10.92.${n}.10`, mac: mac(n * 2), underlay: `192.168.92.${n}` })
    remotes.push({ ip: `10.92.${n}.2`, mac: mac(n * 2 + 1), underlay: `192.168.92.${n}` })
  }
  return {
    sandbox: {
      networkId: NET,
      lbAddresses: ['10.92.1.2/16'],
      lbMac: mac(1),
      services: [{ id: 'web', vip: '10.92.0.100', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], backends: remotes.filter((r) => r.ip.endsWith('.10')).map((r) => ({ ip: r.ip, weight: 1, draining: false })) }]
    },
    overlay: { networkId: NET, vni: 92, subnets: ['10.92.0.0/16'], localUnderlay: '192.168.92.1', remotes },
    localTaskNetns: []
  }
}

async function main (run: string): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string' }, rounds: { type: 'string' }, json: { type: 'boolean' } } })
  const nodes = intFlag('nodes', values.nodes, 50, 2, 250)
  const rounds = intFlag('rounds', values.rounds, 50, 1, 10_000)
  if (!isRoot()) throw new BenchUsageError('bench:check needs root (network namespaces, nftables)')
  const host = `${run}host`
  await netnsAdd(createKernel(), host)
  const p = createProgrammer('nft', { netnsPrefix: run, kernel: createKernel({ baseNetns: host }) })
  await p.apply(desired(nodes))
  const rows: Array<{ variant: string, cpuMs: number, wallMs: number, spawns: number }> = []
  for (const inProcess of [false, true, false, true]) {
    const kernel = createKernel({ baseNetns: host, rtnlInProcess: inProcess })
    const q = createProgrammer('nft', { netnsPrefix: run, kernel })
    await q.adopt()
    if (!await q.verify(NET)) throw new Error('the adopted network does not verify')
    const s0 = kernel.spawns()
    const c0 = cpuS()
    const t0 = performance.now()
    for (let i = 0; i < rounds; i++) if (!await q.verify(NET)) throw new Error('a check found drift')
    rows.push({ variant: inProcess ? 'in-process (rtnetlink)' : 'ip/bridge commands', cpuMs: (cpuS() - c0) * 1000 / rounds, wallMs: (performance.now() - t0) / rounds, spawns: (kernel.spawns() - s0) / rounds })
  }
  // the second run of each variant (the first warms caches and loads koffi)
  const [cmd, inp] = [rows[2], rows[3]] as [typeof rows[number], typeof rows[number]]
  console.log(`one network as on an agent of ${nodes} nodes (${2 * (nodes - 1)} remote endpoints), ${rounds} checks per variant, ${benchEnv().cpus} cores shared`)
  printTable([
    ['variant', 'CPU ms per check (incl. commands)', 'wall ms per check', 'processes per check'],
    ...[cmd, inp].map((r) => [r.variant, round(r.cpuMs, 2), round(r.wallMs, 2), round(r.spawns, 1)])
  ])
  if (values.json === true) {
    printJsonLine('check', { nodes, rounds }, {
      command_cpu_ms: round(cmd.cpuMs, 2), command_wall_ms: round(cmd.wallMs, 2), command_spawns: cmd.spawns,
      in_process_cpu_ms: round(inp.cpuMs, 3), in_process_wall_ms: round(inp.wallMs, 3), in_process_spawns: inp.spawns
    })
  }
}

runBench('bench:check', 'hcc', async (run) => { await main(run) })
