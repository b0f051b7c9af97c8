import { DEFAULT_OVERLAY_MTU_BYTES, DEFAULT_UNDERLAY_MTU_BYTES, MAX_LINK_MTU_BYTES, MIN_OVERLAY_MTU_BYTES, VXLAN_OVERHEAD_BYTES, vxlanOverhead } from '../spec/constants.js'

/**
 * Overlay MTU: pure decisions. Every interface of a network (task and LB
 * sandbox veths, both ends; the bridge; the VXLAN device) gets the overlay
 * MTU, so a frame that leaves a task fits the VXLAN packet on the underlay.
 * Precedence: the network's own `mtu` option > the agent's `--mtu` > derived
 * from the underlay interface (its MTU - {@link VXLAN_OVERHEAD_BYTES}, 50 over
 * an IPv4 underlay; 70 over an IPv6 one).
 */

/** Key of a network's MTU in its gossiped options (decimal text). */
export const NETWORK_MTU_OPTION = 'mtu'

/** This node's overlay MTU settings. */
export interface MtuPolicy {
  /** MTU of a network without its own: the agent's `--mtu`, else derived from the underlay. */
  mtu: number
  /** Largest overlay MTU the underlay carries (underlay MTU - 50, or - 70 over IPv6); undefined = unknown (no underlay interface found). */
  max: number | undefined
  /** VXLAN overhead over this node's underlay: 50 (IPv4), 70 (IPv6). @default 50 */
  overhead?: number
}

/** The policy used when nothing is configured and the underlay is unknown. */
export const DEFAULT_MTU_POLICY: MtuPolicy = { mtu: DEFAULT_OVERLAY_MTU_BYTES, max: undefined }

/** Overlay MTU an underlay of `underlayMtu` bytes and family 4 or 6 carries. */
export function deriveOverlayMtu (underlayMtu: number, underlayFamily: 4 | 6 = 4): number {
  return underlayMtu - vxlanOverhead(underlayFamily)
}

/** Why `mtu` cannot be an overlay MTU here (undefined = it can). `max` undefined: only the fixed bounds apply; `overhead`: the underlay's VXLAN overhead. */
export function mtuProblem (mtu: number, max: number | undefined, overhead = VXLAN_OVERHEAD_BYTES): string | undefined {
  if (!Number.isInteger(mtu)) return `must be an integer number of bytes, got ${JSON.stringify(mtu)}`
  if (mtu < MIN_OVERLAY_MTU_BYTES) return `must be at least ${MIN_OVERLAY_MTU_BYTES} (IPv6's minimum link MTU), got ${mtu}`
  if (mtu > MAX_LINK_MTU_BYTES) return `must be at most ${MAX_LINK_MTU_BYTES}, got ${mtu}`
  if (max !== undefined && mtu > max) {
    const over = overhead === VXLAN_OVERHEAD_BYTES ? 'IPv4' : 'IPv6'
    return `${mtu} does not fit the underlay: its MTU ${max + overhead} minus ${overhead} bytes of VXLAN over ${over} leaves at most ${max}`
  }
  return undefined
}

/** Parse an MTU written as decimal text (flag, env, option); undefined when it is not a plain integer. */
export function parseMtuText (text: string): number | undefined {
  return /^[0-9]{1,6}$/.test(text.trim()) ? Number(text.trim()) : undefined
}

/**
 * This node's policy from the agent setting (`configured`, already within the
 * fixed bounds) and the underlay interface's MTU (undefined = not found).
 * Returns the reason as `problem` when `configured` does not fit the underlay.
 */
export function resolveMtuPolicy (configured: number | undefined, underlayMtu: number | undefined, underlayFamily: 4 | 6 = 4): { policy: MtuPolicy, problem?: string } {
  const overhead = vxlanOverhead(underlayFamily)
  const max = underlayMtu === undefined ? undefined : deriveOverlayMtu(underlayMtu, underlayFamily)
  // the IPv4 overhead is the default: only an IPv6 underlay's is written out
  const extra = underlayFamily === 6 ? { overhead } : {}
  if (max === undefined && configured === undefined) return { policy: { mtu: DEFAULT_UNDERLAY_MTU_BYTES - overhead, max, ...extra } }
  // derived: an underlay too small for the minimum is a problem too
  const mtu = configured ?? max as number
  const problem = mtuProblem(mtu, max, overhead)
  return problem === undefined ? { policy: { mtu, max, ...extra } } : { policy: { mtu, max, ...extra }, problem }
}

/** What this node makes of a network's `mtu` option. */
export interface NetworkMtu {
  /** MTU of the network's interfaces on this node. */
  mtu: number
  /**
   * Set when the network's own MTU is not used as is: `too-large` (above what
   * this node's underlay carries: clamped to `max`), `invalid` (not an MTU:
   * the node's default is used).
   */
  issue?: 'too-large' | 'invalid'
  /** The network's option text, when it has one. */
  requested?: string
}

/**
 * MTU of a network on this node. A network created elsewhere with an MTU this
 * node's underlay cannot carry is clamped to what it can (and reported as an
 * issue for the agent to log and count): small packets and TCP (each side
 * announces its MSS from its own MTU) keep working, where refusing the
 * network would cut every flow of the node's tasks on it.
 */
export function networkMtu (options: Readonly<Record<string, string>> | undefined, policy: MtuPolicy): NetworkMtu {
  const requested = options !== undefined && Object.hasOwn(options, NETWORK_MTU_OPTION) ? options[NETWORK_MTU_OPTION] : undefined
  if (requested === undefined) return { mtu: policy.mtu }
  const n = parseMtuText(requested)
  if (n === undefined || mtuProblem(n, undefined) !== undefined) return { mtu: policy.mtu, issue: 'invalid', requested }
  if (policy.max !== undefined && n > policy.max) return { mtu: policy.max, issue: 'too-large', requested }
  return { mtu: n, requested }
}
