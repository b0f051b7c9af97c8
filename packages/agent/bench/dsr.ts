/**
 * A direct-server-return (DSR) prototype of the VIP path, programmed by
 * `bench:datapath --dsr` itself (not by the agent), to measure what taking
 * the LB sandbox off the reply path would give:
 *
 * - sandbox: a `netdev` table on `lb0`'s ingress hook. A task's packet to
 *   `VIP:port` gets the backend's target port and goes straight back out of
 *   `lb0` to the backend's MAC (`fwd ip to <backend> device lb0`), its IP
 *   header otherwise unchanged, before the sandbox's IP stack: no routing, no
 *   conntrack, no NAT there;
 * - backend task: the VIP on `lo`, with its local route only in a table that
 *   is looked up for packets arriving on the overlay interface (so traffic
 *   the task itself sends to the VIP still goes to the sandbox), no ARP
 *   answers for it there, and its replies' source port set back to the VIP
 *   port (stateless, one rule). Replies go from the backend straight to the
 *   client over the bridge (and VXLAN), never through the sandbox.
 *
 * One fixed backend per VIP port: the prototype has one backend per service.
 * What the agent would need for more is in docs/architecture.md ("The VIP
 * data path and direct server return").
 */
import { sh } from './common.js'

/** Interface of a task's overlay endpoint inside its netns (the agent's plumber names it so). */
const TASK_IFNAME = 'eth0'
/** Route table in a backend's netns that holds the VIPs' local routes. */
const DSR_ROUTE_TABLE = '100'
/** Priority of the `iif <overlay> lookup <table>` rule (after `local`, before `main`). */
const DSR_RULE_PREF = '100'
/** Name of the prototype's nft tables (sandbox: netdev; backend: ip). */
export const DSR_TABLE = 'bench_dsr'

/** One VIP port served by one backend. */
export interface DsrTarget { vip: string, vipPort: number, backend: string, targetPort: number }

/** Make task netns `ns` accept `t.vip` from the overlay and answer from it (see the file's comment). */
export async function prepareDsrBackend (ns: string, t: DsrTarget): Promise<void> {
  const ip = async (...args: string[]): Promise<void> => { await sh('ip', ['-n', ns, ...args]) }
  await ip('addr', 'add', `${t.vip}/32`, 'dev', 'lo')
  // the address stays (the kernel accepts it as a reply source), its local route moves to a table for the overlay only
  await ip('route', 'del', 'local', t.vip, 'dev', 'lo', 'table', 'local')
  await ip('route', 'add', 'local', t.vip, 'dev', 'lo', 'table', DSR_ROUTE_TABLE)
  await ip('rule', 'add', 'iif', TASK_IFNAME, 'lookup', DSR_ROUTE_TABLE, 'pref', DSR_RULE_PREF)
  // the client's ARP for the VIP crosses the bridge to every local task: only the sandbox may answer it
  await sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.conf.${TASK_IFNAME}.arp_ignore=1`, `net.ipv4.conf.${TASK_IFNAME}.arp_announce=2`])
  await sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], [
    `table ip ${DSR_TABLE} {`,
    '  chain out {',
    '    type filter hook output priority raw; policy accept;',
    `    ip saddr ${t.vip} tcp sport ${t.targetPort} tcp sport set ${t.vipPort}`,
    '  }',
    '}',
    ''
  ].join('\n'))
}

/** The sandbox's DSR table: every target's VIP port forwarded out of `lb0` to its backend. */
export function dsrSandboxScript (targets: readonly DsrTarget[]): string {
  return [
    `table netdev ${DSR_TABLE} {`,
    '  chain in {',
    '    type filter hook ingress device "lb0" priority filter; policy accept;',
    ...targets.map((t) => `    ip daddr ${t.vip} tcp dport ${t.vipPort} tcp dport set ${t.targetPort} fwd ip to ${t.backend} device "lb0"`),
    '  }',
    '}',
    ''
  ].join('\n')
}

/** Turn DSR on in sandbox netns `lbNs` (the agent's NAT path stays programmed and serves again once it is off). */
export async function enableDsr (lbNs: string, targets: readonly DsrTarget[]): Promise<void> {
  await sh('ip', ['netns', 'exec', lbNs, 'nft', '-f', '-'], dsrSandboxScript(targets))
}

/** Turn DSR off in sandbox netns `lbNs`. */
export async function disableDsr (lbNs: string): Promise<void> {
  await sh('ip', ['netns', 'exec', lbNs, 'nft', 'delete', 'table', 'netdev', DSR_TABLE])
}
