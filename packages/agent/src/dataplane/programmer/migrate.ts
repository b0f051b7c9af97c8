import { OVERLAY_HOST_PORT_IFNAME, ipBatch, linkList, netnsDelete, type Kernel, type KOpts } from '../kernel/index.js'
import { applyOverlay, type OverlayNames, type OverlayView } from '../overlay/index.js'
import { DEFAULT_OVERLAY_MTU_BYTES } from '../spec/constants.js'

/** The base netns as a path another netns can name (`ip link set X netns <path>`). */
function basePath (k: Kernel): string {
  const b = k.baseNetns
  if (b === undefined) return `/proc/${process.pid}/ns/net`
  return b.includes('/') ? b : `/run/netns/${b}`
}

/**
 * Move a network's overlay from one layout to the other (the host's own
 * netns, or an overlay netns of its own: `--overlay-netns` switched on or off
 * between two runs of the agent): the old bridge and VXLAN device are
 * deleted, the new ones made with the same view (`old`, read back), and
 * every other port of the old bridge (the LB sandbox's and the tasks'
 * veths, whose far ends stay where they are) moved to the new bridge.
 * Traffic of the network stops for the few batches this takes.
 */
export async function migrateOverlay (k: Kernel, from: OverlayNames, to: OverlayNames, old: OverlayView, opts: KOpts = {}): Promise<void> {
  const links = await linkList(k, from.netns, opts)
  const ports = links.filter((l) => l.master === from.bridge && l.ifname !== from.vxlan && l.ifname !== OVERLAY_HOST_PORT_IFNAME).map((l) => l.ifname)
  const hasVx = links.some((l) => l.ifname === from.vxlan)
  if (from.netns === undefined) {
    // the ports stay here, unplugged, until the new bridge takes them
    await ipBatch(k, [...(hasVx ? [`link del ${from.vxlan}`] : []), `link del ${from.bridge}`], undefined, opts)
  } else {
    // `link set ... netns` is not in the in-process subset: a process, whose base netns path is this process's
    const base = basePath(k)
    await ipBatch(k, [...(hasVx ? [`link del ${from.vxlan}`] : []), ...ports.map((p) => `link set ${p} netns ${base}`)], from.netns, opts)
    await ipBatch(k, [`link del ${from.host ?? from.bridge}`], undefined, opts)
    await netnsDelete(k, from.netns, opts)
    // the sandbox's name of it (the sandbox goes with the netns: made again by the next apply)
    if (from.sandbox !== undefined) await netnsDelete(k, from.sandbox, opts)
  }
  const view: OverlayView = { ...old, mtu: old.mtu > 0 ? old.mtu : DEFAULT_OVERLAY_MTU_BYTES }
  await applyOverlay(k, to, undefined, view, opts)
  if (ports.length === 0) return
  const plug = ports.flatMap((p) => [`link set ${p} master ${to.bridge}`, `link set ${p} up`])
  if (to.netns !== undefined) await ipBatch(k, ports.map((p) => `link set ${p} netns ${to.netns as string}`), undefined, opts)
  await ipBatch(k, plug, to.netns, opts)
}
