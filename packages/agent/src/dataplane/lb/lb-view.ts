import { MAP_TYPEOF_MODULUS } from '../spec/constants.js'
import { assignSlots } from './slots.js'
import type { SandboxSpec, ServiceSpec } from '../spec/types.js'
import { checkUniquePorts, servedFamilies, validateSandboxHeader, validateService } from '../spec/validate.js'
import { FAMILIES, IPV4, IPV6, LB_NFT_FAMILY as T, keyFamily, type AddressFamily } from '../spec/family.js'

/**
 * What one LB table holds, element by element: the in-memory copy of what was
 * programmed, and what adoption reads back from the kernel. Keys use nft's
 * element syntax so a diff renders directly.
 */
export interface LbView {
  networkId: string
  /** LB IPs with prefix, one per family, IPv4 first (`10.0.0.5/24`, `fd00::5/64`); SNAT sources. Empty in per-container mode. */
  lbAddresses: string[]
  /** VIPs (sorted) held as host-prefix (/32, /128) aliases. Empty in per-container mode. */
  vips: string[]
  /**
   * `vip . proto . port` -> slot table of a service port with backends: slot i
   * holds `backendIp . targetPort` ({@link SlotTable}); the modulus is the
   * table's length. The VIP's family picks the maps (`services`,
   * `services6`: {@link keyFamily}).
   */
  services: Map<string, SlotTable>
  /** `vip . proto . port` of services without a ready backend (rejected). */
  noback: Set<string>
  /**
   * Names of the modulus chains (`m<N>` IPv4, `m6_<N>` IPv6: {@link chainName}).
   * A chain is added in the same transaction the first time a service of
   * the family has N slots and kept while the table lives, so steady-state
   * updates are element-only. Not compared by {@link sameView}.
   */
  chains: Set<string>
}

/** Target port of a slot (a number; what the kernel answered, as it is, if not one). */
export type SlotPort = number | string

/**
 * Slot table of one service port: slot i sends to `ips[i] . port` (of each
 * slot, `port[i]`, only in a table read back from the kernel with mixed
 * ports). The tables a build makes for one service's ports share one `ips`
 * array, whose strings are the specs' own: a slot costs a pointer, where a
 * `backendIp . targetPort` string per slot cost ~40 bytes more (3.8 MiB at
 * 10k services x 10 backends, bench:memory). Never mutated once built.
 */
export interface SlotTable {
  readonly ips: readonly string[]
  readonly port: SlotPort | readonly SlotPort[]
}

function portAt (t: SlotTable, i: number): SlotPort | undefined {
  return typeof t.port === 'object' ? t.port[i] : t.port
}

/** The nft element value of slot `i`: `ip . port`. */
export function slotTarget (t: SlotTable, i: number): string {
  return `${t.ips[i] as string} . ${String(portAt(t, i))}`
}

/** Every slot's target, in slot order. */
export function slotTargets (t: SlotTable): string[] {
  return t.ips.map((_, i) => slotTarget(t, i))
}

/** Whether slot `i` of `a` and slot `j` of `b` send to the same target. */
function sameSlot (a: SlotTable, i: number, b: SlotTable, j: number): boolean {
  return a.ips[i] === b.ips[j] && portAt(a, i) === portAt(b, j)
}

/** An empty view (nothing programmed) for a network. */
export function emptyView (networkId: string, lbAddresses: string[] = []): LbView {
  return { networkId, lbAddresses, vips: [], services: new Map(), noback: new Set(), chains: new Set() }
}

/** Name of the chain balancing `modulus` slots of a family: `m3`, `m6_3`. */
export function chainName (f: AddressFamily, modulus: number): string {
  return f === IPV6 ? `m6_${modulus}` : `m${modulus}`
}

/** The family and modulus of a chain name; undefined when it is not one. */
export function parseChainName (name: string): { f: AddressFamily, modulus: number } | undefined {
  const m = /^m(6_)?(\d+)$/.exec(name)
  return m === null ? undefined : { f: m[1] === undefined ? IPV4 : IPV6, modulus: Number(m[2]) }
}

/** Built slot tables of one service (`key` -> table; undefined = rejected). */
export type ServiceBuild = Array<[string, SlotTable | undefined]>

/**
 * Builds of earlier calls keyed by each service's content; pass the same
 * cache on every call for one sandbox so an update rebuilds (and
 * re-validates) only the services that changed.
 */
export type ViewCache = Map<string, ServiceBuild>

/** A cheap fingerprint of a service's content: equal fingerprints build equal slot tables. */
export function signature (svc: ServiceSpec): string {
  let sig = svc.vip6 === undefined ? svc.vip : `${svc.vip}/${svc.vip6}`
  for (const p of svc.ports) sig += `|${p.proto}:${p.port}:${p.targetPort}`
  sig += '#'
  for (const b of svc.backends) sig += b.ip6 === undefined ? `${b.ip}:${b.weight}:${b.draining ? 1 : 0},` : `${b.ip}/${b.ip6}:${b.weight}:${b.draining ? 1 : 0},`
  return sig
}

/** Slot tables of one (validated) service: its VIP's ports, then (dual-stack) its IPv6 VIP's over the backends' `ip6`. */
export function buildService (svc: ServiceSpec): ServiceBuild {
  const out: ServiceBuild = []
  addPorts(out, svc, svc.vip, svc.backends)
  if (svc.vip6 !== undefined) {
    const six = []
    for (const b of svc.backends) if (b.ip6 !== undefined) six.push({ ip: b.ip6, weight: b.weight, draining: b.draining })
    addPorts(out, svc, svc.vip6, six)
  }
  return out
}

function addPorts (out: ServiceBuild, svc: ServiceSpec, vip: string, backends: ServiceSpec['backends']): void {
  const slots = assignSlots(backends)
  const modulus = slots.reduce((s, b) => s + b.slots, 0)
  // the exact length (push leaves room for ~2x: 72 bytes more per 10-slot table, bench:memory); one array for every port
  const ips = new Array<string>(modulus)
  let n = 0
  for (const b of slots) for (let i = 0; i < b.slots; i++) ips[n++] = b.ip
  for (const p of svc.ports) {
    // join makes flat strings: a concatenation this long is a cons string, which V8 keeps beside its
    // flattened copy once it is hashed (72 bytes per key where a flat string takes 40, bench:memory)
    const key = [vip, p.proto, p.port].join(' . ')
    out.push([key, modulus === 0 ? undefined : { ips, port: p.targetPort }])
  }
}

/**
 * Desired view of a sandbox: a pure function of the spec (validated; throws
 * ProgrammerInputError naming the field). `withAddresses` false gives the
 * per-container layout (no SNAT, no VIP aliases). With a `cache`, unchanged
 * services are reused (slot tables are shared and never mutated).
 */
export function viewFromSpec (spec: SandboxSpec, withAddresses = true, cache?: ViewCache): LbView {
  validateSandboxHeader(spec)
  const families = servedFamilies(spec)
  const view = emptyView(spec.networkId, withAddresses ? [...spec.lbAddresses] : [])
  const vips = new Set<string>()
  const used: ViewCache = new Map()
  spec.services.forEach((svc, i) => {
    const sig = cache === undefined ? undefined : signature(svc)
    let build = sig === undefined ? undefined : (used.get(sig) ?? cache?.get(sig))
    if (build === undefined) {
      validateService(svc, i, families)
      build = buildService(svc)
    }
    if (sig !== undefined) used.set(sig, build)
    vips.add(svc.vip)
    if (svc.vip6 !== undefined) vips.add(svc.vip6)
    for (const [key, table] of build) {
      if (table === undefined) view.noback.add(key)
      else view.services.set(key, table)
    }
  })
  checkUniquePorts(spec.services)
  if (cache !== undefined) {
    cache.clear()
    for (const [k, v] of used) cache.set(k, v)
  }
  if (withAddresses) view.vips = [...vips].sort()
  view.chains = moduli(view)
  return view
}

/** Chains in use (one per family and modulus: {@link chainName}). */
export function moduli (view: LbView): Set<string> {
  const res = new Set<string>()
  for (const [k, t] of view.services) res.add(chainName(keyFamily(k), t.ips.length))
  return res
}

/** Map elements (slots) of a view. */
export function slotCount (view: LbView): number {
  let n = 0
  // forEach: no iterator result per entry (counted at every apply, 10k+ entries)
  view.services.forEach((t) => { n += t.ips.length })
  return n
}

/** Whether two slot tables send each slot to the same target. */
export function sameTable (a: SlotTable | undefined, b: SlotTable | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined || a.ips.length !== b.ips.length) return false
  if (a.ips === b.ips && a.port === b.port) return true
  for (let i = 0; i < a.ips.length; i++) if (!sameSlot(a, i, b, i)) return false
  return true
}

/** Fixed rules of the table per family: two dispatch rules (prerouting, output) and two rejects. (Each modulus chain holds 2 rules; one SNAT rule per LB address.) */
const FIXED_RULES_PER_FAMILY = 4

/** Kernel objects of a view: rules + chains' rules + map/set elements + addresses. */
export function kernelObjectCount (view: LbView): number {
  // rules of the families this sandbox serves (the table has both families' rules; an unused family's match nothing)
  const families = Math.max(1, view.lbAddresses.length)
  const addrs = view.lbAddresses.length === 0 ? 0 : view.lbAddresses.length + view.vips.length
  return FIXED_RULES_PER_FAMILY * families + view.lbAddresses.length + 2 * view.chains.size + view.services.size + slotCount(view) + view.noback.size + addrs
}

/** Whether two views program the same kernel state. */
export function sameView (a: LbView, b: LbView): boolean {
  return a.networkId === b.networkId && a.lbAddresses.join(',') === b.lbAddresses.join(',') &&
    a.vips.join(',') === b.vips.join(',') && a.services.size === b.services.size &&
    [...a.services].every(([k, t]) => sameTable(t, b.services.get(k))) &&
    a.noback.size === b.noback.size && [...a.noback].every(k => b.noback.has(k))
}

function lbIp (lbAddress: string): string {
  return lbAddress.split('/')[0]
}

function dispatchRule (table: string, chain: string, f: AddressFamily): string {
  return `add rule ${T} ${table} ${chain} meta l4proto { tcp, udp } ${f.daddr} . meta l4proto . th dport vmap @services${f.suffix}`
}

/** SNAT rule of one LB address: connections the table DNATed leave from it. */
function snatRule (table: string, lbAddress: string): string {
  const f = keyFamily(lbAddress)
  return `add rule ${T} ${table} postrouting meta nfproto ${f.name} ct status dnat snat ${f.nft} to ${lbIp(lbAddress)}`
}

/**
 * Script that (re)creates an empty table of the layout (one transaction with
 * what follows): one `inet` table serving both families, each with its own
 * maps (`services`, `backends_tcp` ...; `services6`, `backends6_tcp` ...).
 */
export function createTableScript (table: string, networkId: string): string[] {
  const lines = [
    // a stale table we could not read back (older layout, half-written) is replaced atomically, as is
    // the IPv4-only `ip` table of earlier versions; established connections keep their NAT bindings in conntrack
    `add table ${T} ${table}`,
    `delete table ${T} ${table}`,
    `add table ip ${table}`,
    `delete table ip ${table}`,
    `add table ${T} ${table} { comment ${JSON.stringify(`scalelb network ${networkId}`)} ; }`
  ]
  for (const f of FAMILIES) {
    const x = f.suffix
    lines.push(
      `add map ${T} ${table} backends${x}_tcp { typeof ${f.daddr} . tcp dport . numgen random mod ${MAP_TYPEOF_MODULUS} : ${f.daddr} . tcp dport ; }`,
      `add map ${T} ${table} backends${x}_udp { typeof ${f.daddr} . udp dport . numgen random mod ${MAP_TYPEOF_MODULUS} : ${f.daddr} . udp dport ; }`,
      `add map ${T} ${table} services${x} { typeof ${f.daddr} . meta l4proto . th dport : verdict ; }`,
      `add set ${T} ${table} noback${x} { typeof ${f.daddr} . meta l4proto . th dport ; }`
    )
  }
  lines.push(
    `add chain ${T} ${table} prerouting { type nat hook prerouting priority -100 ; policy accept ; }`,
    `add chain ${T} ${table} output { type nat hook output priority -100 ; policy accept ; }`,
    `add chain ${T} ${table} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `add chain ${T} ${table} input { type filter hook input priority 0 ; policy accept ; }`,
    `add chain ${T} ${table} filter_out { type filter hook output priority 0 ; policy accept ; }`
  )
  for (const f of FAMILIES) {
    lines.push(
      dispatchRule(table, 'prerouting', f),
      dispatchRule(table, 'output', f),
      `add rule ${T} ${table} input ${f.daddr} . meta l4proto . th dport @noback${f.suffix} reject`,
      `add rule ${T} ${table} filter_out ${f.daddr} . meta l4proto . th dport @noback${f.suffix} reject`
    )
  }
  return lines
}

function elementOps (table: string, name: string, verb: 'add' | 'delete', items: string[]): string[] {
  if (items.length === 0) return []
  return [`${verb} element ${T} ${table} ${name} { ${items.join(', ')} }`]
}

/** Element lists of one change, per map or set name. */
class ElementLists {
  readonly byName = new Map<string, string[]>()
  push (name: string, item: string): void {
    const l = this.byName.get(name)
    if (l === undefined) this.byName.set(name, [item])
    else l.push(item)
  }

  ops (table: string, verb: 'add' | 'delete', names: readonly string[]): string[] {
    const out: string[] = []
    for (const n of names) out.push(...elementOps(table, n, verb, this.byName.get(n) ?? []))
    return out
  }
}

const SERVICE_MAPS = FAMILIES.map(f => `services${f.suffix}`)
const BACKEND_MAPS = FAMILIES.flatMap(f => [`backends${f.suffix}_tcp`, `backends${f.suffix}_udp`])
const NOBACK_SETS = FAMILIES.map(f => `noback${f.suffix}`)

/** One service port whose slot table changes (undefined = no table: absent or rejected). */
export interface SlotChange {
  key: string
  from: SlotTable | undefined
  to: SlotTable | undefined
}

/** What changes in one LB table, element by element: the input of {@link renderScript}. */
export interface LbDelta {
  /** SNAT sources before (none = []) and after. */
  lbAddressesFrom: readonly string[]
  lbAddressesTo: readonly string[]
  slots: SlotChange[]
  nobackDel: string[]
  nobackAdd: string[]
  /** Chains to add ({@link chainName}), sorted. */
  newChains: string[]
}

/** Whether two address lists are equal. */
export function sameList (a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * nft script of a delta; `create` = the table does not exist yet (it is
 * created in the same transaction). A changed element is a delete + add in
 * the same script; `nft -f` runs it as one transaction.
 */
export function renderScript (table: string, networkId: string, create: boolean, d: LbDelta): string {
  const lines: string[] = []
  if (create) lines.push(...createTableScript(table, networkId))
  if (!sameList(d.lbAddressesFrom, d.lbAddressesTo)) {
    if (!create) lines.push(`flush chain ${T} ${table} postrouting`)
    for (const a of d.lbAddressesTo) lines.push(snatRule(table, a))
  }
  for (const name of d.newChains) {
    const c = parseChainName(name)
    if (c === undefined) continue
    const f = c.f
    lines.push(`add chain ${T} ${table} ${name}`)
    for (const proto of ['tcp', 'udp']) {
      lines.push(`add rule ${T} ${table} ${name} meta l4proto ${proto} dnat ${f.nft} to ${f.daddr} . ${proto} dport . numgen random mod ${c.modulus} map @backends${f.suffix}_${proto}`)
    }
  }
  // per service port: changed slots are delete + add
  const del = new ElementLists()
  const add = new ElementLists()
  for (const { key: k, from: a, to: b } of d.slots) {
    const f = keyFamily(k)
    const na = a?.ips.length
    const nb = b?.ips.length
    if (a !== undefined && na !== nb) del.push(`services${f.suffix}`, k)
    if (b !== undefined && na !== nb) add.push(`services${f.suffix}`, `${k} : goto ${chainName(f, b.ips.length)}`)
    const [vip, proto, port] = k.split(' . ')
    const map = `backends${f.suffix}_${proto}`
    const n = Math.max(na ?? 0, nb ?? 0)
    for (let i = 0; i < n; i++) {
      const x = a !== undefined && i < a.ips.length
      const y = b !== undefined && i < b.ips.length
      if (x && y && sameSlot(a, i, b, i)) continue
      if (x) del.push(map, `${vip} . ${port} . ${i}`)
      if (y) add.push(map, `${vip} . ${port} . ${i} : ${slotTarget(b, i)}`)
    }
  }
  for (const k of d.nobackDel) del.push(`noback${keyFamily(k).suffix}`, k)
  for (const k of d.nobackAdd) add.push(`noback${keyFamily(k).suffix}`, k)
  lines.push(...del.ops(table, 'delete', SERVICE_MAPS))
  lines.push(...del.ops(table, 'delete', BACKEND_MAPS))
  lines.push(...del.ops(table, 'delete', NOBACK_SETS))
  lines.push(...add.ops(table, 'add', BACKEND_MAPS))
  lines.push(...add.ops(table, 'add', SERVICE_MAPS))
  lines.push(...add.ops(table, 'add', NOBACK_SETS))
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}

/**
 * nft script taking a table from `old` (undefined = absent) to `next`:
 * element-only updates (plus an `m<N>` chain the first time N slots are
 * used); see {@link renderScript}. Store {@link withChains}(old, next) after it.
 */
export function diffScript (table: string, old: LbView | undefined, next: LbView): string {
  const prev = old ?? emptyView(next.networkId)
  const slots: SlotChange[] = []
  for (const k of new Set([...prev.services.keys(), ...next.services.keys()])) {
    const from = prev.services.get(k)
    const to = next.services.get(k)
    if (!sameTable(from, to)) slots.push({ key: k, from, to })
  }
  return renderScript(table, next.networkId, old === undefined, {
    lbAddressesFrom: prev.lbAddresses,
    lbAddressesTo: next.lbAddresses,
    slots,
    nobackDel: [...prev.noback].filter(k => !next.noback.has(k)),
    nobackAdd: [...next.noback].filter(k => !prev.noback.has(k)),
    newChains: [...moduli(next)].filter(m => !prev.chains.has(m)).sort()
  })
}

/** `next` carrying the chains `old` already had (chains are never removed while the table lives). */
export function withChains (old: LbView | undefined, next: LbView): LbView {
  return { ...next, chains: new Set([...(old?.chains ?? []), ...next.chains]) }
}
