import { KernelStateError, type NftJson } from '../kernel/index.js'
import { emptyView, parseChainName, type LbView, type SlotPort } from './lb-view.js'
import { keyFamily } from '../spec/family.js'

/** Backend maps of either family: `backends_tcp`, `backends6_udp`. */
const BACKEND_MAP = /^backends6?_(tcp|udp)$/

type Elem = unknown

function concat (e: Elem, what: string): unknown[] {
  const c = (e as { concat?: unknown }).concat
  if (!Array.isArray(c)) throw new KernelStateError(`nft -j ${what}: expected a concatenation, got ${JSON.stringify(e)}`)
  return c
}

/** A target port as read: the number its text is (as a build's), else the text (a slot's target renders the same: `ip . port`). */
function slotPort (v: unknown): SlotPort {
  const s = String(v)
  const n = Number(s)
  return String(n) === s ? n : s
}

const PROTO_NAMES: Record<string, string> = { 6: 'tcp', 17: 'udp', tcp: 'tcp', udp: 'udp' }

function proto (v: unknown, what: string): string {
  const p = PROTO_NAMES[String(v)]
  if (p === undefined) throw new KernelStateError(`nft -j ${what}: unknown protocol ${JSON.stringify(v)}`)
  return p
}

/**
 * Rebuild the element view of one LB table from `nft -j list table` output.
 * `lbAddresses` and `vips` come from the interface (see the nft programmer);
 * the SNAT addresses found are returned beside the view to cross-check them.
 */
export function viewFromNftJson (networkId: string, json: NftJson): { view: LbView, snatIps: string[] } {
  const view = emptyView(networkId)
  const snatIps: string[] = []
  const moduli = new Map<string, number>()
  const slots = new Map<string, Map<number, [string, SlotPort]>>()
  for (const obj of json) {
    const map = (obj.map ?? obj.set) as { name?: string, elem?: unknown[] } | undefined
    if (map !== undefined) {
      for (const el of map.elem ?? []) {
        if (map.name === 'services' || map.name === 'services6') {
          const [k, v] = el as [Elem, { goto?: { target?: string } }]
          const [vip, p, port] = concat(k, map.name)
          const target = v?.goto?.target ?? ''
          const c = parseChainName(target)
          if (c === undefined || c.f !== keyFamily(String(vip))) throw new KernelStateError(`nft -j ${map.name}: unexpected verdict ${JSON.stringify(v)}`)
          moduli.set(`${String(vip)} . ${proto(p, map.name)} . ${String(port)}`, c.modulus)
        } else if (map.name !== undefined && BACKEND_MAP.test(map.name)) {
          const pr = map.name.slice(map.name.indexOf('_') + 1)
          const [k, v] = el as [Elem, Elem]
          const [vip, port, slot] = concat(k, map.name)
          const [ip, tport] = concat(v, map.name)
          const key = `${String(vip)} . ${pr} . ${String(port)}`
          const m = slots.get(key) ?? new Map<number, [string, SlotPort]>()
          m.set(Number(slot), [String(ip), slotPort(tport)])
          slots.set(key, m)
        } else if (map.name === 'noback' || map.name === 'noback6') {
          const [vip, p, port] = concat(el, map.name)
          view.noback.add(`${String(vip)} . ${proto(p, map.name)} . ${String(port)}`)
        }
      }
    }
    const chain = obj.chain as { name?: string } | undefined
    if (chain?.name !== undefined && parseChainName(chain.name) !== undefined) view.chains.add(chain.name)
    const rule = obj.rule as { chain?: string, expr?: Array<Record<string, unknown>> } | undefined
    if (rule?.chain === 'postrouting') {
      for (const ex of rule.expr ?? []) {
        const addr = (ex.snat as { addr?: unknown } | undefined)?.addr
        if (typeof addr === 'string') snatIps.push(addr)
      }
    }
  }
  for (const [key, modulus] of moduli) {
    const m = slots.get(key)
    const ips = new Array<string>(modulus)
    const ports = new Array<SlotPort>(modulus)
    for (let i = 0; i < modulus; i++) {
      const v = m?.get(i)
      if (v === undefined) throw new KernelStateError(`nft -j backends: ${key} has no slot ${i}`)
      ips[i] = v[0]
      ports[i] = v[1]
    }
    // one port for the table, as a build makes it, unless the kernel holds several
    view.services.set(key, { ips, port: ports.every((p) => p === ports[0]) ? ports[0] as SlotPort : ports })
  }
  return { view, snatIps }
}
