import type { Kernel, NetnsRef } from './exec.js'
import { KernelCommandError, KernelStateError } from './errors.js'
import { IPV4, type AddressFamily } from '../spec/family.js'

/** Options common to kernel helpers. */
export interface KOpts {
  signal?: AbortSignal
}

/** Names of all named netns (`ip netns list`). */
export async function netnsList (k: Kernel, opts: KOpts = {}): Promise<string[]> {
  const out = await k.run('ip', ['-j', 'netns', 'list'], { netns: null, signal: opts.signal })
  if (out.trim() === '') return []
  const parsed: unknown = JSON.parse(out)
  if (!Array.isArray(parsed)) throw new KernelStateError('ip -j netns list: expected an array')
  return parsed.map((e: { name?: unknown }) => String(e.name))
}

/** Create a named netns and bring its loopback up (2 spawns). */
export async function netnsAdd (k: Kernel, name: string, opts: KOpts = {}): Promise<void> {
  await k.run('ip', ['netns', 'add', name], { netns: null, signal: opts.signal })
  await k.run('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { netns: null, signal: opts.signal })
}

/** Delete a named netns; a missing one is not an error. Returns whether it existed. */
export async function netnsDelete (k: Kernel, name: string, opts: KOpts = {}): Promise<boolean> {
  try {
    await k.run('ip', ['netns', 'delete', name], { netns: null, signal: opts.signal })
    return true
  } catch (err) {
    if (err instanceof KernelCommandError && /No such file|Invalid netns name|Cannot remove/.test(err.stderr)) return false
    throw err
  }
}

/**
 * Delete a link (`ip link del`, through the in-process batch where it loads);
 * a link that is not there is not an error. Returns whether it existed.
 */
export async function linkDelete (k: Kernel, name: string, netns?: NetnsRef, opts: KOpts = {}): Promise<boolean> {
  try {
    await ipBatch(k, [`link del ${name}`], netns, opts)
    return true
  } catch (err) {
    if (err instanceof KernelCommandError && /Cannot find device/.test(err.stderr)) return false
    throw err
  }
}

/** Run `ip -batch -` (in `netns` or the base netns): one spawn for many link/addr/neigh changes. */
export async function ipBatch (k: Kernel, lines: readonly string[], netns?: NetnsRef, opts: KOpts = {}): Promise<void> {
  if (lines.length === 0) return
  await k.run('ip', ['-batch', '-'], { netns, input: lines.join('\n') + '\n', signal: opts.signal })
}

/** Run `bridge -batch -`: one spawn for many FDB entries. */
export async function bridgeBatch (k: Kernel, lines: readonly string[], netns?: NetnsRef, opts: KOpts = {}): Promise<void> {
  if (lines.length === 0) return
  await k.run('bridge', ['-batch', '-'], { netns, input: lines.join('\n') + '\n', signal: opts.signal })
}

/**
 * Set sysctls (`key=value`) in a netns with one spawn, by writing
 * /proc/sys/... from `sh` (procps' `sysctl` is not on minimal Debian).
 */
export async function sysctlSet (k: Kernel, kv: readonly string[], netns?: NetnsRef, opts: KOpts = {}): Promise<void> {
  if (kv.length === 0) return
  const script = kv.map(entry => {
    const m = /^([a-z0-9_]+(?:\.[a-z0-9_]+)+)=([0-9]+)$/.exec(entry)
    if (m === null) throw new KernelStateError(`sysctl: refusing ${JSON.stringify(entry)} (expected key.path=number)`)
    return `echo ${m[2]} > /proc/sys/${m[1].replaceAll('.', '/')}`
  }).join(' && ')
  await k.run('sh', ['-c', script], { netns, signal: opts.signal })
}

/** One link as `ip -j link show` prints it (the fields scalelb reads). */
export interface LinkInfo {
  ifindex?: number
  ifname: string
  /** `ip link set ... alias`: scalelb stores the network ID there. */
  ifalias?: string
  address?: string
  master?: string
  mtu?: number
  /** ifindex of a veth's peer (in the peer's netns when `link_netnsid` is set). */
  link_index?: number
  link_netnsid?: number
  operstate?: string
  linkinfo?: { info_kind?: string, info_data?: Record<string, unknown> }
}

/** All links of a netns (`ip -d -j link show`). */
export async function linkList (k: Kernel, netns?: NetnsRef, opts: KOpts = {}): Promise<LinkInfo[]> {
  const out = await k.run('ip', ['-d', '-j', 'link', 'show'], { netns, signal: opts.signal })
  const parsed: unknown = JSON.parse(out === '' ? '[]' : out)
  if (!Array.isArray(parsed)) throw new KernelStateError('ip -j link show: expected an array')
  return parsed as LinkInfo[]
}

/** Addresses of one family (default IPv4) of a device, as `ip/prefix` strings. */
export async function addrList (k: Kernel, dev: string, netns?: NetnsRef, opts: KOpts = {}, family: AddressFamily = IPV4): Promise<string[]> {
  const out = await k.run('ip', ['-j', 'addr', 'show', 'dev', dev], { netns, signal: opts.signal })
  const parsed: unknown = JSON.parse(out === '' ? '[]' : out)
  if (!Array.isArray(parsed)) throw new KernelStateError('ip -j addr show: expected an array')
  const res: string[] = []
  for (const link of parsed as Array<{ addr_info?: Array<{ local?: string, prefixlen?: number, family?: string }> }>) {
    for (const a of link.addr_info ?? []) {
      if (a.family === family.ipFamily && a.local !== undefined) res.push(`${a.local}/${String(a.prefixlen)}`)
    }
  }
  return res
}

/** MTU of the interface holding `ip` in the base netns (the underlay), undefined when no interface has it. */
export async function mtuOfAddress (k: Kernel, ip: string, opts: KOpts = {}): Promise<number | undefined> {
  const out = await k.run('ip', ['-j', 'addr', 'show'], { signal: opts.signal })
  const parsed: unknown = JSON.parse(out === '' ? '[]' : out)
  if (!Array.isArray(parsed)) throw new KernelStateError('ip -j addr show: expected an array')
  for (const link of parsed as Array<{ mtu?: number, addr_info?: Array<{ local?: string }> }>) {
    if (typeof link.mtu === 'number' && (link.addr_info ?? []).some((a) => a.local === ip)) return link.mtu
  }
  return undefined
}
