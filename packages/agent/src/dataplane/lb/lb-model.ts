import { ProgrammerInputError } from '../spec/errors.js'
import { keyFamily } from '../spec/family.js'
import {
  buildService, chainName, diffScript, renderScript, sameList, sameTable, sameView, signature, viewFromSpec, withChains,
  type LbDelta, type LbView, type ServiceBuild, type SlotChange, type SlotTable, type ViewCache
} from './lb-view.js'
import { addressLines, renderAddressLines } from './addresses.js'
import type { SandboxSpec, ServiceSpec } from '../spec/types.js'
import { checkUniquePorts, servedFamilies, validateSandboxHeader, validateService } from '../spec/validate.js'

/** What one service contributed to the view the last time it was applied. */
interface Entry {
  sig: string
  /** Its VIP, and its IPv6 VIP on a dual-stack network. */
  vips: readonly string[]
  build: ServiceBuild
}

function vipsOf (svc: ServiceSpec): readonly string[] {
  return svc.vip6 === undefined ? [svc.vip] : [svc.vip, svc.vip6]
}

/** One planned change of a sandbox's LB state: render it, run it, then {@link LbPlan.commit}. */
export interface LbPlan {
  /** True when the kernel needs no change. */
  readonly empty: boolean
  /** `nft -f` script ('' = none). */
  script(table: string): string
  /** `ip -batch` lines of the address change. */
  addressLines(): string[]
  /** Record the change as programmed (call only after the kernel took it); returns the view now programmed. */
  commit(): LbView
}

const GONE = 0
const NOBACK = 1
type Staged = SlotTable | typeof GONE | typeof NOBACK

/**
 * Incremental LB view of one sandbox (per-network mode). It remembers the
 * services of the last apply and the view it produced, so an apply walks the
 * new service list comparing objects by identity (a pointer compare each),
 * fingerprints and rebuilds only the window between the first and the last
 * service that is not the same object as before, and renders the kernel
 * change from that window alone. ServiceSpec objects are treated as
 * immutable once applied (pass a new object to change a service).
 *
 * When the programmed view is not the one this model produced (first apply,
 * adoption, resync), the plan is a full build and diff, as {@link viewFromSpec}
 * and {@link diffScript}.
 */
export class LbModel {
  private view: LbView | undefined
  /** The services of the last apply: this model's own copy (callers may reuse and change their array). */
  private specs: ServiceSpec[] = []
  private entries: Entry[] = []
  private readonly vipCount = new Map<string, number>()
  /** Builds of the last full build, by fingerprint. */
  private readonly cache: ViewCache = new Map()

  /**
   * Plan the change from `current` (the view programmed now; undefined =
   * no table) to `spec`. Validates what changed and throws
   * ProgrammerInputError naming the field; nothing is recorded until
   * {@link LbPlan.commit}.
   */
  plan (spec: SandboxSpec, current: LbView | undefined): LbPlan {
    if (current !== undefined && current === this.view) return this.incremental(spec, current)
    return this.full(spec, current)
  }

  private full (spec: SandboxSpec, current: LbView | undefined): LbPlan {
    // a full build reuses the builds of the previous full build (the ipvs programmer plans full every time)
    const cache = this.cache
    const next = viewFromSpec(spec, true, cache)
    const empty = current !== undefined && sameView(current, next)
    return {
      empty,
      script: table => empty ? '' : diffScript(table, current, next),
      addressLines: () => empty ? [] : addressLines(current, next),
      commit: () => {
        // next's maps are this plan's own; its slot tables are shared with the builds and never mutated
        const view = withChains(current, next)
        this.reset(spec.services, cache, view)
        return view
      }
    }
  }

  private reset (services: readonly ServiceSpec[], cache: ViewCache, view: LbView): void {
    this.view = view
    this.specs = [...services]
    this.entries = services.map(svc => {
      const sig = signature(svc)
      return { sig, vips: vipsOf(svc), build: cache.get(sig) ?? buildService(svc) }
    })
    this.vipCount.clear()
    for (const e of this.entries) for (const v of e.vips) this.vipCount.set(v, (this.vipCount.get(v) ?? 0) + 1)
  }

  private incremental (spec: SandboxSpec, view: LbView): LbPlan {
    validateSandboxHeader(spec)
    const families = servedFamilies(spec)
    const cur = spec.services
    const prev = this.specs
    const min = Math.min(prev.length, cur.length)
    let head = 0
    while (head < min && prev[head] === cur[head]) head++
    let tail = 0
    while (tail < min - head && prev[prev.length - 1 - tail] === cur[cur.length - 1 - tail]) tail++
    // the window [head, length - tail) of each list. Walk both in id order (services come sorted by id):
    // an old and a new service with the same id and equal content share the old build, no fingerprint needed
    const prevEnd = prev.length - tail
    const curEnd = cur.length - tail
    const mid: Array<Entry | undefined> = []
    const oldLeft: Entry[] = []
    let j = head
    for (let i = head; i < curEnd; i++) {
      const svc = cur[i]
      while (j < prevEnd && prev[j].id < svc.id) oldLeft.push(this.entries[j++])
      if (j < prevEnd && prev[j].id === svc.id) {
        if (prev[j] === svc || sameService(prev[j], svc)) {
          mid.push(this.entries[j++])
          continue
        }
        oldLeft.push(this.entries[j++])
      }
      mid.push(undefined)
    }
    while (j < prevEnd) oldLeft.push(this.entries[j++])
    // the rest (changed, added, removed, moved): match by fingerprint
    const bySig = new Map<string, Entry[]>()
    for (const e of oldLeft) {
      const list = bySig.get(e.sig)
      if (list === undefined) bySig.set(e.sig, [e])
      else list.push(e)
    }
    const added: Entry[] = []
    for (let i = head; i < curEnd; i++) {
      if (mid[i - head] !== undefined) continue
      const svc = cur[i]
      const sig = signature(svc)
      let e = bySig.get(sig)?.pop()
      if (e === undefined) {
        validateService(svc, i, families)
        e = { sig, vips: vipsOf(svc), build: buildService(svc) }
        added.push(e)
      }
      mid[i - head] = e
    }
    const removed: Entry[] = []
    for (const list of bySig.values()) removed.push(...list)

    const staged = new Map<string, Staged>()
    for (const e of removed) for (const [k] of e.build) staged.set(k, GONE)
    for (const e of added) {
      for (const [k, table] of e.build) {
        const s = staged.get(k)
        const taken = s === undefined ? view.services.has(k) || view.noback.has(k) : s !== GONE
        if (taken) {
          checkUniquePorts(cur) // throws, naming the second occurrence as a full build does
          throw new ProgrammerInputError('services', `${k} is programmed twice`)
        }
        staged.set(k, table ?? NOBACK)
      }
    }
    const delta: LbDelta = { lbAddressesFrom: view.lbAddresses, lbAddressesTo: spec.lbAddresses, slots: [], nobackDel: [], nobackAdd: [], newChains: [] }
    const chains = new Set<string>()
    for (const [key, s] of staged) {
      const from = view.services.get(key)
      const to = typeof s === 'number' ? undefined : s
      if (!sameTable(from, to)) delta.slots.push({ key, from, to })
      if (to !== undefined) {
        const c = chainName(keyFamily(key), to.ips.length)
        if (!view.chains.has(c)) chains.add(c)
      }
      const wasNoback = view.noback.has(key)
      if (wasNoback && s !== NOBACK) delta.nobackDel.push(key)
      if (!wasNoback && s === NOBACK) delta.nobackAdd.push(key)
    }
    delta.newChains = [...chains].sort()
    const vipDelta = new Map<string, number>()
    for (const e of removed) for (const v of e.vips) vipDelta.set(v, (vipDelta.get(v) ?? 0) - 1)
    for (const e of added) for (const v of e.vips) vipDelta.set(v, (vipDelta.get(v) ?? 0) + 1)
    const vipsDel: string[] = []
    const vipsAdd: string[] = []
    for (const [vip, d] of vipDelta) {
      const before = this.vipCount.get(vip) ?? 0
      if (before > 0 && before + d === 0) vipsDel.push(vip)
      if (before === 0 && d > 0) vipsAdd.push(vip)
    }
    vipsDel.sort()
    vipsAdd.sort()
    const empty = delta.slots.length === 0 && delta.nobackDel.length === 0 && delta.nobackAdd.length === 0 &&
      vipsDel.length === 0 && vipsAdd.length === 0 && sameList(delta.lbAddressesFrom, delta.lbAddressesTo)
    return {
      empty,
      script: table => empty ? '' : renderScript(table, view.networkId, false, delta),
      addressLines: () => renderAddressLines(view.lbAddresses, spec.lbAddresses, vipsDel, vipsAdd, false),
      commit: () => {
        applyDelta(view, delta.slots, delta, vipsDel, vipsAdd)
        for (const [vip, d] of vipDelta) {
          const n = (this.vipCount.get(vip) ?? 0) + d
          if (n === 0) this.vipCount.delete(vip)
          else this.vipCount.set(vip, n)
        }
        // in place: a one-service change at 10k services used to copy both lists (~1 MiB of garbage per update, young-GC pauses of 100+ ms)
        replaceRange(this.entries, head, prevEnd - head, mid as Entry[])
        replaceRange(this.specs, head, prevEnd - head, cur.slice(head, curEnd))
        return view
      }
    }
  }
}

/** Whether two services have the same content (what {@link signature} covers), compared field by field; false for malformed input. */
export function sameService (a: ServiceSpec, b: ServiceSpec): boolean {
  if (!Array.isArray(b.ports) || !Array.isArray(b.backends)) return false
  if (a.vip !== b.vip || a.vip6 !== b.vip6 || a.ports.length !== b.ports.length || a.backends.length !== b.backends.length) return false
  for (let i = 0; i < a.ports.length; i++) {
    const p = a.ports[i]
    const q = b.ports[i]
    if (p.proto !== q.proto || p.port !== q.port || p.targetPort !== q.targetPort) return false
  }
  for (let i = 0; i < a.backends.length; i++) {
    const x = a.backends[i]
    const y = b.backends[i]
    if (x.ip !== y.ip || x.ip6 !== y.ip6 || x.weight !== y.weight || x.draining !== y.draining) return false
  }
  return true
}

/** Splice-alike without argument spreading (no limit on `items`): `a[start, start + count)` becomes `items`, in place. */
export function replaceRange<T> (a: T[], start: number, count: number, items: readonly T[]): void {
  const shift = items.length - count
  if (shift > 0) {
    a.length += shift
    for (let i = a.length - 1; i >= start + items.length; i--) a[i] = a[i - shift] as T
  } else if (shift < 0) {
    for (let i = start + items.length; i < a.length + shift; i++) a[i] = a[i - shift] as T
    a.length += shift
  }
  for (let i = 0; i < items.length; i++) a[start + i] = items[i] as T
}

/** Index of `v` in a sorted array, or where it would go. */
function lowerBound (a: readonly string[], v: string): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const m = (lo + hi) >> 1
    if (a[m] < v) lo = m + 1
    else hi = m
  }
  return lo
}

function applyDelta (view: LbView, slots: readonly SlotChange[], d: LbDelta, vipsDel: readonly string[], vipsAdd: readonly string[]): void {
  view.lbAddresses = [...d.lbAddressesTo]
  for (const { key, to } of slots) {
    if (to === undefined) view.services.delete(key)
    else view.services.set(key, to)
  }
  for (const k of d.nobackDel) view.noback.delete(k)
  for (const k of d.nobackAdd) view.noback.add(k)
  for (const c of d.newChains) view.chains.add(c)
  for (const v of vipsDel) {
    const i = lowerBound(view.vips, v)
    if (view.vips[i] === v) view.vips.splice(i, 1)
  }
  for (const v of vipsAdd) view.vips.splice(lowerBound(view.vips, v), 0, v)
}
