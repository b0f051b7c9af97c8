import { access } from 'node:fs/promises'
import {
  LB_IFNAME, ipBatch, lbVethName, linkDelete, netnsAdd, netnsDelete, nftApply, sysctlSet, uplinkHostName, type Kernel, type KOpts
} from '../kernel/index.js'
import { DEFAULT_OVERLAY_MTU_BYTES } from '../spec/constants.js'

/** Where one LB sandbox lives. */
export interface SandboxNames {
  netns: string
  bridge: string
  /** Netns of the bridge (`--overlay-netns`); undefined = the base netns. */
  bridgeNetns?: string
  /**
   * The sandbox is the overlay netns itself (`--overlay-netns`): `netns` names
   * it too, its `lb0` is the bridge, no veth between them.
   */
  inOverlay?: boolean
  prefix: string
  table: string
}

/**
 * Per-interface copies of the `conf.default` sysctls for `lb0`: in an
 * overlay netns the bridge (`lb0`) exists before the sandbox's sysctls are
 * written, so it did not take their defaults (send_redirects, rp_filter,
 * accept_ra count per interface too).
 */
export function lbIfSysctls (sysctls: readonly string[]): string[] {
  return sysctls.filter(s => s.includes('.conf.default.')).map(s => s.replace('.conf.default.', `.conf.${LB_IFNAME}.`))
}

/** Create the sandbox netns, its veth into the bridge (both ends at the overlay MTU), MAC, alias (= network ID), sysctls. */
export async function createSandbox (k: Kernel, n: SandboxNames, networkId: string, lbMac: string, opts: KOpts, sysctls: readonly string[], mtu = DEFAULT_OVERLAY_MTU_BYTES): Promise<number> {
  if (n.inOverlay === true) {
    // the overlay made the netns and its bridge lb0 (alias = network ID): the LB MAC and the sysctls
    await ipBatch(k, [`link set ${LB_IFNAME} address ${lbMac}`], n.netns, opts)
    await sysctlSet(k, [...sysctls, ...lbIfSysctls(sysctls)], n.netns, opts)
    return 1
  }
  const veth = lbVethName(n.prefix, networkId)
  await netnsAdd(k, n.netns, opts)
  // made where the bridge is (the peer named by path: the in-process batch takes paths)
  await ipBatch(k, [
    `link add ${veth} mtu ${mtu} type veth peer name ${LB_IFNAME} mtu ${mtu} netns /run/netns/${n.netns}`,
    `link set ${veth} master ${n.bridge}`,
    `link set ${veth} up`
  ], n.bridgeNetns, opts)
  await ipBatch(k, [
    `link set ${LB_IFNAME} address ${lbMac}`,
    `link set ${LB_IFNAME} alias ${networkId}`
  ], n.netns, opts)
  await sysctlSet(k, sysctls, n.netns, opts)
  return 2
}

/**
 * Delete an LB sandbox: its host-side veths first (to the bridge, and the
 * uplink if it has one), then the netns. Deleting a netns frees its veth
 * pairs asynchronously, so a sandbox created again right after could find a
 * veth name still taken; deleting the veth is synchronous. `networkId` undefined (unknown sandbox): the netns only.
 * Returns whether the netns existed.
 */
export async function deleteSandbox (k: Kernel, n: Pick<SandboxNames, 'netns' | 'prefix' | 'bridgeNetns' | 'inOverlay'>, networkId: string | undefined, opts: KOpts): Promise<boolean> {
  if (n.inOverlay === true) return await clearSandbox(k, n.netns, n.prefix, networkId, opts)
  if (networkId !== undefined) {
    // with an overlay netns the veth's bridge end is there (gone already when that netns is)
    if (n.bridgeNetns === undefined || await access(`/run/netns/${n.bridgeNetns}`).then(() => true, () => false)) {
      await linkDelete(k, lbVethName(n.prefix, networkId), n.bridgeNetns, opts)
    }
    await linkDelete(k, uplinkHostName(n.prefix, networkId), undefined, opts)
  }
  return await netnsDelete(k, n.netns, opts)
}

/**
 * A sandbox that is the overlay netns (`--overlay-netns`) is emptied, not
 * deleted (the netns holds the bridge and the tasks' veths; removing the
 * overlay deletes it): the uplink, every address of `lb0`, the whole nft
 * ruleset (the LB, direct server return and gateway tables: nothing else is
 * written there). Returns whether the netns existed.
 */
async function clearSandbox (k: Kernel, netns: string, prefix: string, networkId: string | undefined, opts: KOpts): Promise<boolean> {
  if (networkId !== undefined) await linkDelete(k, uplinkHostName(prefix, networkId), undefined, opts)
  if (await access(`/run/netns/${netns}`).then(() => false, () => true)) return false
  await ipBatch(k, [`addr flush dev ${LB_IFNAME}`], netns, opts)
  await nftApply(k, 'flush ruleset\n', netns, opts)
  return true
}
