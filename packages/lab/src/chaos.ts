import { LAB_HELPER_OCTET_MIN } from './constants.js'
import { LabError } from './errors.js'
import { saveLabState, type LabHelper, type LabHost, type LabState } from './state.js'
import { createUnderlayNetns, labNetnsName, nsRun, underlayIp } from './underlay.js'

/**
 * Faults on a netns lab's underlay, as nftables tables inside the host
 * namespaces (they go away with them): partitions and random packet loss.
 */

/** Name of the nft table holding a host's faults. */
export const CHAOS_TABLE = 'scalelb_lab_chaos'

function needNetns (state: LabState): void {
  if (state.mode !== 'netns') throw new LabError('faults need a netns lab (root)')
}

async function setChaos (h: LabHost, rules: string[]): Promise<void> {
  const ns = h.netns as string
  // delete + recreate in one transaction: no window without the rules
  const script = [
    `table inet ${CHAOS_TABLE} {}`,
    `delete table inet ${CHAOS_TABLE}`,
    `table inet ${CHAOS_TABLE} {`,
    '  chain in { type filter hook input priority -300; policy accept;',
    ...rules.filter((r) => r.startsWith('in ')).map((r) => `    ${r.slice(3)}`),
    '  }',
    '  chain out { type filter hook output priority -300; policy accept;',
    ...rules.filter((r) => r.startsWith('out ')).map((r) => `    ${r.slice(4)}`),
    '  }',
    '}'
  ].join('\n') + '\n'
  await nsRun(ns, 'nft', ['-f', '-'], script)
}

/**
 * Cut the underlay between `a` and `b` (both directions, every protocol:
 * gossip and VXLAN alike). Replaces earlier faults of those hosts.
 */
export async function labPartition (state: LabState, a: LabHost[], b: LabHost[]): Promise<void> {
  needNetns(state)
  const ips = (hs: LabHost[]): string => `{ ${hs.map((h) => h.ip).join(', ')} }`
  for (const [side, other] of [[a, b], [b, a]] as const) {
    for (const h of side) await setChaos(h, [`in ip saddr ${ips(other)} drop`, `out ip daddr ${ips(other)} drop`])
  }
}

/** Drop `percent`% of the underlay packets each host receives (nft `numgen random mod 100 < N drop`). */
export async function labLoss (state: LabState, percent: number, hosts: LabHost[] = state.hosts): Promise<void> {
  needNetns(state)
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new LabError(`loss percent must be 0..100, got ${percent}`)
  for (const h of hosts) await setChaos(h, [`in iifname "eth0" numgen random mod 100 < ${percent} drop`])
}

/** Remove every fault from every host. */
export async function labHeal (state: LabState): Promise<void> {
  needNetns(state)
  for (const h of state.hosts) await nsRun(h.netns, 'nft', ['-f', '-'], `table inet ${CHAOS_TABLE} {}\ndelete table inet ${CHAOS_TABLE}\n`)
}

/** Add a helper netns on the underlay (e.g. for a Prometheus server); recorded in the state. */
export async function addUnderlayHelper (state: LabState, short: string): Promise<LabHelper> {
  needNetns(state)
  const ns = labNetnsName(state.prefix, short)
  const ip = underlayIp(state.underlayCidr as string, LAB_HELPER_OCTET_MIN + state.helpers.length)
  const helper: LabHelper = { name: short, netns: ns, ip }
  state.helpers.push(helper)
  await saveLabState(state)
  await createUnderlayNetns(state, ns, ip)
  return helper
}
