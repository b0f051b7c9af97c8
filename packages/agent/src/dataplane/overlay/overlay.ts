import { bridgeBatch, bridgeName, ipBatch, linkList, vxlanName, type Kernel, type KOpts } from '../kernel/index.js'
import { KernelStateError } from '../kernel/errors.js'
import { overlayDiff, type OverlayView } from './view.js'

/** Interface names of a network's overlay for an agent prefix. */
export function overlayNames (prefix: string, networkId: string): { bridge: string, vxlan: string } {
  return { bridge: bridgeName(prefix, networkId), vxlan: vxlanName(prefix, networkId) }
}

/** Apply an overlay change with at most one `ip -batch` and one `bridge -batch`. Returns transactions issued. */
export async function applyOverlay (k: Kernel, names: { bridge: string, vxlan: string }, old: OverlayView | undefined, next: OverlayView, opts: KOpts = {}): Promise<number> {
  const { ip, bridge } = overlayDiff(names, old, next)
  await ipBatch(k, ip, undefined, opts)
  await bridgeBatch(k, bridge, undefined, opts)
  return (ip.length > 0 ? 1 : 0) + (bridge.length > 0 ? 1 : 0)
}

/** Delete a network's VXLAN device and bridge (whatever of them exists). Returns transactions issued. */
export async function removeOverlay (k: Kernel, names: { bridge: string, vxlan: string }, opts: KOpts = {}): Promise<number> {
  const links = new Set((await linkList(k, undefined, opts)).map(l => l.ifname))
  const lines = [names.vxlan, names.bridge].filter(n => links.has(n)).map(n => `link del ${n}`)
  await ipBatch(k, lines, undefined, opts)
  return lines.length > 0 ? 1 : 0
}

/** Read a network's overlay back from the kernel; undefined when its bridge does not exist. */
export async function readOverlay (k: Kernel, names: { bridge: string, vxlan: string }, networkId: string, opts: KOpts = {}): Promise<OverlayView | undefined> {
  const links = await linkList(k, undefined, opts)
  const br = links.find(l => l.ifname === names.bridge)
  if (br === undefined) return undefined
  const vx = links.find(l => l.ifname === names.vxlan)
  // a VXLAN device whose MTU differs from the bridge's reads as MTU 0: never the desired one, so both are set again
  const mtu = vx === undefined || vx.mtu === br.mtu ? (br.mtu ?? 0) : 0
  const view: OverlayView = { networkId, mtu, vxlan: undefined, flood: new Set(), fdb: new Map(), neigh: new Map() }
  if (vx === undefined) return view
  const data = vx.linkinfo?.info_data ?? {}
  // an IPv6 underlay shows as `local6`
  view.vxlan = { vni: Number(data.id), local: String(data.local ?? data.local6) }
  const fdbOut = await k.run('bridge', ['-j', 'fdb', 'show', 'dev', names.vxlan], { signal: opts.signal })
  for (const e of parseArray(fdbOut, 'bridge -j fdb show') as Array<{ mac?: string, dst?: string }>) {
    if (e.dst === undefined || e.mac === undefined) continue
    if (e.mac === '00:00:00:00:00:00') view.flood.add(e.dst)
    else view.fdb.set(e.mac.toLowerCase(), e.dst)
  }
  const neighOut = await k.run('ip', ['-j', 'neigh', 'show', 'dev', names.vxlan], { signal: opts.signal })
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

/** Network IDs of this prefix's bridges (found by their alias), for adoption of overlays without a sandbox. */
export async function listOverlayNetworks (k: Kernel, prefix: string, opts: KOpts = {}): Promise<string[]> {
  const res: string[] = []
  for (const l of await linkList(k, undefined, opts)) {
    const id = l.ifalias
    if (id !== undefined && id !== '' && l.ifname === overlayNames(prefix, id).bridge) res.push(id)
  }
  return res
}
