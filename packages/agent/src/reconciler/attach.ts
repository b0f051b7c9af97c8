import { bridgeName, createKernel, ipBatch, linkList, taskVethName, type Kernel } from '../kernel/index.js'
import { KernelCommandError } from '../kernel/errors.js'
import { ProgrammerInputError } from '../programmer/errors.js'
import { OVERLAY_MTU } from '../programmer/sandbox.js'
import { checkCidrAddress, isMac } from '../programmer/validate.js'
import { TASK_IFNAME } from './constants.js'

/** Options of {@link attachTaskNetns}. */
export interface AttachTaskInit {
  netnsPrefix: string
  networkId: string
  /** The task's netns: a path (`/proc/<pid>/ns/net`, `/run/netns/x`) or a name under /run/netns. */
  netnsPath: string
  /** Task IP with the subnet's prefix length (`10.0.0.7/24`). */
  address: string
  mac: string
  /** Interface name inside the task netns. @default 'eth0' */
  ifName?: string
  /** Kernel access (tests: a "host" netns). @default createKernel() */
  kernel?: Kernel
}

/**
 * `task add --netns`: a veth from the task netns into the network's bridge,
 * with the task's IP and MAC. No route is needed: the subnet is on-link and
 * VIPs are answered (ARP) by this node's LB sandbox on the same bridge. The
 * bridge must exist (the reconciler creates it with the network's overlay).
 */
export async function attachTaskNetns (init: AttachTaskInit): Promise<{ hostIfName: string }> {
  checkCidrAddress('address', init.address)
  if (!isMac(init.mac)) throw new ProgrammerInputError('mac', `expected "aa:bb:cc:dd:ee:ff", got ${JSON.stringify(init.mac)}`)
  const ifName = init.ifName ?? TASK_IFNAME
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(ifName)) throw new ProgrammerInputError('ifName', 'up to 15 of [a-zA-Z0-9_.-]')
  const k = init.kernel ?? createKernel()
  const host = taskVethName(init.netnsPrefix, init.networkId, init.netnsPath)
  const br = bridgeName(init.netnsPrefix, init.networkId)
  const target = init.netnsPath.includes('/') ? init.netnsPath : `/run/netns/${init.netnsPath}`
  await ipBatch(k, [
    `link add ${host} mtu ${OVERLAY_MTU} type veth peer name ${ifName} netns ${target}`,
    `link set ${host} master ${br}`,
    `link set ${host} up`
  ])
  await ipBatch(k, [
    `link set ${ifName} address ${init.mac}`,
    `addr add ${init.address} dev ${ifName}`,
    `link set ${ifName} up`,
    'link set lo up'
  ], target)
  return { hostIfName: host }
}

/** Options of {@link detachTaskNetns}. */
export interface DetachTaskInit {
  netnsPrefix: string
  networkId: string
  netnsPath: string
  kernel?: Kernel
}

/** Remove a task's veth (both ends); a missing one is not an error. */
export async function detachTaskNetns (init: DetachTaskInit): Promise<void> {
  const k = init.kernel ?? createKernel()
  const host = taskVethName(init.netnsPrefix, init.networkId, init.netnsPath)
  if (!(await linkList(k)).some(l => l.ifname === host)) return
  try {
    await ipBatch(k, [`link del ${host}`])
  } catch (err) {
    if (!(err instanceof KernelCommandError && /Cannot find device/.test(err.stderr))) throw err
  }
}
