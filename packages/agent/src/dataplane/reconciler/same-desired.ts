import { sameService } from '../lb/lb-model.js'
import type { NetworkDesired, OverlaySpec, SandboxSpec } from '../spec/types.js'

function sameStrings (a: readonly string[], b: unknown): boolean {
  if (!Array.isArray(b) || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sameSandbox (a: SandboxSpec, b: SandboxSpec): boolean {
  if (a.networkId !== b.networkId || !sameStrings(a.lbAddresses, b.lbAddresses) || a.lbMac !== b.lbMac || (a.internal === true) !== (b.internal === true)) return false
  if (!Array.isArray(b.services) || a.services.length !== b.services.length) return false
  for (let i = 0; i < a.services.length; i++) {
    const x = a.services[i]
    const y = b.services[i]
    if (x !== y && (typeof y !== 'object' || y === null || x.id !== y.id || !sameService(x, y))) return false
  }
  return true
}

function sameOverlaySpec (a: OverlaySpec, b: OverlaySpec): boolean {
  if (a.networkId !== b.networkId || a.vni !== b.vni || a.mtu !== b.mtu || a.localUnderlay !== b.localUnderlay || !sameStrings(a.subnets, b.subnets)) return false
  if (!Array.isArray(b.remotes) || a.remotes.length !== b.remotes.length) return false
  for (let i = 0; i < a.remotes.length; i++) {
    const x = a.remotes[i]
    const y = b.remotes[i]
    if (x !== y && (typeof y !== 'object' || y === null || x.ip !== y.ip || x.ip6 !== y.ip6 || x.mac !== y.mac || x.underlay !== y.underlay)) return false
  }
  return true
}

/**
 * Whether `b` asks for the same kernel state as `a` (an earlier desired
 * state, already applied or refused): compared field by field with identity
 * shortcuts, no serialization, so an unchanged 10k-service network costs a
 * pointer compare per service. Malformed input on either side compares unequal.
 */
export function sameDesired (a: NetworkDesired, b: NetworkDesired): boolean {
  if (a === b) return true
  try {
    return (a.sandbox === b.sandbox || sameSandbox(a.sandbox, b.sandbox)) &&
      (a.overlay === b.overlay || sameOverlaySpec(a.overlay, b.overlay)) &&
      sameStrings(a.localTaskNetns, b.localTaskNetns)
  } catch (err) {
    // either side malformed (a refused state is remembered too): not the same, the programmer names the field
    if (err instanceof TypeError) return false
    throw err
  }
}
