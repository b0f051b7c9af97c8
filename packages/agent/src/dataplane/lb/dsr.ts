/**
 * Direct server return (DSR) in an LB sandbox: a `netdev` table on `lb0`'s
 * ingress hook, beside the sandbox's `inet` NAT table (which stays
 * programmed for every service: it serves what DSR leaves out).
 *
 * A task's TCP packet to `VIP:port` of an eligible service gets the target
 * port and goes straight back out of `lb0` to the backend picked by a slot
 * table (`jhash` of the client's address and port, mod the table's size),
 * its IP header otherwise unchanged, before the sandbox's IP stack: no
 * routing, conntrack or NAT there. The backend holds the VIP on `lo` (the
 * plumber: plumber/dsr.ts) and answers the client directly, so replies never
 * enter the sandbox.
 *
 * ```
 * table netdev <table> {
 *   map dsr_svc   { typeof ip daddr . tcp dport : verdict }     # VIP port -> goto d<M>
 *   map dsr_port  { typeof ip daddr . tcp dport : tcp dport }   # VIP port -> target port
 *   map dsr_slots { typeof ip daddr . meta mark : ip daddr }    # VIP . slot -> backend
 *   set dsr_skip  { typeof ip daddr . ip saddr }                # VIP . its own backends: hairpin, NAT path
 *   chain ingress { type filter hook ingress device "lb0" priority -500; ip daddr . ip saddr @dsr_skip accept; ip daddr . tcp dport vmap @dsr_svc }
 *   chain d<M>    { meta mark set jhash ip saddr . tcp sport mod M seed S tcp dport set ... map @dsr_port fwd ip to ip daddr . meta mark map @dsr_slots device "lb0" }
 * }
 * ```
 *
 * Eligible (everything else keeps the NAT path): the network asks for DSR
 * (`SandboxSpec.dsr`), the service port is TCP on an IPv4 VIP, no other TCP
 * port of the service has the same target port (the backend could not tell
 * which VIP port to answer from), and every active backend is plumbed for
 * it (`BackendSpec.dsr`).
 */
import { KernelStateError, LB_IFNAME, nftListTable, type NftJson } from '../kernel/index.js'
import type { SandboxSpec, ServiceSpec } from '../spec/types.js'
import { dsrSlotTable } from './dsr-slots.js'

/** nft family of the DSR table (the `fwd` statement exists only there). */
export const DSR_NFT_FAMILY = 'netdev'

/** Seed of the flow hash (any constant: the same flow must hash the same after an agent restart). */
export const DSR_HASH_SEED = 0x5ca1eb

/** Priority of the ingress chain (before anything else on `lb0`). */
const DSR_INGRESS_PRIORITY = -500

/** What the DSR table of one sandbox holds. */
export interface DsrView {
  /** `vip . port` -> `<table size>:<target port>`. */
  svc: Map<string, string>
  /** VIP -> slot table (slot -> backend IP). */
  slots: Map<string, string[]>
  /** `vip . backend ip` of every backend (the hairpin case goes to NAT). */
  skip: Set<string>
  /** Table sizes with a chain `d<M>` (added once, kept while the table lives). */
  chains: Set<number>
}

/** An empty DSR view. */
export function emptyDsrView (): DsrView {
  return { svc: new Map(), slots: new Map(), skip: new Set(), chains: new Set() }
}

/** The service ports of `svc` that DSR serves: TCP ports whose target port no other TCP port of the service shares. */
export function dsrPorts (svc: Pick<ServiceSpec, 'ports'>): Array<{ port: number, targetPort: number }> {
  const tcp = svc.ports.filter((p) => p.proto === 'tcp')
  return tcp.filter((p) => tcp.filter((q) => q.targetPort === p.targetPort).length === 1).map((p) => ({ port: p.port, targetPort: p.targetPort }))
}

/** Whether `svc` is served by DSR (see the module comment); `spec.dsr` is checked by the caller. */
export function dsrEligible (svc: ServiceSpec): boolean {
  if (svc.vip.includes(':')) return false
  const active = svc.backends.filter((b) => !b.draining && b.weight > 0)
  return active.length > 0 && active.every((b) => b.dsr === true) && dsrPorts(svc).length > 0
}

/** Per sandbox: the DSR state programmed, and per service the last spec seen (an unchanged object costs nothing). */
export class DsrModel {
  /** What the kernel holds (undefined: no table). */
  view: DsrView | undefined
  private readonly seen = new Map<string, { spec: ServiceSpec, vip: string | undefined }>()

  /** The DSR view `spec` asks for, slot tables continued from the programmed ones; undefined = no DSR table. */
  desired (spec: SandboxSpec): DsrView | undefined {
    if (spec.dsr !== true) return undefined
    const cur = this.view ?? emptyDsrView()
    const next = emptyDsrView()
    for (const c of cur.chains) next.chains.add(c)
    for (const svc of spec.services) {
      if (!dsrEligible(svc)) continue
      const prev = cur.slots.get(svc.vip)
      const seen = this.seen.get(svc.id)
      const table = seen?.spec === svc && seen.vip === svc.vip && prev !== undefined
        ? prev
        : dsrSlotTable(svc.backends.filter((b) => !b.draining).map((b) => ({ ip: b.ip, weight: b.weight })), prev)
      next.slots.set(svc.vip, table)
      next.chains.add(table.length)
      for (const p of dsrPorts(svc)) next.svc.set(`${svc.vip} . ${p.port}`, `${table.length}:${p.targetPort}`)
      for (const b of svc.backends) next.skip.add(`${svc.vip} . ${b.ip}`)
    }
    return next
  }

  /** Record `spec`'s services and `view` as programmed (after the kernel took the change). */
  commit (spec: SandboxSpec, view: DsrView | undefined): void {
    this.view = view
    this.seen.clear()
    if (view !== undefined) for (const s of spec.services) this.seen.set(s.id, { spec: s, vip: view.slots.has(s.vip) ? s.vip : undefined })
  }

  /** Forget everything (adoption, removal). */
  reset (view?: DsrView): void {
    this.view = view
    this.seen.clear()
  }
}

/** Kernel objects of a DSR view (rules + elements). */
export function dsrObjectCount (v: DsrView | undefined): number {
  if (v === undefined) return 0
  let n = 2 + v.chains.size + 2 * v.svc.size + v.skip.size
  v.slots.forEach((t) => { n += t.length })
  return n
}

/** Whether two DSR views program the same kernel state (chains aside). */
export function sameDsrView (a: DsrView | undefined, b: DsrView | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  if (a.svc.size !== b.svc.size || a.slots.size !== b.slots.size || a.skip.size !== b.skip.size) return false
  for (const [k, v] of a.svc) if (b.svc.get(k) !== v) return false
  for (const k of a.skip) if (!b.skip.has(k)) return false
  for (const [k, t] of a.slots) {
    const u = b.slots.get(k)
    if (u === undefined || u.length !== t.length || t.some((x, i) => u[i] !== x)) return false
  }
  return true
}

function chainRule (table: string, m: number): string {
  return `add rule ${DSR_NFT_FAMILY} ${table} d${m} meta mark set jhash ip saddr . tcp sport mod ${m} seed ${DSR_HASH_SEED} ` +
    `tcp dport set ip daddr . tcp dport map @dsr_port fwd ip to ip daddr . meta mark map @dsr_slots device "${LB_IFNAME}"`
}

/**
 * nft script taking the DSR table from `old` to `next` (undefined = no
 * table): created, deleted, or changed element by element; '' = no change.
 * Runs in the same `nft -f` transaction as the sandbox's NAT table change.
 */
export function dsrScript (table: string, old: DsrView | undefined, next: DsrView | undefined): string {
  const T = `${DSR_NFT_FAMILY} ${table}`
  if (next === undefined) return old === undefined ? '' : `delete table ${T}\n`
  const lines: string[] = []
  const prev = old ?? emptyDsrView()
  if (old === undefined) {
    // a table left by an earlier run that could not be read back is replaced in the same transaction
    lines.push(`add table ${T}`, `delete table ${T}`, `add table ${T}`,
      `add map ${T} dsr_svc { typeof ip daddr . tcp dport : verdict ; }`,
      `add map ${T} dsr_port { typeof ip daddr . tcp dport : tcp dport ; }`,
      `add map ${T} dsr_slots { typeof ip daddr . meta mark : ip daddr ; }`,
      `add set ${T} dsr_skip { typeof ip daddr . ip saddr ; }`)
  }
  for (const m of [...next.chains].sort((a, b) => a - b)) {
    if (old !== undefined && prev.chains.has(m)) continue
    lines.push(`add chain ${T} d${m}`, chainRule(table, m))
  }
  if (old === undefined) {
    lines.push(`add chain ${T} ingress { type filter hook ingress device "${LB_IFNAME}" priority ${DSR_INGRESS_PRIORITY} ; policy accept ; }`,
      `add rule ${T} ingress ip daddr . ip saddr @dsr_skip accept`,
      `add rule ${T} ingress ip daddr . tcp dport vmap @dsr_svc`)
  }
  const del: Record<string, string[]> = { dsr_svc: [], dsr_port: [], dsr_slots: [], dsr_skip: [] }
  const add: Record<string, string[]> = { dsr_svc: [], dsr_port: [], dsr_slots: [], dsr_skip: [] }
  for (const k of new Set([...prev.svc.keys(), ...next.svc.keys()])) {
    const a = prev.svc.get(k)
    const b = next.svc.get(k)
    if (a === b) continue
    if (a !== undefined) del.dsr_svc?.push(k)
    if (a !== undefined && a.split(':')[1] !== b?.split(':')[1]) del.dsr_port?.push(k)
    if (b !== undefined) {
      const [m, target] = b.split(':')
      add.dsr_svc?.push(`${k} : goto d${m as string}`)
      if (a?.split(':')[1] !== target) add.dsr_port?.push(`${k} : ${target as string}`)
    }
  }
  for (const vip of new Set([...prev.slots.keys(), ...next.slots.keys()])) {
    const a = prev.slots.get(vip) ?? []
    const b = next.slots.get(vip) ?? []
    // an unchanged service keeps its table object (DsrModel.desired): nothing to compare
    if (a === b) continue
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i] === b[i]) continue
      if (a[i] !== undefined) del.dsr_slots?.push(`${vip} . ${i}`)
      if (b[i] !== undefined) add.dsr_slots?.push(`${vip} . ${i} : ${b[i] as string}`)
    }
  }
  for (const k of prev.skip) if (!next.skip.has(k)) del.dsr_skip?.push(k)
  for (const k of next.skip) if (!prev.skip.has(k)) add.dsr_skip?.push(k)
  // removals first (a changed element is delete + add), the dispatch map last: nothing points at a slot not yet there
  for (const name of ['dsr_svc', 'dsr_port', 'dsr_slots', 'dsr_skip']) {
    const items = del[name] as string[]
    if (items.length > 0) lines.push(`delete element ${T} ${name} { ${items.join(', ')} }`)
  }
  for (const name of ['dsr_slots', 'dsr_port', 'dsr_skip', 'dsr_svc']) {
    const items = add[name] as string[]
    if (items.length > 0) lines.push(`add element ${T} ${name} { ${items.join(', ')} }`)
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}

type Elem = unknown

function concat (e: Elem): unknown[] {
  const c = (e as { concat?: unknown }).concat
  if (!Array.isArray(c)) throw new KernelStateError(`nft -j dsr: expected a concatenation, got ${JSON.stringify(e)}`)
  return c
}

/** A DSR view from `nft -j list table netdev <table>`; throws KernelStateError when it is not this layout. */
export function dsrViewFromNftJson (json: NftJson): DsrView {
  const v = emptyDsrView()
  const target = new Map<string, string>()
  const goto = new Map<string, number>()
  const slots = new Map<string, Map<number, string>>()
  for (const obj of json) {
    const map = (obj.map ?? obj.set) as { name?: string, elem?: unknown[] } | undefined
    for (const el of map?.elem ?? []) {
      if (map?.name === 'dsr_skip') {
        const [vip, ip] = concat(el)
        v.skip.add(`${String(vip)} . ${String(ip)}`)
        continue
      }
      const [k, val] = el as [Elem, Elem]
      const [a, b] = concat(k)
      const key = `${String(a)} . ${String(b)}`
      if (map?.name === 'dsr_port') target.set(key, String(val))
      else if (map?.name === 'dsr_svc') {
        const m = /^d(\d+)$/.exec((val as { goto?: { target?: string } }).goto?.target ?? '')
        if (m === null) throw new KernelStateError(`nft -j dsr_svc: unexpected verdict ${JSON.stringify(val)}`)
        goto.set(key, Number(m[1]))
      } else if (map?.name === 'dsr_slots') {
        const t = slots.get(String(a)) ?? new Map<number, string>()
        t.set(Number(b), String(val))
        slots.set(String(a), t)
      }
    }
    const chain = obj.chain as { name?: string } | undefined
    const m = chain?.name === undefined ? null : /^d(\d+)$/.exec(chain.name)
    if (m !== null) v.chains.add(Number(m[1]))
  }
  for (const [vip, t] of slots) {
    const table = new Array<string>(t.size)
    for (let i = 0; i < t.size; i++) {
      const ip = t.get(i)
      if (ip === undefined) throw new KernelStateError(`nft -j dsr_slots: ${vip} has no slot ${i}`)
      table[i] = ip
    }
    v.slots.set(vip, table)
  }
  for (const [key, m] of goto) {
    const t = target.get(key)
    if (t === undefined) throw new KernelStateError(`nft -j dsr_port: ${key} has no target port`)
    v.svc.set(key, `${m}:${t}`)
  }
  return v
}

/** Read a sandbox's DSR table back; undefined when there is none (or it is not this layout: the next apply replaces it). */
export async function readDsr (k: Parameters<typeof nftListTable>[0], netns: string, table: string, opts: { signal?: AbortSignal }): Promise<DsrView | undefined> {
  const json = await nftListTable(k, table, netns, opts, DSR_NFT_FAMILY)
  if (json === undefined) return undefined
  try {
    return dsrViewFromNftJson(json)
  } catch (err) {
    if (err instanceof KernelStateError) return undefined
    throw err
  }
}
