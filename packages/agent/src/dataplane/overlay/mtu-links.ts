import { KernelCommandError, ipBatch, linkList, type Kernel, type KOpts, type NetnsRef } from '../kernel/index.js'
import type { OverlayNames } from './view.js'

/**
 * Bring every interface of a network on this node to `mtu`: the bridge, the
 * VXLAN device, every port of the bridge (host ends of the LB sandbox's and
 * the tasks' veths; in the overlay netns when the network has one) and, in
 * each of `peerNetns` (and the base netns, with an overlay netns), the far end of those veths
 * (the link whose peer ifindex is a port's, and whose ifindex that port
 * names as its peer). Used after adoption: an agent
 * of an earlier version left the task side of its veths at 1500. Reads one
 * link list per netns; changes at most one `ip -batch` per netns. A netns
 * that is gone (its task exited) is skipped. Returns transactions issued.
 */
export async function enforceLinkMtu (k: Kernel, names: OverlayNames, mtu: number, peerNetns: readonly NetnsRef[], opts: KOpts = {}): Promise<number> {
  // with an overlay netns the host's veth into the bridge is one more far end, in the base netns
  const farNetns: ReadonlyArray<NetnsRef | undefined> = names.netns === undefined ? peerNetns : [undefined, ...peerNetns]
  const links = await linkList(k, names.netns, opts)
  const ports = links.filter((l) => l.master === names.bridge)
  const lines = [names.bridge, names.vxlan, ...ports.map((p) => p.ifname)]
    .filter((n, i, all) => all.indexOf(n) === i)
    .filter((n) => links.some((l) => l.ifname === n && l.mtu !== mtu))
    .map((n) => `link set ${n} mtu ${mtu}`)
  let tx = 0
  if (lines.length > 0) {
    await ipBatch(k, lines, names.netns, opts)
    tx++
  }
  // a far end and its port name each other's ifindex (both ways: an index alone may repeat across netns)
  const peerOf = new Map(ports.filter((p) => p.ifindex !== undefined && p.link_index !== undefined).map((p) => [p.ifindex as number, p.link_index as number]))
  for (const ns of farNetns) {
    let peers
    try {
      peers = await linkList(k, ns, opts)
    } catch (err) {
      if (err instanceof KernelCommandError) continue
      throw err
    }
    const fix = peers
      .filter((l) => l.link_netnsid !== undefined && l.link_index !== undefined && peerOf.get(l.link_index) === l.ifindex && l.mtu !== mtu)
      .map((l) => `link set ${l.ifname} mtu ${mtu}`)
    if (fix.length === 0) continue
    await ipBatch(k, fix, ns, opts)
    tx++
  }
  return tx
}
