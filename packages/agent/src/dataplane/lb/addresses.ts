import { LB_IFNAME } from '../kernel/index.js'
import type { LbView } from './lb-view.js'
import { IPV4 as F } from '../spec/family.js'

/**
 * `ip -batch` lines of an address change: VIPs removed (in the order given),
 * the LB IP, VIPs added. `create`: `lb0` comes up after its addresses
 * (adding 10k aliases to a down link is 2x faster).
 */
export function renderAddressLines (lbFrom: string, lbTo: string, vipsDel: readonly string[], vipsAdd: readonly string[], create: boolean): string[] {
  const lines: string[] = []
  for (const v of vipsDel) lines.push(`addr del ${v}/${F.hostPrefixLen} dev ${LB_IFNAME}`)
  if (lbFrom !== lbTo) {
    if (lbFrom !== '') lines.push(`addr del ${lbFrom} dev ${LB_IFNAME}`)
    if (lbTo !== '') lines.push(`addr add ${lbTo} dev ${LB_IFNAME}`)
  }
  for (const v of vipsAdd) lines.push(`addr add ${v}/${F.hostPrefixLen} dev ${LB_IFNAME}`)
  if (create) lines.push(`link set ${LB_IFNAME} up`)
  return lines
}

/**
 * `ip -batch` lines moving the sandbox's addresses from `old` to `next` (LB IP
 * first, so VIP aliases are secondary). On creation (`old` undefined) `lb0`
 * comes up after its addresses.
 */
export function addressLines (old: Pick<LbView, 'lbAddress' | 'vips'> | undefined, next: Pick<LbView, 'lbAddress' | 'vips'>): string[] {
  const oldVips = new Set(old?.vips ?? [])
  const newVips = new Set(next.vips)
  return renderAddressLines(old?.lbAddress ?? '', next.lbAddress, [...oldVips].filter(v => !newVips.has(v)), [...newVips].filter(v => !oldVips.has(v)), old === undefined)
}
