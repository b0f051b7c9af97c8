import { IPVS_FWMARK_BASE } from '../spec/constants.js'
import { compareIp } from './slots.js'
import type { SandboxSpec } from '../spec/types.js'
import { validateSandboxSpec } from '../spec/validate.js'
import { FAMILIES, IPV6, LB_NFT_FAMILY as T, keyFamily } from '../spec/family.js'

/** IPVS state of one sandbox: Docker's layout (fwmark service per VIP port, masquerading real servers). */
export interface IpvsView {
  /** LB IPs with prefix, one per family (IPv4 first). */
  lbAddresses: string[]
  vips: string[]
  /** `vip . proto . port` -> fwmark (stable while the port exists). */
  marks: Map<string, number>
  /** fwmark -> real server `ip:port` (`[ip6]:port`) -> weight (0 = draining). */
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
  const view: IpvsView = { lbAddresses: [...spec.lbAddresses], vips: [], marks: new Map(), reals: new Map(), noback: new Set() }
  const used = new Set<number>()
  const wanted: Array<[string, Map<string, number>]> = []
  const vips = new Set<string>()
  for (const svc of spec.services) {
    vips.add(svc.vip)
    if (svc.vip6 !== undefined) vips.add(svc.vip6)
    // per family: the VIP over the backends' `ip`, the IPv6 VIP over their `ip6`
    const perVip: Array<[string, Array<{ ip: string, weight: number, draining: boolean }>]> = [[svc.vip, svc.backends]]
    if (svc.vip6 !== undefined) perVip.push([svc.vip6, svc.backends.flatMap(b => b.ip6 === undefined ? [] : [{ ip: b.ip6, weight: b.weight, draining: b.draining }])])
    for (const [vip, unsorted] of perVip) {
      // one order per VIP, whatever the port
      const backends = [...unsorted].sort((x, y) => compareIp(x.ip, y.ip))
      for (const p of svc.ports) {
        const key = `${vip} . ${p.proto} . ${p.port}`
        if (backends.length === 0) {
          view.noback.add(key)
          continue
        }
        const reals = new Map<string, number>()
        for (const b of backends) {
          reals.set(realServer(b.ip, p.targetPort), b.draining ? 0 : b.weight)
        }
        wanted.push([key, reals])
        const m = old?.marks.get(key)
        if (m !== undefined) {
          view.marks.set(key, m)
          used.add(m)
        }
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

/** A real server as `ipvsadm` writes it: `ip:port`, `[ip6]:port`. */
function realServer (ip: string, port: number): string {
  return keyFamily(ip) === IPV6 ? `[${ip}]:${port}` : `${ip}:${port}`
}

/** Whether two IPVS views are the same kernel state. */
export function sameIpvsView (a: IpvsView, b: IpvsView): boolean {
  if (a.lbAddresses.join() !== b.lbAddresses.join() || a.vips.join() !== b.vips.join() || a.marks.size !== b.marks.size || a.reals.size !== b.reals.size) return false
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
  const families = Math.max(1, v.lbAddresses.length)
  let n = 4 * families + v.lbAddresses.length + v.marks.size + v.noback.size + v.reals.size + v.lbAddresses.length + v.vips.length
  for (const r of v.reals.values()) n += r.size
  return n
}

/** nft script creating the mark/SNAT/reject table of an IPVS sandbox: one `inet` table, per family a `marks` map and a `noback` set. */
export function ipvsTableScript (table: string, networkId: string): string[] {
  const lines = [`add table ${T} ${table} { comment ${JSON.stringify(`scalelb network ${networkId} (ipvs)`)} ; }`]
  for (const f of FAMILIES) {
    lines.push(
      `add map ${T} ${table} marks${f.suffix} { type ${f.addrType} . inet_proto . inet_service : mark ; }`,
      `add set ${T} ${table} noback${f.suffix} { type ${f.addrType} . inet_proto . inet_service ; }`
    )
  }
  lines.push(
    `add chain ${T} ${table} prerouting { type filter hook prerouting priority -150 ; policy accept ; }`,
    `add chain ${T} ${table} output { type route hook output priority -150 ; policy accept ; }`,
    `add chain ${T} ${table} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `add chain ${T} ${table} input { type filter hook input priority 0 ; policy accept ; }`,
    `add chain ${T} ${table} filter_out { type filter hook output priority 0 ; policy accept ; }`
  )
  for (const f of FAMILIES) {
    lines.push(
      `add rule ${T} ${table} prerouting meta l4proto { tcp, udp } meta mark set ${f.daddr} . meta l4proto . th dport map @marks${f.suffix}`,
      `add rule ${T} ${table} output meta l4proto { tcp, udp } meta mark set ${f.daddr} . meta l4proto . th dport map @marks${f.suffix}`,
      `add rule ${T} ${table} input ${f.daddr} . meta l4proto . th dport @noback${f.suffix} reject`,
      `add rule ${T} ${table} filter_out ${f.daddr} . meta l4proto . th dport @noback${f.suffix} reject`
    )
  }
  return lines
}

/** `delete/add element` lines of per-family maps or sets named `base` (`marks`, `marks6`). */
function familyElements (table: string, verb: 'add' | 'delete', base: string, items: Array<[string, string]>): string[] {
  const out: string[] = []
  for (const f of FAMILIES) {
    const mine = items.filter(([k]) => keyFamily(k) === f).map(([, e]) => e)
    if (mine.length > 0) out.push(`${verb} element ${T} ${table} ${base}${f.suffix} { ${mine.join(', ')} }`)
  }
  return out
}

/** The nft script and `ipvsadm -R` lines taking a sandbox from `old` to `next`. */
export function ipvsDiff (table: string, networkId: string, old: IpvsView | undefined, next: IpvsView): { nft: string, ipvsadm: string[] } {
  const nft: string[] = old === undefined ? ipvsTableScript(table, networkId) : []
  if (old?.lbAddresses.join() !== next.lbAddresses.join()) {
    if (old !== undefined) nft.push(`flush chain ${T} ${table} postrouting`)
    // SNAT what IPVS balanced (marked) to the LB IP of its family, as Docker's `-m ipvs --ipvs -j SNAT`
    for (const a of next.lbAddresses) {
      const f = keyFamily(a)
      nft.push(`add rule ${T} ${table} postrouting meta nfproto ${f.name} meta mark >= ${IPVS_FWMARK_BASE} snat ${f.nft} to ${a.split('/')[0]}`)
    }
  }
  const oldMarks = old?.marks ?? new Map<string, number>()
  const delMarks = [...oldMarks].filter(([k, m]) => next.marks.get(k) !== m)
  const addMarks = [...next.marks].filter(([k, m]) => oldMarks.get(k) !== m)
  nft.push(...familyElements(table, 'delete', 'marks', delMarks.map(([k]) => [k, k])))
  nft.push(...familyElements(table, 'add', 'marks', addMarks.map(([k, m]) => [k, `${k} : ${m}`])))
  const oldNo = old?.noback ?? new Set<string>()
  const delNo = [...oldNo].filter(k => !next.noback.has(k))
  const addNo = [...next.noback].filter(k => !oldNo.has(k))
  nft.push(...familyElements(table, 'delete', 'noback', delNo.map(k => [k, k])))
  nft.push(...familyElements(table, 'add', 'noback', addNo.map(k => [k, k])))

  // an IPv6 fwmark service is its own service (`-6`): the family of its port's VIP
  const sixOf = new Map<number, string>()
  for (const [k, m] of [...oldMarks, ...next.marks]) if (keyFamily(k) === IPV6) sixOf.set(m, ' -6')
  const six = (m: number): string => sixOf.get(m) ?? ''
  const ipvsadm: string[] = []
  const oldReals = old?.reals ?? new Map<number, Map<string, number>>()
  for (const m of oldReals.keys()) if (!next.reals.has(m)) ipvsadm.push(`-D -f ${m}${six(m)}`)
  for (const [m, reals] of next.reals) {
    const prev = oldReals.get(m)
    if (prev === undefined) ipvsadm.push(`-A -f ${m}${six(m)} -s rr`)
    for (const s of prev?.keys() ?? []) if (!reals.has(s)) ipvsadm.push(`-d -f ${m}${six(m)} -r ${s}`)
    for (const [s, w] of reals) {
      const pw = prev?.get(s)
      if (pw === undefined) ipvsadm.push(`-a -f ${m}${six(m)} -r ${s} -m -w ${w}`)
      else if (pw !== w) ipvsadm.push(`-e -f ${m}${six(m)} -r ${s} -m -w ${w}`)
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
    const r = /^-a -f (\d+)(?: -6)? -r (\S+) -m -w (\d+)/.exec(line.trim())
    if (r !== null) {
      const m = reals.get(Number(r[1])) ?? new Map<string, number>()
      m.set(r[2], Number(r[3]))
      reals.set(Number(r[1]), m)
    }
  }
  return reals
}
