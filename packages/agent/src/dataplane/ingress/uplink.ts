import { createHash } from 'node:crypto'
import { ipNumber } from '../lb/slots.js'
import {
  GATEWAY_TABLE, KernelCommandError, LB_IFNAME, UPLINK_IFNAME, addrList, ipBatch, nftApply, sysctlSet, uplinkHostName, type Kernel, type KOpts
} from '../kernel/index.js'

/**
 * The LB sandbox's uplink: a veth pair joining the sandbox to the host
 * (`up0` inside, `su<hash>` on the host) addressed from a link-local /31.
 * Tasks route to the LB address; the sandbox masquerades what leaves up0 and
 * the host masquerades the /31 out of its underlay. An `--internal` network
 * has no uplink.
 */

/** First address of the uplink pool (169.254.1.0: 169.254.0.0/24 is left to others, as RFC 3927 reserves it). */
const POOL_FIRST = (169 << 24 | 254 << 16 | 1 << 8) >>> 0
/** /31 pairs in 169.254.1.0 - 169.254.127.255. */
export const UPLINK_PAIRS = (127 * 256) / 2

/** Every uplink address of the pool is in this prefix (host masquerade, sandbox filter). */
export const UPLINK_POOL_CIDR = '169.254.0.0/17'

/** Link-local space a task must not reach through the gateway (the host's and other sandboxes' uplinks). */
export const LINK_LOCAL_CIDR = '169.254.0.0/16'

function ipText (n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** The two addresses of uplink pair `index`: the host's (even) and the sandbox's (odd). */
export function uplinkAddresses (index: number): { host: string, sandbox: string } {
  const base = POOL_FIRST + 2 * index
  return { host: ipText(base), sandbox: ipText(base + 1) }
}

/** The pair index of a sandbox-side uplink address; undefined when it is not one of the pool's. */
export function uplinkIndexOf (sandboxAddress: string): number | undefined {
  const n = ipNumber(sandboxAddress) - POOL_FIRST - 1
  return n >= 0 && n % 2 === 0 && n / 2 < UPLINK_PAIRS ? n / 2 : undefined
}

/**
 * The uplink pair of a network on this node: its hash picks the first
 * candidate (the same on every restart), the next free one is taken on a
 * collision with `taken` (pairs of this node's other sandboxes).
 */
export function pickUplink (networkId: string, taken: ReadonlySet<number>): number {
  if (taken.size >= UPLINK_PAIRS) throw new RangeError(`uplink: all ${UPLINK_PAIRS} link-local pairs are in use`)
  const h = createHash('sha256').update(networkId).digest().readUInt32BE(0)
  let i = h % UPLINK_PAIRS
  while (taken.has(i)) i = (i + 1) % UPLINK_PAIRS
  return i
}

/**
 * The sandbox's gateway table: masquerade out of up0, nothing new in from
 * up0 unless published, no link-local reach. `hostports` (local mode=host
 * targets) is let in from up0, and their replies to clients beyond the
 * overlay are not tracked here: the host sends mode=host connections
 * straight onto the bridge, so this sandbox sees only the replies (tracked,
 * they would be picked up mid-stream and masqueraded).
 */
export function gatewayScript (): string {
  return `table ip ${GATEWAY_TABLE} {
  set hostports {
    type ipv4_addr . inet_proto . inet_service
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    iifname "${UPLINK_IFNAME}" oifname "${LB_IFNAME}" ct status dnat accept
    iifname "${UPLINK_IFNAME}" oifname "${LB_IFNAME}" ip daddr . meta l4proto . th dport @hostports accept
    iifname "${UPLINK_IFNAME}" drop
    oifname "${UPLINK_IFNAME}" ip daddr ${LINK_LOCAL_CIDR} drop
  }
  chain raw {
    type filter hook prerouting priority raw; policy accept;
    iifname "${LB_IFNAME}" ip saddr . meta l4proto . th sport @hostports fib daddr type != local notrack
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "${UPLINK_IFNAME}" ct state new drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${UPLINK_IFNAME}" masquerade
  }
}
`
}

/**
 * Create the uplink of a sandbox: the veth pair, both /31 addresses, the
 * sandbox's default route to the host, the gateway table. Returns transactions.
 */
export async function createUplink (k: Kernel, prefix: string, netns: string, networkId: string, index: number, opts: KOpts): Promise<number> {
  const host = uplinkHostName(prefix, networkId)
  const a = uplinkAddresses(index)
  await ipBatch(k, [
    `link add ${host} type veth peer name ${UPLINK_IFNAME} netns ${netns}`,
    `addr add ${a.host}/31 dev ${host}`,
    `link set ${host} up`
  ], undefined, opts)
  await ipBatch(k, [
    `addr add ${a.sandbox}/31 dev ${UPLINK_IFNAME}`,
    `link set ${UPLINK_IFNAME} up`,
    `route replace default via ${a.host} dev ${UPLINK_IFNAME}`
  ], netns, opts)
  // the host routes a mode=host task's address into the uplink without a gateway: the sandbox answers its ARP
  await sysctlSet(k, [`net.ipv4.conf.${UPLINK_IFNAME}.proxy_arp=1`], netns, opts)
  await nftApply(k, gatewayScript(), netns, opts)
  return 4
}

/** The uplink pair a sandbox holds (read from up0), undefined when it has none. */
export async function readUplink (k: Kernel, netns: string, opts: KOpts): Promise<number | undefined> {
  let addrs: string[]
  try {
    addrs = await addrList(k, UPLINK_IFNAME, netns, opts)
  } catch (err) {
    if (err instanceof KernelCommandError) return undefined
    throw err
  }
  const local = addrs[0]?.split('/')[0]
  return local === undefined ? undefined : uplinkIndexOf(local)
}
