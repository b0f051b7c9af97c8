import { KernelCommandError, createKernel, ipBatch, linkDelete, taskVethName, type Kernel } from '../kernel/index.js'
import { IFNAME_RE } from '../../constants.js'
import { ProgrammerInputError } from '../spec/errors.js'
import { DEFAULT_OVERLAY_MTU_BYTES } from '../spec/constants.js'
import { checkCidrAddress, isMac } from '../spec/validate.js'
import { TASK_IFNAME } from './constants.js'
import { bridgeOf } from '../overlay/index.js'
import { plumbTaskDsr, unplumbTaskDsr, type TaskDsr } from './dsr.js'
import { IPV4 as F, IPV6, cidrAddressFamily, keyFamily } from '../spec/family.js'

/** A task's netns as a path: a path as given, a name as `/run/netns/<name>`. */
function taskNetnsPath (netns: string): string {
  return netns.includes('/') ? netns : `/run/netns/${netns}`
}

/** Options of {@link addBridgedVeth}. */
export interface BridgedVethInit {
  netnsPrefix: string
  networkId: string
  /** What the host end's name is derived from, with the network: the task's netns path, a Docker endpoint ID. */
  key: string
  /** Name of the peer (the task's end). */
  peerName: string
  /** MTU of both ends: the network's overlay MTU. @default DEFAULT_OVERLAY_MTU_BYTES (1450) */
  mtu?: number
  /** Netns the peer is created in (a path); @default this one (a runtime moves it, as Docker does) */
  peerNetns?: string
  /** Kernel access (tests: a "host" netns). @default createKernel() */
  kernel?: Kernel
}

function checkIfName (field: string, name: string): void {
  if (!IFNAME_RE.test(name)) throw new ProgrammerInputError(field, 'up to 15 of [a-zA-Z0-9_.-]')
}

/**
 * A veth whose host end is on the network's bridge (up), both ends at the
 * network's overlay MTU (a task end left at 1500 sends frames the VXLAN path
 * cannot carry). The bridge must exist (the reconciler creates it with the
 * network's overlay). Answers the host end's name.
 */
export async function addBridgedVeth (init: BridgedVethInit): Promise<string> {
  checkIfName('ifName', init.peerName)
  const mtu = init.mtu ?? DEFAULT_OVERLAY_MTU_BYTES
  if (!Number.isInteger(mtu) || mtu < F.minLinkMtu || mtu > 65535) throw new ProgrammerInputError('mtu', `expected ${F.minLinkMtu}..65535, got ${JSON.stringify(init.mtu)}`)
  const k = init.kernel ?? createKernel()
  const host = taskVethName(init.netnsPrefix, init.networkId, init.key)
  // the bridge's netns: the network's overlay netns (--overlay-netns; the bridge is its lb0 there) or this one
  const { netns: brNs, bridge: br } = await bridgeOf(init.netnsPrefix, init.networkId)
  const plug = [`link set ${host} master ${br}`, `link set ${host} up`]
  if (brNs !== undefined && init.peerNetns === undefined) {
    // the peer stays here for the runtime to move: made here, the bridge's end moved over
    await ipBatch(k, [`link add ${host} mtu ${mtu} type veth peer name ${init.peerName} mtu ${mtu}`, `link set ${host} netns ${brNs}`])
    await ipBatch(k, plug, brNs)
    return host
  }
  const peer = init.peerNetns === undefined ? '' : ` netns ${init.peerNetns}`
  await ipBatch(k, [`link add ${host} mtu ${mtu} type veth peer name ${init.peerName} mtu ${mtu}${peer}`, ...plug], brNs)
  return host
}

/** Remove the veth {@link addBridgedVeth} made for (network, key), both ends; a missing one is not an error. */
export async function removeBridgedVeth (init: { netnsPrefix: string, networkId: string, key: string, kernel?: Kernel }): Promise<void> {
  const k = init.kernel ?? createKernel()
  const host = taskVethName(init.netnsPrefix, init.networkId, init.key)
  // no listing first: a missing veth is the refusal below (a listing was one more process per task removal)
  const { netns: brNs } = await bridgeOf(init.netnsPrefix, init.networkId)
  await linkDelete(k, host, brNs)
}

/** Options of {@link attachTaskNetns}. */
export interface AttachTaskInit {
  netnsPrefix: string
  networkId: string
  /** The task's netns: a path (`/proc/<pid>/ns/net`, `/run/netns/x`) or a name under /run/netns. */
  netnsPath: string
  /** Task IP with the subnet's prefix length (`10.0.0.7/24`, or `fd00::7/64` on an IPv6-only network). */
  address: string
  /** Its IPv6 address on a dual-stack network (`fd00::7/64`). */
  address6?: string
  mac: string
  /** Interface name inside the task netns. @default 'eth0' */
  ifName?: string
  /** MTU of both ends of the veth: the network's overlay MTU. @default DEFAULT_OVERLAY_MTU_BYTES (1450) */
  mtu?: number
  /** The task's default route via this address (this node's LB address: egress through the sandbox's uplink). @default none */
  gateway?: string
  /** Direct server return: the task's service VIP on this network and its ports (plumber/dsr.ts). @default none */
  dsr?: TaskDsr
  /** Kernel access (tests: a "host" netns). @default createKernel() */
  kernel?: Kernel
}

/**
 * `task add --netns`: a veth from the task netns into the network's bridge
 * ({@link addBridgedVeth}), with the task's IP and MAC. The subnet is
 * on-link and VIPs are answered (ARP, IPv6 neighbour discovery) by this
 * node's LB sandbox on the same bridge; with a `gateway`, the IPv4 default
 * route goes through that sandbox.
 */
export async function attachTaskNetns (init: AttachTaskInit): Promise<{ hostIfName: string, dsr: boolean }> {
  checkCidrAddress('address', init.address, cidrAddressFamily(init.address) ?? F)
  if (init.address6 !== undefined) checkCidrAddress('address6', init.address6, IPV6)
  if (!isMac(init.mac)) throw new ProgrammerInputError('mac', `expected "aa:bb:cc:dd:ee:ff", got ${JSON.stringify(init.mac)}`)
  if (init.gateway !== undefined && !F.isAddress(init.gateway)) throw new ProgrammerInputError('gateway', `expected an ${F.label} address, got ${JSON.stringify(init.gateway)}`)
  const ifName = init.ifName ?? TASK_IFNAME
  const k = init.kernel ?? createKernel()
  const target = taskNetnsPath(init.netnsPath)
  const host = await addBridgedVeth({ netnsPrefix: init.netnsPrefix, networkId: init.networkId, key: init.netnsPath, peerName: ifName, mtu: init.mtu, peerNetns: target, kernel: k })
  // IPv6 addresses without duplicate address detection: the allocator made them unique, and DAD would hold them tentative (unusable) for a second
  const addrLine = (a: string): string => `addr add ${a} dev ${ifName}${keyFamily(a).addrFlags}`
  await ipBatch(k, [
    `link set ${ifName} address ${init.mac}`,
    addrLine(init.address),
    ...(init.address6 === undefined ? [] : [addrLine(init.address6)]),
    `link set ${ifName} up`,
    'link set lo up',
    ...(init.gateway === undefined ? [] : [`route replace default via ${init.gateway} dev ${ifName}`])
  ], target)
  if (init.dsr === undefined) return { hostIfName: host, dsr: false }
  try {
    await plumbTaskDsr(k, target, ifName, init.dsr)
    return { hostIfName: host, dsr: true }
  } catch (err) {
    // the task works without it: its sandboxes keep the NAT path to it (its endpoint does not say dsr)
    if (!(err instanceof KernelCommandError || err instanceof ProgrammerInputError)) throw err
    await unplumbTaskDsr(k, target, ifName, init.dsr.vip)
    return { hostIfName: host, dsr: false }
  }
}

/** Options of {@link detachTaskNetns}. */
export interface DetachTaskInit {
  netnsPrefix: string
  networkId: string
  netnsPath: string
  /** The VIP plumbed for direct server return on interface `ifName` (removed first). @default none */
  dsr?: { vip: string, ifName: string }
  kernel?: Kernel
}

/** Remove a task's veth (both ends); a missing one is not an error. */
export async function detachTaskNetns (init: DetachTaskInit): Promise<void> {
  if (init.dsr !== undefined) {
    await unplumbTaskDsr(init.kernel ?? createKernel(), taskNetnsPath(init.netnsPath), init.dsr.ifName, init.dsr.vip)
  }
  await removeBridgedVeth({ netnsPrefix: init.netnsPrefix, networkId: init.networkId, key: init.netnsPath, kernel: init.kernel })
}
