import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LAB_UNDERLAY_PREFIX_LEN, LAB_UNDERLAY_V6_PREFIX_LEN } from './constants.js'
import { LabError } from './errors.js'
import { inNetns, run } from './exec.js'
import { saveLabState, type LabState } from './state.js'

/** Name of a lab's switch netns: it holds the underlay bridge, so no firewall of the root netns (e.g. Docker's FORWARD drop with br_netfilter) sees lab traffic. */
export function switchNetnsName (prefix: string): string {
  return `${prefix}-sw`
}

/** Name of the underlay bridge inside the switch netns. */
export const UNDERLAY_BRIDGE = 'underlay'

/** Name of a lab netns (and of its veth end in the root netns). */
export function labNetnsName (prefix: string, short: string): string {
  const name = `${prefix}-${short}`
  if (name.length > 15) throw new LabError(`name ${name} is longer than 15 characters`)
  return name
}

/** IP of host `k` on the lab's underlay (`a.b.c.k`, or `<v6 /64>::k` hex on an IPv6 underlay). */
export function underlayIp (cidr: string, k: number): string {
  const base = cidr.split('/')[0] as string
  if (base.includes(':')) return `${base}${k.toString(16)}`
  const parts = base.split('.')
  return `${parts[0]}.${parts[1]}.${parts[2]}.${k}`
}

/** Run a command in netns `ns` (throws on failure). */
export async function nsRun (ns: string | undefined, file: string, args: readonly string[], input?: string): Promise<string> {
  const [f, a] = inNetns(ns, file, args)
  return (await run(f, a, { input })).stdout
}

/**
 * Create the underlay: a switch netns holding a bridge with no address.
 * Nothing is added to the root netns. Recorded in the state first.
 */
export async function createBridge (state: LabState): Promise<void> {
  const sw = switchNetnsName(state.prefix)
  state.bridge = `${sw}/${UNDERLAY_BRIDGE}`
  state.netns.push(sw)
  await saveLabState(state)
  await run('ip', ['netns', 'add', sw])
  await nsRun(sw, 'ip', ['-batch', '-'], [
    'link set lo up',
    `link add ${UNDERLAY_BRIDGE} type bridge`,
    `link set ${UNDERLAY_BRIDGE} up`
  ].join('\n') + '\n')
  // the switch only switches: no IPv6 link-local address, no forwarding between L3 interfaces
  await nsRun(sw, 'sysctl', ['-q', '-w', `net.ipv6.conf.${UNDERLAY_BRIDGE}.disable_ipv6=1`])
}

/**
 * Create netns `ns` with a veth `eth0` plugged into the underlay bridge,
 * holding `ip`. Recorded in the state before anything is made.
 */
export async function createUnderlayNetns (state: LabState, ns: string, ip: string): Promise<void> {
  // an IPv6 underlay: its /64, no duplicate address detection (the lab numbers its hosts)
  const addr = ip.includes(':') ? `${ip}/${LAB_UNDERLAY_V6_PREFIX_LEN} dev eth0 nodad` : `${ip}/${LAB_UNDERLAY_PREFIX_LEN} dev eth0`
  if (state.bridge === undefined) throw new LabError('the lab has no underlay bridge')
  const sw = switchNetnsName(state.prefix)
  const port = ns.slice(state.prefix.length + 1)
  state.netns.push(ns)
  await saveLabState(state)
  await run('ip', ['netns', 'add', ns])
  await nsRun(sw, 'ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
  await nsRun(sw, 'ip', ['link', 'set', port, 'master', UNDERLAY_BRIDGE, 'up'])
  await nsRun(ns, 'ip', ['-batch', '-'], [
    'link set lo up',
    'link set eth0 up',
    `addr add ${addr}`
  ].join('\n') + '\n')
}

/** Create a named netns with only loopback up (demo task and client namespaces). Recorded first. */
export async function createPlainNetns (state: LabState, ns: string): Promise<void> {
  state.netns.push(ns)
  await saveLabState(state)
  await run('ip', ['netns', 'add', ns])
  await nsRun(ns, 'ip', ['link', 'set', 'lo', 'up'])
}

/** Named netns whose names start with `prefix` (the lab's own and everything its agents made). */
export async function listNetnsWithPrefix (prefix: string): Promise<string[]> {
  const out = (await run('ip', ['netns', 'list'], { allowFail: true })).stdout
  return out.split('\n').map((l) => l.trim().split(' ')[0] as string).filter((n) => n !== '' && n.startsWith(prefix))
}

/** Root-netns links whose names start with `prefix`. */
export async function listLinksWithPrefix (prefix: string): Promise<string[]> {
  const out = (await run('ip', ['-o', 'link', 'show'], { allowFail: true })).stdout
  const names: string[] = []
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line)
    if (m !== null && (m[1] as string).startsWith(prefix)) names.push(m[1] as string)
  }
  return names
}

/** PIDs of processes running inside netns `ns`. */
export async function netnsPids (ns: string): Promise<number[]> {
  const out = (await run('ip', ['netns', 'pids', ns], { allowFail: true })).stdout
  return out.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 1)
}

/**
 * Delete a netns the lab made, and the files `ip netns exec` binds into it
 * (`/etc/netns/<name>`: the resolv.conf an agent wrote for a task there,
 * left behind when the agent was killed). True when the netns was deleted.
 */
export async function removeNetns (ns: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'del', ns], { allowFail: true })
  await rm(join('/etc/netns', ns), { recursive: true, force: true })
  return r.ok
}

/** The kernel's IPv4 neighbour (ARP) table limits, shared by every network namespace of the machine. */
const NEIGH_SYSCTL = '/proc/sys/net/ipv4/neigh/default'

/**
 * Neighbour entries a lab of `nodes` hosts needs at most: every host
 * resolves every other on the underlay, and its agent's overlay and LB
 * sandboxes hold a few per peer too.
 */
export function neighbourEntriesNeeded (nodes: number): number {
  return 4 * nodes * nodes + 1024
}

/**
 * Raise (never lower) the kernel's ARP table thresholds so a lab of `nodes`
 * hosts fits: the table is one for all namespaces, its default hard limit
 * (gc_thresh3) is 1,024 entries, and 33 hosts resolving each other already
 * fill it ("neighbor table overflow": new hosts then cannot reach the
 * seeds, EHOSTUNREACH). Returns what changed, for the progress line.
 */
export async function fitNeighbourTable (nodes: number): Promise<string | undefined> {
  const want3 = neighbourEntriesNeeded(nodes)
  const changed: string[] = []
  for (const [name, want] of [['gc_thresh2', Math.ceil(want3 / 2)], ['gc_thresh3', want3]] as const) {
    const path = join(NEIGH_SYSCTL, name)
    const have = Number.parseInt((await readFile(path, 'utf8')).trim(), 10)
    if (Number.isInteger(have) && have >= want) continue
    await writeFile(path, `${want}\n`)
    changed.push(`${name} ${have} -> ${want}`)
  }
  return changed.length === 0 ? undefined : `raised the kernel's ARP table limits for ${nodes} hosts (shared by all namespaces): ${changed.join(', ')}`
}
