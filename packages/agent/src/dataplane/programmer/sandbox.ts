import {
  KernelCommandError, LB_IFNAME, ipBatch, lbVethName, netnsAdd, netnsDelete, sysctlSet, type Kernel, type KOpts
} from '../kernel/index.js'
import { DEFAULT_OVERLAY_MTU_BYTES } from '../spec/constants.js'

/** Where one LB sandbox lives. */
export interface SandboxNames {
  netns: string
  bridge: string
  prefix: string
  table: string
}

/** Create the sandbox netns, its veth into the bridge (both ends at the overlay MTU), MAC, alias (= network ID), sysctls. */
export async function createSandbox (k: Kernel, n: SandboxNames, networkId: string, lbMac: string, opts: KOpts, sysctls: readonly string[], mtu = DEFAULT_OVERLAY_MTU_BYTES): Promise<number> {
  const veth = lbVethName(n.prefix, networkId)
  await netnsAdd(k, n.netns, opts)
  await ipBatch(k, [
    `link add ${veth} mtu ${mtu} type veth peer name ${LB_IFNAME} mtu ${mtu} netns ${n.netns}`,
    `link set ${veth} master ${n.bridge}`,
    `link set ${veth} up`
  ], undefined, opts)
  await ipBatch(k, [
    `link set ${LB_IFNAME} address ${lbMac}`,
    `link set ${LB_IFNAME} alias ${networkId}`
  ], n.netns, opts)
  await sysctlSet(k, sysctls, n.netns, opts)
  return 2
}

/**
 * Delete an LB sandbox: its host-side veth first, then the netns. Deleting a
 * netns frees its veth pair asynchronously, so a sandbox created again right
 * after could find the veth name still taken; deleting the veth is
 * synchronous. `networkId` undefined (unknown sandbox): the netns only.
 * Returns whether the netns existed.
 */
export async function deleteSandbox (k: Kernel, n: Pick<SandboxNames, 'netns' | 'prefix'>, networkId: string | undefined, opts: KOpts): Promise<boolean> {
  if (networkId !== undefined) {
    try {
      await k.run('ip', ['link', 'del', lbVethName(n.prefix, networkId)], { signal: opts.signal })
    } catch (err) {
      if (!(err instanceof KernelCommandError && /Cannot find device/.test(err.stderr))) throw err
    }
  }
  return await netnsDelete(k, n.netns, opts)
}
