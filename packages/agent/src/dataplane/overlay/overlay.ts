import { access } from 'node:fs/promises'
import {
  KernelCommandError, LB_IFNAME, OVERLAY_HOST_PORT_IFNAME, bridgeBatch, bridgeName, ipBatch, lbNetnsName, linkDelete, linkList, netnsAdd, netnsDelete, netnsList, overlayNetnsName, overlayNetnsPrefix, vxlanName,
  type Kernel, type KOpts, type LinkInfo
} from '../kernel/index.js'
import { KernelStateError } from '../kernel/errors.js'
import { overlayDiff, type OverlayNames, type OverlayView } from './view.js'

/** Bridge netfilter switches, off in an overlay netns (written only where the kernel has them: br_netfilter loaded). */
const BRIDGE_NF_KEYS = ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables', 'net.bridge.bridge-nf-call-arptables'] as const
const BRIDGE_NF_OFF = 'for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables /proc/sys/net/bridge/bridge-nf-call-arptables; do if [ -e $f ]; then echo 0 > $f; fi; done'

/**
 * Interface names of a network's overlay for an agent prefix; with
 * `inNetns` (`--overlay-netns`) the netns that holds its bridge and VXLAN
 * device, which is also the LB sandbox (named `<prefix>lb-<id>` too): the
 * bridge there is the sandbox's `lb0`, and the host keeps a veth `sb<hash>`.
 */
export function overlayNames (prefix: string, networkId: string, inNetns = false): OverlayNames {
  const bridge = bridgeName(prefix, networkId)
  const vxlan = vxlanName(prefix, networkId)
  if (!inNetns) return { bridge, vxlan }
  return { bridge: LB_IFNAME, vxlan, netns: overlayNetnsName(prefix, networkId), host: bridge, sandbox: lbNetnsName(prefix, networkId) }
}

/**
 * The layout of the previous version's `--overlay-netns`: bridge `sb<hash>`
 * in the overlay netns, the LB sandbox a netns of its own plugged by a veth.
 * Found only to be moved to the current layouts at adoption.
 */
export function separateSandboxOverlayNames (prefix: string, networkId: string): OverlayNames {
  return { bridge: bridgeName(prefix, networkId), vxlan: vxlanName(prefix, networkId), netns: overlayNetnsName(prefix, networkId) }
}

/**
 * The netns a network's bridge is in on this node, and the bridge's name
 * there: its overlay netns and `lb0` when that netns exists
 * (`/run/netns/<prefix>ov-<id>`: a file check, no process), else the
 * base netns (undefined) and `sb<hash>`. What plugs veths into the bridge asks this.
 */
export async function bridgeOf (prefix: string, networkId: string): Promise<{ netns: string | undefined, bridge: string }> {
  const ns = overlayNetnsName(prefix, networkId)
  return await access(`/run/netns/${ns}`).then(() => ({ netns: ns, bridge: LB_IFNAME }), () => ({ netns: undefined, bridge: bridgeName(prefix, networkId) }))
}

/** Give netns `name` a second name `alias` (a bind mount of `/run/netns/<name>`; one process, `sh` builtins and `mount`: what the agent image has). */
async function netnsAlias (k: Kernel, name: string, alias: string, opts: KOpts): Promise<void> {
  await k.run('sh', ['-c', ': > "/run/netns/$2" && mount --bind "/run/netns/$1" "/run/netns/$2"', 'sh', name, alias], { netns: null, signal: opts.signal })
}

/**
 * Switch bridge netfilter off in an overlay netns (one process). Made
 * with the netns, and again when an agent adopts it: `br_netfilter` loaded
 * after the netns was made (Docker loads it) turns it on there.
 */
export async function bridgeNfOff (k: Kernel, netns: string, opts: KOpts = {}): Promise<void> {
  await k.run('sh', ['-c', BRIDGE_NF_OFF], { netns, signal: opts.signal })
}

/** Whether a link of that name exists in a netns (an in-process read where it can). */
async function linkExists (k: Kernel, name: string, netns: string | undefined, opts: KOpts): Promise<boolean> {
  try {
    await k.run('ip', ['-j', 'addr', 'show', 'dev', name], { netns, signal: opts.signal })
    return true
  } catch (err) {
    if (err instanceof KernelCommandError && /Cannot find device|does not exist/.test(err.message)) return false
    throw err
  }
}

/**
 * What the periodic check finds wrong with an overlay netns's surroundings
 * (empty: nothing): the host's veth into the bridge gone (deleted behind the
 * agent's back: the host's mode=host routes and own traffic to the network
 * go through it), bridge netfilter on there (`br_netfilter` loaded after the
 * netns was made, or someone wrote 1). Reads in-process where it can.
 */
export async function overlayNetnsDrift (k: Kernel, names: OverlayNames, opts: KOpts = {}): Promise<string[]> {
  if (names.netns === undefined) return []
  const drift: string[] = []
  if (!await linkExists(k, names.host ?? names.bridge, undefined, opts)) drift.push(`host veth ${names.host ?? names.bridge}`)
  for (const key of BRIDGE_NF_KEYS) {
    const v = k.readSysctl === undefined ? undefined : await k.readSysctl(key, names.netns)
    if (v !== undefined && v !== '0') drift.push(`${key}=${v} in ${names.netns}`)
  }
  return drift
}

/**
 * Repair an overlay netns found by adoption: bridge netfilter off again, and
 * the host's veth into the bridge made again when it is missing (both ends
 * at `mtu`). Returns transactions issued.
 */
export async function repairOverlayNetns (k: Kernel, names: OverlayNames, mtu: number, opts: KOpts = {}): Promise<number> {
  const ns = names.netns
  if (ns === undefined) return 0
  await bridgeNfOff(k, ns, opts)
  const host = names.host ?? names.bridge
  if (await linkExists(k, host, undefined, opts)) return 1
  // the peer would still be in the netns only if the pair was half-deleted: a leftover host0 goes first
  if (await linkExists(k, OVERLAY_HOST_PORT_IFNAME, ns, opts)) await linkDelete(k, OVERLAY_HOST_PORT_IFNAME, ns, opts)
  await ipBatch(k, [`link add ${host} mtu ${mtu} type veth peer name ${OVERLAY_HOST_PORT_IFNAME} mtu ${mtu} netns ${ns}`, `link set ${host} up`], undefined, opts)
  await ipBatch(k, [`link set ${OVERLAY_HOST_PORT_IFNAME} master ${names.bridge}`, `link set ${OVERLAY_HOST_PORT_IFNAME} up`], ns, opts)
  return 3
}

/** Apply an overlay change with at most one `ip -batch` and one `bridge -batch` (an overlay netns made or changed: up to three more). Returns transactions issued. */
export async function applyOverlay (k: Kernel, names: OverlayNames, old: OverlayView | undefined, next: OverlayView, opts: KOpts = {}): Promise<number> {
  const { host, pre, ip, bridge } = overlayDiff(names, old, next)
  const ns = names.netns
  let tx = 0
  if (ns !== undefined && old === undefined) {
    // a half-made one (a crash during creation) is made again from scratch
    await netnsDelete(k, ns, opts)
    if (names.sandbox !== undefined) await netnsDelete(k, names.sandbox, opts)
    await linkDelete(k, names.host ?? names.bridge, undefined, opts)
    await netnsAdd(k, ns, opts)
    if (names.sandbox !== undefined) await netnsAlias(k, ns, names.sandbox, opts)
    await bridgeNfOff(k, ns, opts)
    tx += 2
  }
  for (const [lines, where] of [[pre, ns], [host, undefined], [ip, ns]] as const) {
    if (lines.length === 0) continue
    await ipBatch(k, lines, where, opts)
    tx++
  }
  await bridgeBatch(k, bridge, ns, opts)
  return tx + (bridge.length > 0 ? 1 : 0)
}

/** Delete a network's VXLAN device and bridge (whatever of them exists; with an overlay netns, the host's veth and the netns). Returns transactions issued. */
export async function removeOverlay (k: Kernel, names: OverlayNames, opts: KOpts = {}): Promise<number> {
  if (names.netns !== undefined) {
    // the veth and the VXLAN device synchronously: a netns frees its links later, and an overlay made again right after needs the names and the VNI
    let tx = (await linkDelete(k, names.host ?? names.bridge, undefined, opts)) ? 1 : 0
    const links = await linksOrUndefined(k, names.netns, opts)
    if (names.sandbox !== undefined) await netnsDelete(k, names.sandbox, opts)
    if (links === undefined) return tx
    if (links.some(l => l.ifname === names.vxlan)) tx += (await linkDelete(k, names.vxlan, names.netns, opts)) ? 1 : 0
    return tx + ((await netnsDelete(k, names.netns, opts)) ? 1 : 0)
  }
  const links = new Set((await linkList(k, undefined, opts)).map(l => l.ifname))
  const lines = [names.vxlan, names.bridge].filter(n => links.has(n)).map(n => `link del ${n}`)
  await ipBatch(k, lines, undefined, opts)
  return lines.length > 0 ? 1 : 0
}

/** Links of a netns; undefined when the netns does not exist. */
async function linksOrUndefined (k: Kernel, netns: string | undefined, opts: KOpts): Promise<LinkInfo[] | undefined> {
  if (netns === undefined) return await linkList(k, undefined, opts)
  if (await access(`/run/netns/${netns}`).then(() => false, () => true)) return undefined
  try {
    return await linkList(k, netns, opts)
  } catch (err) {
    if (err instanceof KernelCommandError) return undefined
    throw err
  }
}

/** Read a network's overlay back from the kernel; undefined when its bridge (or its overlay netns) does not exist. */
export async function readOverlay (k: Kernel, names: OverlayNames, networkId: string, opts: KOpts = {}): Promise<OverlayView | undefined> {
  const links = await linksOrUndefined(k, names.netns, opts)
  const br = links?.find(l => l.ifname === names.bridge && l.linkinfo?.info_kind === 'bridge')
  if (links === undefined || br === undefined) return undefined
  const vx = links.find(l => l.ifname === names.vxlan)
  // a VXLAN device whose MTU differs from the bridge's reads as MTU 0: never the desired one, so both are set again
  const mtu = vx === undefined || vx.mtu === br.mtu ? (br.mtu ?? 0) : 0
  const view: OverlayView = { networkId, mtu, vxlan: undefined, flood: new Set(), fdb: new Map(), neigh: new Map() }
  if (vx === undefined) return view
  const data = vx.linkinfo?.info_data ?? {}
  // an IPv6 underlay shows as `local6`
  view.vxlan = { vni: Number(data.id), local: String(data.local ?? data.local6) }
  const fdbOut = await k.run('bridge', ['-j', 'fdb', 'show', 'dev', names.vxlan], { netns: names.netns, signal: opts.signal })
  for (const e of parseArray(fdbOut, 'bridge -j fdb show') as Array<{ mac?: string, dst?: string }>) {
    if (e.dst === undefined || e.mac === undefined) continue
    if (e.mac === '00:00:00:00:00:00') view.flood.add(e.dst)
    else view.fdb.set(e.mac.toLowerCase(), e.dst)
  }
  const neighOut = await k.run('ip', ['-j', 'neigh', 'show', 'dev', names.vxlan], { netns: names.netns, signal: opts.signal })
  for (const e of parseArray(neighOut, 'ip -j neigh show') as Array<{ dst?: string, lladdr?: string }>) {
    if (e.dst !== undefined && e.lladdr !== undefined) view.neigh.set(e.dst, e.lladdr.toLowerCase())
  }
  return view
}

function parseArray (out: string, what: string): unknown[] {
  const parsed: unknown = JSON.parse(out.trim() === '' ? '[]' : out)
  if (!Array.isArray(parsed)) throw new KernelStateError(`${what}: expected an array`)
  return parsed
}

/**
 * Network IDs of this prefix's bridges (found by their alias), for adoption
 * of overlays without a sandbox: in the base netns, and with `inNetns` in
 * each overlay netns too.
 */
export async function listOverlayNetworks (k: Kernel, prefix: string, opts: KOpts = {}, inNetns = false): Promise<string[]> {
  const res: string[] = []
  const take = (links: readonly LinkInfo[], ns: string | undefined): void => {
    for (const l of links) {
      const id = l.ifalias
      if (id === undefined || id === '' || l.linkinfo?.info_kind !== 'bridge') continue
      // in an overlay netns the bridge is lb0 (or sb<hash>: the previous version's layout)
      if (ns === undefined ? l.ifname === bridgeName(prefix, id) : ns === overlayNetnsName(prefix, id) && (l.ifname === LB_IFNAME || l.ifname === bridgeName(prefix, id))) res.push(id)
    }
  }
  take(await linkList(k, undefined, opts), undefined)
  if (!inNetns) return res
  const pfx = overlayNetnsPrefix(prefix)
  for (const ns of await netnsList(k, opts)) {
    if (!ns.startsWith(pfx)) continue
    take(await linksOrUndefined(k, ns, opts) ?? [], ns)
  }
  return res
}
