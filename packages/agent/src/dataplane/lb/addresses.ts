import { LB_IFNAME } from '../kernel/index.js'
import type { LbView } from './lb-view.js'
import { keyFamily } from '../spec/family.js'

/**
 * `ip -batch` lines of an address change: VIPs removed (in the order given),
 * the LB IPs (one per family), VIPs added; IPv6 ones `nodad`. `create`:
 * `lb0` comes up after its addresses (adding 10k aliases to a down link is
 * 2x faster).
 */
export function renderAddressLines (lbFrom: readonly string[], lbTo: readonly string[], vipsDel: readonly string[], vipsAdd: readonly string[], create: boolean): string[] {
  const lines: string[] = []
  for (const v of vipsDel) lines.push(`addr del ${v}/${keyFamily(v).hostPrefixLen} dev ${LB_IFNAME}`)
  for (const a of lbFrom) if (!lbTo.includes(a)) lines.push(`addr del ${a} dev ${LB_IFNAME}`)
  for (const a of lbTo) if (!lbFrom.includes(a)) lines.push(`addr add ${a} dev ${LB_IFNAME}${keyFamily(a).addrFlags}`)
  for (const v of vipsAdd) {
    const f = keyFamily(v)
    lines.push(`addr add ${v}/${f.hostPrefixLen} dev ${LB_IFNAME}${f.addrFlags}`)
  }
  if (create) lines.push(`link set ${LB_IFNAME} up`)
  return lines
}

/**
 * `ip -batch` lines moving the sandbox's addresses from `old` to `next` (LB IP
 * first, so VIP aliases are secondary). On creation (`old` undefined) `lb0`
 * comes up after its addresses.
 */
export function addressLines (old: Pick<LbView, 'lbAddresses' | 'vips'> | undefined, next: Pick<LbView, 'lbAddresses' | 'vips'>): string[] {
  const oldVips = new Set(old?.vips ?? [])
  const newVips = new Set(next.vips)
  return renderAddressLines(old?.lbAddresses ?? [], next.lbAddresses, [...oldVips].filter(v => !newVips.has(v)), [...newVips].filter(v => !oldVips.has(v)), old === undefined)
}
