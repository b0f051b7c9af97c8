import { IPVS_FWMARK_BASE } from '../spec/constants.js'
import { compareIp } from './slots.js'
import type { SandboxSpec } from '../spec/types.js'
import { validateSandboxSpec } from '../spec/validate.js'
import { IPV4 as F } from '../spec/family.js'

/** IPVS state of one sandbox: Docker's layout (fwmark service per VIP port, masquerading real servers). */
export interface IpvsView {
  lbAddress: string
  vips: string[]
  /** `vip . proto . port` -> fwmark (stable while the port exists). */
  marks: Map<string, number>
  /** fwmark -> real server `ip:port` -> weight (0 = draining). */
  reals: Map<number, Map<string, number>>
  /** `vip . proto . port` without any backend (rejected). */
  noback: Set<string>
}

/**
 * Desired IPVS view. Marks of ports already programmed (`old`) are kept; new
 * ports get the lowest free mark from IPVS_FWMARK_BASE.
 */
export function ipvsViewFromSpec (spec: SandboxSpec, old: IpvsView | undefined): IpvsView {
  validateSandboxSpec(spec)
  const view: IpvsView = { lbAddress: spec.lbAddress, vips: [], marks: new Map(), reals: new Map(), noback: new Set() }
  const used = new Set<number>()
  const wanted: Array<[string, Map<string, number>]> = []
  const vips = new Set<string>()
  for (const svc of spec.services) {
    vips.add(svc.vip)
    for (const p of svc.ports) {
      const key = `${svc.vip} . ${p.proto} . ${p.port}`
      if (svc.backends.length === 0) {
        view.noback.add(key)
        continue
      }
      const reals = new Map<string, number>()
      for (const b of [...svc.backends].sort((x, y) => compareIp(x.ip, y.ip))) {
        reals.set(`${b.ip}:${p.targetPort}`, b.draining ? 0 : b.weight)
      }
      wanted.push([key, reals])
      const m = old?.marks.get(key)
      if (m !== undefined) {
        view.marks.set(key, m)
        used.add(m)
      }
    }
  }
  let next = IPVS_FWMARK_BASE
  for (const [key, reals] of wanted) {
    let m = view.marks.get(key)
    if (m === undefined) {
      while (used.has(next)) next++
      m = next
      used.add(m)
      view.marks.set(key, m)
    }
    view.reals.set(m, reals)
  }
  view.vips = [...vips].sort()
  return view
}

/** Whether two IPVS views are the same kernel state. */
export function sameIpvsView (a: IpvsView, b: IpvsView): boolean {
  if (a.lbAddress !== b.lbAddress || a.vips.join() !== b.vips.join() || a.marks.size !== b.marks.size || a.reals.size !== b.reals.size) return false
  if (a.noback.size !== b.noback.size || ![...a.noback].every(k => b.noback.has(k))) return false
  for (const [k, m] of a.marks) if (b.marks.get(k) !== m) return false
  for (const [m, r] of a.reals) {
    const o = b.reals.get(m)
    if (o === undefined || o.size !== r.size || ![...r].every(([s, w]) => o.get(s) === w)) return false
  }
  return true
}

/** Kernel objects of an IPVS view: mangle/SNAT/reject rules, marks, virtual + real servers, addresses. */
export function ipvsObjectCount (v: IpvsView): number {
  let n = 5 + v.marks.size + v.noback.size + v.reals.size + 1 + v.vips.length
  for (const r of v.reals.values()) n += r.size
  return n
}

/** nft script creating the mark/SNAT/reject table of an IPVS sandbox. */
export function ipvsTableScript (table: string, networkId: string): string[] {
  return [
    `add table ${F.nft} ${table} { comment ${JSON.stringify(`scalelb network ${networkId} (ipvs)`)} ; }`,
    `add map ${F.nft} ${table} marks { type ${F.addrType} . inet_proto . inet_service : mark ; }`,
    `add set ${F.nft} ${table} noback { type ${F.addrType} . inet_proto . inet_service ; }`,
    `add chain ${F.nft} ${table} prerouting { type filter hook prerouting priority -150 ; policy accept ; }`,
    `add chain ${F.nft} ${table} output { type route hook output priority -150 ; policy accept ; }`,
    `add chain ${F.nft} ${table} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `add chain ${F.nft} ${table} input { type filter hook input priority 0 ; policy accept ; }`,
    `add chain ${F.nft} ${table} filter_out { type filter hook output priority 0 ; policy accept ; }`,
    `add rule ${F.nft} ${table} prerouting meta l4proto { tcp, udp } meta mark set ${F.daddr} . meta l4proto . th dport map @marks`,
    `add rule ${F.nft} ${table} output meta l4proto { tcp, udp } meta mark set ${F.daddr} . meta l4proto . th dport map @marks`,
    `add rule ${F.nft} ${table} input ${F.daddr} . meta l4proto . th dport @noback reject`,
    `add rule ${F.nft} ${table} filter_out ${F.daddr} . meta l4proto . th dport @noback reject`
  ]
}

/** The nft script and `ipvsadm -R` lines taking a sandbox from `old` to `next`. */
export function ipvsDiff (table: string, networkId: string, old: IpvsView | undefined, next: IpvsView): { nft: string, ipvsadm: string[] } {
  const nft: string[] = old === undefined ? ipvsTableScript(table, networkId) : []
  if (old?.lbAddress !== next.lbAddress) {
    if (old !== undefined) nft.push(`flush chain ${F.nft} ${table} postrouting`)
    // SNAT what IPVS balanced (marked) to the LB IP, as Docker's `-m ipvs --ipvs -j SNAT`
    nft.push(`add rule ${F.nft} ${table} postrouting meta mark >= ${IPVS_FWMARK_BASE} snat to ${next.lbAddress.split('/')[0]}`)
  }
  const oldMarks = old?.marks ?? new Map<string, number>()
  const delMarks = [...oldMarks].filter(([k, m]) => next.marks.get(k) !== m)
  const addMarks = [...next.marks].filter(([k, m]) => oldMarks.get(k) !== m)
  if (delMarks.length > 0) nft.push(`delete element ${F.nft} ${table} marks { ${delMarks.map(([k]) => k).join(', ')} }`)
  if (addMarks.length > 0) nft.push(`add element ${F.nft} ${table} marks { ${addMarks.map(([k, m]) => `${k} : ${m}`).join(', ')} }`)
  const oldNo = old?.noback ?? new Set<string>()
  const delNo = [...oldNo].filter(k => !next.noback.has(k))
  const addNo = [...next.noback].filter(k => !oldNo.has(k))
  if (delNo.length > 0) nft.push(`delete element ${F.nft} ${table} noback { ${delNo.join(', ')} }`)
  if (addNo.length > 0) nft.push(`add element ${F.nft} ${table} noback { ${addNo.join(', ')} }`)

  const ipvsadm: string[] = []
  const oldReals = old?.reals ?? new Map<number, Map<string, number>>()
  for (const m of oldReals.keys()) if (!next.reals.has(m)) ipvsadm.push(`-D -f ${m}`)
  for (const [m, reals] of next.reals) {
    const prev = oldReals.get(m)
    if (prev === undefined) ipvsadm.push(`-A -f ${m} -s rr`)
    for (const s of prev?.keys() ?? []) if (!reals.has(s)) ipvsadm.push(`-d -f ${m} -r ${s}`)
    for (const [s, w] of reals) {
      const pw = prev?.get(s)
      if (pw === undefined) ipvsadm.push(`-a -f ${m} -r ${s} -m -w ${w}`)
      else if (pw !== w) ipvsadm.push(`-e -f ${m} -r ${s} -m -w ${w}`)
    }
  }
  return { nft: nft.length === 0 ? '' : nft.join('\n') + '\n', ipvsadm }
}

/** Parse `ipvsadm -S -n` output (fwmark services only) into mark -> real -> weight. */
export function parseIpvsadmSave (out: string): Map<number, Map<string, number>> {
  const reals = new Map<number, Map<string, number>>()
  for (const line of out.split('\n')) {
    const a = /^-A -f (\d+)/.exec(line.trim())
    if (a !== null) {
      reals.set(Number(a[1]), reals.get(Number(a[1])) ?? new Map())
      continue
    }
    const r = /^-a -f (\d+) -r (\S+) -m -w (\d+)/.exec(line.trim())
    if (r !== null) {
      const m = reals.get(Number(r[1])) ?? new Map<string, number>()
      m.set(r[2], Number(r[3]))
      reals.set(Number(r[1]), m)
    }
  }
  return reals
}
