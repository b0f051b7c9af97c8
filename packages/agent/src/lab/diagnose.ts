import { lbNetnsPrefix } from '../dataplane/kernel/names.js'
import { inNetns, run } from './exec.js'
import type { LabState } from './state.js'

/** Commands whose output explains a data-plane problem in one netns. */
const NETNS_COMMANDS: ReadonlyArray<readonly string[]> = [
  ['ip', '-br', 'addr'],
  ['ip', 'neigh'],
  ['nft', 'list', 'ruleset']
]

/** Commands for a host netns: the same plus the bridges' forwarding tables (VXLAN FDB). */
const HOST_COMMANDS: ReadonlyArray<readonly string[]> = [
  ...NETNS_COMMANDS.filter((c) => c[2] !== 'ruleset'),
  ['bridge', 'fdb', 'show', 'dynamic'],
  ['bridge', 'fdb', 'show', 'permanent']
]

/** Commands for a task or client netns. */
const TASK_COMMANDS: ReadonlyArray<readonly string[]> = [
  ['ip', '-br', 'addr'],
  ['ip', 'route'],
  ['ip', 'neigh']
]

async function section (ns: string, cmd: readonly string[]): Promise<string> {
  const [f, a] = inNetns(ns, cmd[0] as string, cmd.slice(1))
  const r = await run(f, a, { allowFail: true, timeoutMs: 10_000 })
  const body = r.ok ? r.stdout : `(failed: ${r.stderr})`
  return `## ${ns}: ${cmd.join(' ')}\n${body.trimEnd()}`
}

/**
 * What the kernel of every lab host holds: addresses, neighbours and FDB of
 * each host netns, the rules of each LB sandbox the host's agent made, and
 * the addresses and routes of every task netns.
 * Printed when the demo or a test cannot reach what it expected, so a
 * failure carries the state that explains it. Never throws.
 */
export async function labDiagnostics (state: LabState): Promise<string> {
  if (state.mode !== 'netns') return '(loopback lab: no kernel state)'
  const out: string[] = []
  const all = (await run('ip', ['netns', 'list'], { allowFail: true })).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '')
  for (const h of state.hosts) {
    if (h.netns === undefined) continue
    for (const cmd of HOST_COMMANDS) out.push(await section(h.netns, cmd))
    for (const sb of all.filter((n) => n.startsWith(lbNetnsPrefix(h.netnsPrefix))).sort()) {
      for (const cmd of NETNS_COMMANDS) out.push(await section(sb, cmd))
    }
  }
  for (const t of all.filter((n) => n.startsWith(`${state.prefix}-t-`)).sort()) {
    for (const cmd of TASK_COMMANDS) out.push(await section(t, cmd))
  }
  return out.join('\n')
}
