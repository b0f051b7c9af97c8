import { KernelStateError, type NftJson } from '../kernel/index.js'
import { emptyView, type LbView } from './lb-view.js'

type Elem = unknown

function concat (e: Elem, what: string): unknown[] {
  const c = (e as { concat?: unknown }).concat
  if (!Array.isArray(c)) throw new KernelStateError(`nft -j ${what}: expected a concatenation, got ${JSON.stringify(e)}`)
  return c
}

const PROTO_NAMES: Record<string, string> = { 6: 'tcp', 17: 'udp', tcp: 'tcp', udp: 'udp' }

function proto (v: unknown, what: string): string {
  const p = PROTO_NAMES[String(v)]
  if (p === undefined) throw new KernelStateError(`nft -j ${what}: unknown protocol ${JSON.stringify(v)}`)
  return p
}

/**
 * Rebuild the element view of one LB table from `nft -j list table` output.
 * `lbAddress` and `vips` come from the interface (see the nft programmer);
 * the SNAT address found is returned beside the view to cross-check them.
 */
export function viewFromNftJson (networkId: string, json: NftJson): { view: LbView, snatIp: string | undefined } {
  const view = emptyView(networkId)
  let snatIp: string | undefined
  const slots = new Map<string, Map<number, string>>()
  for (const obj of json) {
    const map = (obj.map ?? obj.set) as { name?: string, elem?: unknown[] } | undefined
    if (map !== undefined) {
      for (const el of map.elem ?? []) {
        if (map.name === 'services') {
          const [k, v] = el as [Elem, { goto?: { target?: string } }]
          const [vip, p, port] = concat(k, 'services')
          const target = v?.goto?.target ?? ''
          const m = /^m(\d+)$/.exec(target)
          if (m === null) throw new KernelStateError(`nft -j services: unexpected verdict ${JSON.stringify(v)}`)
          view.services.set(`${String(vip)} . ${proto(p, 'services')} . ${String(port)}`, new Array<string>(Number(m[1])))
        } else if (map.name === 'backends_tcp' || map.name === 'backends_udp') {
          const pr = map.name.slice('backends_'.length)
          const [k, v] = el as [Elem, Elem]
          const [vip, port, slot] = concat(k, map.name)
          const [ip, tport] = concat(v, map.name)
          const key = `${String(vip)} . ${pr} . ${String(port)}`
          const m = slots.get(key) ?? new Map<number, string>()
          m.set(Number(slot), `${String(ip)} . ${String(tport)}`)
          slots.set(key, m)
        } else if (map.name === 'noback') {
          const [vip, p, port] = concat(el, 'noback')
          view.noback.add(`${String(vip)} . ${proto(p, 'noback')} . ${String(port)}`)
        }
      }
    }
    const chain = obj.chain as { name?: string } | undefined
    const cm = /^m(\d+)$/.exec(chain?.name ?? '')
    if (cm !== null) view.chains.add(Number(cm[1]))
    const rule = obj.rule as { chain?: string, expr?: Array<Record<string, unknown>> } | undefined
    if (rule?.chain === 'postrouting') {
      for (const ex of rule.expr ?? []) {
        const addr = (ex.snat as { addr?: unknown } | undefined)?.addr
        if (typeof addr === 'string') snatIp = addr
      }
    }
  }
  for (const [key, table] of view.services) {
    const m = slots.get(key)
    for (let i = 0; i < table.length; i++) {
      const v = m?.get(i)
      if (v === undefined) throw new KernelStateError(`nft -j backends: ${key} has no slot ${i}`)
      table[i] = v
    }
  }
  return { view, snatIp }
}
