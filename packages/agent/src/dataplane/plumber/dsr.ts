import { KernelCommandError, ipBatch, nftApply, sysctlSet, type Kernel } from '../kernel/index.js'
import { ProgrammerInputError } from '../spec/errors.js'
import { IPV4 } from '../spec/family.js'
import { isPort } from '../spec/types.js'

/**
 * A backend task's side of direct server return (the sandbox's side:
 * lb/dsr.ts). In the task's netns, per network (interface `ifName`):
 *
 * - the service's VIP on `lo`, its local route moved from table `local` to
 *   {@link DSR_ROUTE_TABLE}, which is looked up only for packets arriving on
 *   `ifName` (rule pref {@link DSR_RULE_PREF}): the client's packets to the
 *   VIP are delivered, while what the task itself sends to the VIP still
 *   goes to its node's sandbox (balanced, or the NAT path for its own
 *   service);
 * - `arp_ignore=1` and `arp_announce=2` on `ifName`: only the sandbox answers
 *   ARP for the VIP, and the VIP is never an ARP source;
 * - where a VIP port's target port differs, a stateless output rule (table
 *   `ip scalelb_dsr_<ifName>`, priority raw) that gives replies from
 *   `VIP:target` the VIP port back as source port.
 */

/** Route table of a task netns holding its VIPs' local routes (any number no other software there uses). */
export const DSR_ROUTE_TABLE = 23713

/** Priority of the `iif <ifName> lookup DSR_ROUTE_TABLE` rule: after `local` (0), before `main` (32766). */
export const DSR_RULE_PREF = 100

/** One VIP a task serves by direct server return, with the ports whose source a reply must get back. */
export interface TaskDsr {
  vip: string
  ports: ReadonlyArray<{ port: number, targetPort: number }>
}

/** The task netns's nft table of the reply rule for `ifName`. */
export function dsrTaskTable (ifName: string): string {
  return `scalelb_dsr_${ifName.replace(/[^a-zA-Z0-9_]/g, '_')}`
}

function check (ifName: string, d: TaskDsr): void {
  if (!IPV4.isAddress(d.vip)) throw new ProgrammerInputError('dsr.vip', `expected an IPv4 address, got ${JSON.stringify(d.vip)}`)
  if (!/^[a-z0-9_]{1,15}$/.test(ifName)) throw new ProgrammerInputError('ifName', `direct server return needs an interface name of [a-z0-9_] (its sysctls), got ${JSON.stringify(ifName)}`)
  for (const [i, p] of d.ports.entries()) if (!isPort(p.port) || !isPort(p.targetPort)) throw new ProgrammerInputError(`dsr.ports[${i}]`, 'expected ports 1..65535')
}

/** Give task netns `netns` (a path) the VIP of `d` for direct server return on `ifName` (see the file's comment). */
export async function plumbTaskDsr (k: Kernel, netns: string, ifName: string, d: TaskDsr): Promise<void> {
  check(ifName, d)
  await ipBatch(k, [
    `addr add ${d.vip}/32 dev lo`,
    // the address stays (the kernel takes it as the replies' source), its local route moves to the overlay's table
    `route del local ${d.vip} dev lo table local`,
    `route replace local ${d.vip} dev lo table ${DSR_ROUTE_TABLE}`,
    `rule add iif ${ifName} lookup ${DSR_ROUTE_TABLE} pref ${DSR_RULE_PREF}`
  ], netns)
  await sysctlSet(k, [`net.ipv4.conf.${ifName}.arp_ignore=1`, `net.ipv4.conf.${ifName}.arp_announce=2`], netns)
  const rewrite = d.ports.filter((p) => p.port !== p.targetPort)
  if (rewrite.length === 0) return
  const t = `ip ${dsrTaskTable(ifName)}`
  await nftApply(k, [
    `add table ${t}`,
    `delete table ${t}`,
    `add table ${t}`,
    `add map ${t} rport { typeof ip saddr . tcp sport : tcp sport ; }`,
    `add chain ${t} out { type filter hook output priority raw ; policy accept ; }`,
    `add rule ${t} out ip saddr ${d.vip} tcp sport set ip saddr . tcp sport map @rport`,
    `add element ${t} rport { ${rewrite.map((p) => `${d.vip} . ${p.targetPort} : ${p.port}`).join(', ')} }`,
    ''
  ].join('\n'), netns)
}

/**
 * Undo {@link plumbTaskDsr} (task removed, or its netns leaves the network).
 * Each step on its own, a missing piece (the netns is gone with its task,
 * a half-made plumbing) is not an error.
 */
export async function unplumbTaskDsr (k: Kernel, netns: string, ifName: string, vip: string): Promise<void> {
  const quiet = async (fn: () => Promise<void>): Promise<void> => {
    try { await fn() } catch (err) { if (!(err instanceof KernelCommandError)) throw err }
  }
  await quiet(async () => { await nftApply(k, `delete table ip ${dsrTaskTable(ifName)}\n`, netns) })
  await quiet(async () => { await ipBatch(k, [`rule del iif ${ifName} lookup ${DSR_ROUTE_TABLE} pref ${DSR_RULE_PREF}`], netns) })
  await quiet(async () => { await ipBatch(k, [`route del local ${vip} dev lo table ${DSR_ROUTE_TABLE}`], netns) })
  await quiet(async () => { await ipBatch(k, [`addr del ${vip}/32 dev lo`], netns) })
}
