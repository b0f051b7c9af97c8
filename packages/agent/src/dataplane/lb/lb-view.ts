import { MAP_TYPEOF_MODULUS } from '../spec/constants.js'
import { assignSlots } from './slots.js'
import type { SandboxSpec, ServiceSpec } from '../spec/types.js'
import { checkUniquePorts, validateSandboxHeader, validateService } from '../spec/validate.js'
import { IPV4 as F } from '../spec/family.js'

/**
 * What one LB table holds, element by element: the in-memory copy of what was
 * programmed, and what adoption reads back from the kernel. Keys use nft's
 * element syntax so a diff renders directly.
 */
export interface LbView {
  networkId: string
  /** LB IP with prefix (`10.0.0.5/24`); SNAT source. Empty in per-container mode. */
  lbAddress: string
  /** VIPs (sorted) held as host-prefix (/32) aliases. Empty in per-container mode. */
  vips: string[]
  /**
   * `vip . proto . port` -> slot table of a service port with backends: slot i
   * holds `backendIp . targetPort`; the modulus is the table's length.
   */
  services: Map<string, string[]>
  /** `vip . proto . port` of services without a ready backend (rejected). */
  noback: Set<string>
  /**
   * Moduli with an `m<N>` chain. A chain is added in the same transaction the
   * first time a service has N slots and kept while the table lives, so
   * steady-state updates are element-only. Not compared by {@link sameView}.
   */
  chains: Set<number>
}

/** An empty view (nothing programmed) for a network. */
export function emptyView (networkId: string, lbAddress = ''): LbView {
  return { networkId, lbAddress, vips: [], services: new Map(), noback: new Set(), chains: new Set() }
}

/** Built slot tables of one service (`key` -> table; undefined = rejected). */
export type ServiceBuild = Array<[string, string[] | undefined]>

/**
 * Builds of earlier calls keyed by each service's content; pass the same
 * cache on every call for one sandbox so an update rebuilds (and
 * re-validates) only the services that changed.
 */
export type ViewCache = Map<string, ServiceBuild>

/** A cheap fingerprint of a service's content: equal fingerprints build equal slot tables. */
export function signature (svc: ServiceSpec): string {
  let sig = svc.vip
  for (const p of svc.ports) sig += `|${p.proto}:${p.port}:${p.targetPort}`
  sig += '#'
  for (const b of svc.backends) sig += `${b.ip}:${b.weight}:${b.draining ? 1 : 0},`
  return sig
}

/** Slot tables of one (validated) service. */
export function buildService (svc: ServiceSpec): ServiceBuild {
  const slots = assignSlots(svc.backends)
  const modulus = slots.reduce((s, b) => s + b.slots, 0)
  return svc.ports.map(p => {
    const key = `${svc.vip} . ${p.proto} . ${p.port}`
    if (modulus === 0) return [key, undefined]
    const table: string[] = []
    for (const b of slots) {
      const target = `${b.ip} . ${p.targetPort}`
      for (let i = 0; i < b.slots; i++) table.push(target)
    }
    return [key, table]
  })
}

/**
 * Desired view of a sandbox: a pure function of the spec (validated; throws
 * ProgrammerInputError naming the field). `withAddresses` false gives the
 * per-container layout (no SNAT, no VIP aliases). With a `cache`, unchanged
 * services are reused (slot tables are shared and never mutated).
 */
export function viewFromSpec (spec: SandboxSpec, withAddresses = true, cache?: ViewCache): LbView {
  validateSandboxHeader(spec)
  const view = emptyView(spec.networkId, withAddresses ? spec.lbAddress : '')
  const vips = new Set<string>()
  const used: ViewCache = new Map()
  spec.services.forEach((svc, i) => {
    const sig = cache === undefined ? undefined : signature(svc)
    let build = sig === undefined ? undefined : (used.get(sig) ?? cache?.get(sig))
    if (build === undefined) {
      validateService(svc, i)
      build = buildService(svc)
    }
    if (sig !== undefined) used.set(sig, build)
    vips.add(svc.vip)
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

/** Moduli in use (one `m<N>` chain each). */
export function moduli (view: LbView): Set<number> {
  const res = new Set<number>()
  for (const t of view.services.values()) res.add(t.length)
  return res
}

/** Map elements (slots) of a view. */
export function slotCount (view: LbView): number {
  let n = 0
  for (const t of view.services.values()) n += t.length
  return n
}

/** Whether two slot tables are equal. */
export function sameTable (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Fixed rules of the table: two dispatch rules (prerouting, output), SNAT, two rejects. (Each m<N> chain holds 2 rules.) */
const FIXED_RULES = 5

/** Kernel objects of a view: rules + chains' rules + map/set elements + addresses. */
export function kernelObjectCount (view: LbView): number {
  const addrs = view.lbAddress === '' ? 0 : 1 + view.vips.length
  return FIXED_RULES + 2 * view.chains.size + view.services.size + slotCount(view) + view.noback.size + addrs
}

/** Whether two views program the same kernel state. */
export function sameView (a: LbView, b: LbView): boolean {
  return a.networkId === b.networkId && a.lbAddress === b.lbAddress &&
    a.vips.join(',') === b.vips.join(',') && a.services.size === b.services.size &&
    [...a.services].every(([k, t]) => sameTable(t, b.services.get(k))) &&
    a.noback.size === b.noback.size && [...a.noback].every(k => b.noback.has(k))
}

function lbIp (lbAddress: string): string {
  return lbAddress.split('/')[0]
}

function dispatchRule (table: string, chain: string): string {
  return `add rule ${F.nft} ${table} ${chain} meta l4proto { tcp, udp } ${F.daddr} . meta l4proto . th dport vmap @services`
}

/** Script that (re)creates an empty table of the layout (one transaction with what follows). */
export function createTableScript (table: string, networkId: string): string[] {
  return [
    // a stale table we could not read back (older layout, half-written) is replaced atomically;
    // established connections keep their NAT bindings in conntrack
    `add table ${F.nft} ${table}`,
    `delete table ${F.nft} ${table}`,
    `add table ${F.nft} ${table} { comment ${JSON.stringify(`scalelb network ${networkId}`)} ; }`,
    `add map ${F.nft} ${table} backends_tcp { typeof ${F.daddr} . tcp dport . numgen random mod ${MAP_TYPEOF_MODULUS} : ${F.daddr} . tcp dport ; }`,
    `add map ${F.nft} ${table} backends_udp { typeof ${F.daddr} . udp dport . numgen random mod ${MAP_TYPEOF_MODULUS} : ${F.daddr} . udp dport ; }`,
    `add map ${F.nft} ${table} services { typeof ${F.daddr} . meta l4proto . th dport : verdict ; }`,
    `add set ${F.nft} ${table} noback { typeof ${F.daddr} . meta l4proto . th dport ; }`,
    `add chain ${F.nft} ${table} prerouting { type nat hook prerouting priority -100 ; policy accept ; }`,
    `add chain ${F.nft} ${table} output { type nat hook output priority -100 ; policy accept ; }`,
    `add chain ${F.nft} ${table} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `add chain ${F.nft} ${table} input { type filter hook input priority 0 ; policy accept ; }`,
    `add chain ${F.nft} ${table} filter_out { type filter hook output priority 0 ; policy accept ; }`,
    dispatchRule(table, 'prerouting'),
    dispatchRule(table, 'output'),
    `add rule ${F.nft} ${table} input ${F.daddr} . meta l4proto . th dport @noback reject`,
    `add rule ${F.nft} ${table} filter_out ${F.daddr} . meta l4proto . th dport @noback reject`
  ]
}

function elementOps (table: string, name: string, verb: 'add' | 'delete', items: string[]): string[] {
  if (items.length === 0) return []
  return [`${verb} element ${F.nft} ${table} ${name} { ${items.join(', ')} }`]
}

/** One service port whose slot table changes (undefined = no table: absent or rejected). */
export interface SlotChange {
  key: string
  from: readonly string[] | undefined
  to: readonly string[] | undefined
}

/** What changes in one LB table, element by element: the input of {@link renderScript}. */
export interface LbDelta {
  /** SNAT source before ('' = none) and after. */
  lbAddressFrom: string
  lbAddressTo: string
  slots: SlotChange[]
  nobackDel: string[]
  nobackAdd: string[]
  /** Moduli that need a new `m<N>` chain, ascending. */
  newChains: number[]
}

/**
 * nft script of a delta; `create` = the table does not exist yet (it is
 * created in the same transaction). A changed element is a delete + add in
 * the same script; `nft -f` runs it as one transaction.
 */
export function renderScript (table: string, networkId: string, create: boolean, d: LbDelta): string {
  const lines: string[] = []
  if (create) lines.push(...createTableScript(table, networkId))
  if (d.lbAddressFrom !== d.lbAddressTo) {
    if (!create) lines.push(`flush chain ${F.nft} ${table} postrouting`)
    if (d.lbAddressTo !== '') lines.push(`add rule ${F.nft} ${table} postrouting ct status dnat snat to ${lbIp(d.lbAddressTo)}`)
  }
  for (const m of d.newChains) {
    lines.push(`add chain ${F.nft} ${table} m${m}`)
    for (const proto of ['tcp', 'udp']) {
      lines.push(`add rule ${F.nft} ${table} m${m} meta l4proto ${proto} dnat ${F.nft} to ${F.daddr} . ${proto} dport . numgen random mod ${m} map @backends_${proto}`)
    }
  }
  // per service port: changed slots are delete + add
  const svcDel: string[] = []
  const svcAdd: string[] = []
  const slotDel: Record<string, string[]> = { tcp: [], udp: [] }
  const slotAdd: Record<string, string[]> = { tcp: [], udp: [] }
  for (const { key: k, from: a, to: b } of d.slots) {
    if (a !== undefined && a.length !== b?.length) svcDel.push(k)
    if (b !== undefined && a?.length !== b.length) svcAdd.push(`${k} : goto m${b.length}`)
    const [vip, proto, port] = k.split(' . ')
    const n = Math.max(a?.length ?? 0, b?.length ?? 0)
    for (let i = 0; i < n; i++) {
      const x = a?.[i]
      const y = b?.[i]
      if (x === y) continue
      if (x !== undefined) slotDel[proto].push(`${vip} . ${port} . ${i}`)
      if (y !== undefined) slotAdd[proto].push(`${vip} . ${port} . ${i} : ${y}`)
    }
  }
  lines.push(...elementOps(table, 'services', 'delete', svcDel))
  for (const proto of ['tcp', 'udp']) lines.push(...elementOps(table, `backends_${proto}`, 'delete', slotDel[proto]))
  lines.push(...elementOps(table, 'noback', 'delete', d.nobackDel))
  for (const proto of ['tcp', 'udp']) lines.push(...elementOps(table, `backends_${proto}`, 'add', slotAdd[proto]))
  lines.push(...elementOps(table, 'services', 'add', svcAdd))
  lines.push(...elementOps(table, 'noback', 'add', d.nobackAdd))
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
    lbAddressFrom: prev.lbAddress,
    lbAddressTo: next.lbAddress,
    slots,
    nobackDel: [...prev.noback].filter(k => !next.noback.has(k)),
    nobackAdd: [...next.noback].filter(k => !prev.noback.has(k)),
    newChains: [...moduli(next)].filter(m => !prev.chains.has(m)).sort((a, b) => a - b)
  })
}

/** `next` carrying the chains `old` already had (chains are never removed while the table lives). */
export function withChains (old: LbView | undefined, next: LbView): LbView {
  return { ...next, chains: new Set([...(old?.chains ?? []), ...next.chains]) }
}
