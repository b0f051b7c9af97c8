import { DEFAULT_OVERLAY_MTU_BYTES, MAX_LINK_MTU_BYTES, MIN_OVERLAY_MTU_BYTES, VXLAN_OVERHEAD_BYTES } from '../spec/constants.js'

/**
 * Overlay MTU: pure decisions. Every interface of a network (task and LB
 * sandbox veths, both ends; the bridge; the VXLAN device) gets the overlay
 * MTU, so a frame that leaves a task fits the VXLAN packet on the underlay.
 * Precedence: the network's own `mtu` option > the agent's `--mtu` > derived
 * from the underlay interface (its MTU - {@link VXLAN_OVERHEAD_BYTES}).
 */

/** Key of a network's MTU in its gossiped options (decimal text). */
export const NETWORK_MTU_OPTION = 'mtu'

/** This node's overlay MTU settings. */
export interface MtuPolicy {
  /** MTU of a network without its own: the agent's `--mtu`, else derived from the underlay. */
  mtu: number
  /** Largest overlay MTU the underlay carries (underlay MTU - 50); undefined = unknown (no underlay interface found). */
  max: number | undefined
}

/** The policy used when nothing is configured and the underlay is unknown. */
export const DEFAULT_MTU_POLICY: MtuPolicy = { mtu: DEFAULT_OVERLAY_MTU_BYTES, max: undefined }

/** Overlay MTU an underlay of `underlayMtu` bytes carries. */
export function deriveOverlayMtu (underlayMtu: number): number {
  return underlayMtu - VXLAN_OVERHEAD_BYTES
}

/** Why `mtu` cannot be an overlay MTU here (undefined = it can). `max` undefined: only the fixed bounds apply. */
export function mtuProblem (mtu: number, max: number | undefined): string | undefined {
  if (!Number.isInteger(mtu)) return `must be an integer number of bytes, got ${JSON.stringify(mtu)}`
  if (mtu < MIN_OVERLAY_MTU_BYTES) return `must be at least ${MIN_OVERLAY_MTU_BYTES} (IPv6's minimum link MTU), got ${mtu}`
  if (mtu > MAX_LINK_MTU_BYTES) return `must be at most ${MAX_LINK_MTU_BYTES}, got ${mtu}`
  if (max !== undefined && mtu > max) {
    return `${mtu} does not fit the underlay: its MTU ${max + VXLAN_OVERHEAD_BYTES} minus ${VXLAN_OVERHEAD_BYTES} bytes of VXLAN leaves at most ${max}`
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
export function resolveMtuPolicy (configured: number | undefined, underlayMtu: number | undefined): { policy: MtuPolicy, problem?: string } {
  const max = underlayMtu === undefined ? undefined : deriveOverlayMtu(underlayMtu)
  if (max === undefined && configured === undefined) return { policy: { mtu: DEFAULT_OVERLAY_MTU_BYTES, max } }
  // derived: an underlay too small for the minimum is a problem too
  const mtu = configured ?? max as number
  const problem = mtuProblem(mtu, max)
  return problem === undefined ? { policy: { mtu, max } } : { policy: { mtu, max }, problem }
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
