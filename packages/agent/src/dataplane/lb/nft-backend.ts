import {
  KernelCommandError, KernelStateError, LB_IFNAME, ipBatch, nftApply, nftListTable, nftTableName,
  type Kernel, type KOpts, type NetnsRef
} from '../kernel/index.js'
import { LB_SANDBOX_SYSCTLS } from '../spec/constants.js'
import type { SandboxSpec } from '../spec/types.js'
import { addressLines } from './addresses.js'
import type { LbBackend, LbChange, LbSandbox, SandboxRead } from './backend.js'

export type { SandboxRead } from './backend.js'
import { LbModel } from './lb-model.js'
import { DsrModel, dsrObjectCount, dsrScript, readDsr, sameDsrView } from './dsr.js'
import { viewFromNftJson } from './lb-parse.js'
import { diffScript, kernelObjectCount, sameView, withChains, type LbView } from './lb-view.js'
import { IPV4, IPV6, LB_NFT_FAMILY, familyOf, familyOrder, keyFamily } from '../spec/family.js'

/** Run an LB change in `netns`: address lines (one `ip -batch`), then the script (one `nft -f`). Returns transactions. */
export async function runLbChange (k: Kernel, netns: NetnsRef, lines: readonly string[], script: string, opts: KOpts): Promise<number> {
  let tx = 0
  if (lines.length > 0) {
    await ipBatch(k, [...lines], netns, opts)
    tx++
  }
  if (script !== '') {
    await nftApply(k, script, netns, opts)
    tx++
  }
  return tx
}

/** Apply an LB view change in `netns`: addresses (one `ip -batch`) then one `nft -f` transaction. Returns transactions and the view now programmed. */
export async function applyLb (k: Kernel, netns: NetnsRef, table: string, old: LbView | undefined, next: LbView, withAddresses: boolean, opts: KOpts): Promise<{ tx: number, view: LbView }> {
  const tx = await runLbChange(k, netns, withAddresses ? addressLines(old, next) : [], diffScript(table, old, next), opts)
  return { tx, view: withChains(old, next) }
}


/** `lb0` of a sandbox as `ip -j addr` shows it: alias (network ID), MAC and addresses. */
interface SandboxLink {
  networkId: string | undefined
  mac: string | undefined
  addrs: Array<{ local: string, prefixlen: number }>
}

/** An address of `ip -j addr`. */
interface ReadAddress { family?: string, local?: string, prefixlen?: number, scope?: string }

/**
 * `lb0`'s alias, MAC and addresses (`ip -d -j addr show dev lb0`, which the
 * kernel access answers from an rtnetlink dump in-process where it can:
 * kernel/rtnl-read.ts); undefined when the sandbox or its `lb0` is not there.
 */
async function readSandboxLink (k: Kernel, netns: string, opts: KOpts): Promise<SandboxLink | undefined> {
  let link: { ifalias?: string, address?: string, addr_info?: ReadAddress[] } | undefined
  try {
    const out = await k.run('ip', ['-d', '-j', 'addr', 'show', 'dev', LB_IFNAME], { netns, signal: opts.signal })
    link = (JSON.parse(out === '' ? '[]' : out) as Array<typeof link>)[0]
  } catch (err) {
    if (err instanceof KernelCommandError) return undefined
    throw err
  }
  if (link === undefined) return { networkId: undefined, mac: undefined, addrs: [] }
  const addrs: SandboxLink['addrs'] = []
  for (const a of link.addr_info ?? []) {
    // the kernel's own IPv6 link-local address is not ours
    const f = a.family === IPV4.ipFamily ? IPV4 : a.family === IPV6.ipFamily ? IPV6 : undefined
    if (f === undefined || typeof a.local !== 'string' || a.scope === 'link') continue
    addrs.push({ local: a.local, prefixlen: a.prefixlen ?? f.hostPrefixLen })
  }
  return { networkId: link.ifalias === '' ? undefined : link.ifalias, mac: link.address, addrs }
}

/** The LB addresses (IPv4 first) and VIPs of `addrs` given the table's SNAT addresses; undefined when an address is neither (a stray one: reprogram). */
function splitAddresses (addrs: SandboxLink['addrs'], snatIps: readonly string[]): { lbAddresses: string[], vips: string[] } | undefined {
  const lbAddresses: string[] = []
  const vips: string[] = []
  for (const a of addrs) {
    if (snatIps.includes(a.local)) lbAddresses.push(`${a.local}/${String(a.prefixlen)}`)
    else if (a.prefixlen === familyOf(a.local)?.hostPrefixLen) vips.push(a.local)
    else return undefined
  }
  // IPv4 first, as specs list them
  lbAddresses.sort(familyOrder)
  return { lbAddresses, vips: vips.sort() }
}

/** Whether `lb0`'s addresses are exactly the view's LB addresses and VIPs (no sort: 10k VIPs are checked in ~1 ms). */
function sameAddresses (view: LbView, addrs: SandboxLink['addrs']): boolean {
  const snatIps = view.lbAddresses.map(a => a.split('/')[0])
  const want = new Set(view.vips)
  const lb: string[] = []
  let vips = 0
  for (const a of addrs) {
    if (snatIps.includes(a.local)) lb.push(`${a.local}/${String(a.prefixlen)}`)
    // a link holds an address once, so counting the wanted ones met is a set comparison
    else if (a.prefixlen === keyFamily(a.local).hostPrefixLen && want.has(a.local)) vips++
    else return false
  }
  lb.sort(familyOrder)
  return vips === want.size && lb.join(',') === view.lbAddresses.join(',')
}

/** Read an LB sandbox back: interface alias (network ID), MAC, addresses, nft table. */
export async function readSandbox (k: Kernel, netns: string, table: (networkId: string) => string, opts: KOpts): Promise<SandboxRead> {
  const link = await readSandboxLink(k, netns, opts)
  const networkId = link?.networkId
  if (link === undefined || networkId === undefined) return { networkId: undefined, mac: link?.mac, view: undefined }
  const json = await nftListTable(k, table(networkId), netns, opts, LB_NFT_FAMILY)
  if (json === undefined) return { networkId, mac: link.mac, view: undefined }
  let read: ReturnType<typeof viewFromNftJson>
  try {
    read = viewFromNftJson(networkId, json)
  } catch (err) {
    // not our layout: report no table, so the next apply recreates it in one transaction
    if (err instanceof KernelStateError) return { networkId, mac: link.mac, view: undefined }
    throw err
  }
  const { view, snatIps } = read
  const split = splitAddresses(link.addrs, snatIps)
  if (split === undefined) return { networkId, mac: link.mac, view: undefined } // a stray address: reprogram
  view.lbAddresses = split.lbAddresses
  view.vips = split.vips
  return { networkId, mac: link.mac, view }
}

/** The nft backend with its per-network copies (exposed for tests and the per-container path). */
export interface NftLb extends LbBackend {
  /** The LB view programmed in a network's sandbox (in-memory copy). */
  view(networkId: string): LbView | undefined
}

class NftLbBackend implements NftLb {
  readonly kind = 'nft' as const
  readonly sysctls = LB_SANDBOX_SYSCTLS
  readonly perContainer = true
  private readonly k: Kernel
  private readonly views = new Map<string, LbView>()
  /** Per network: the incremental view (an update costs work for the changed services only). */
  private readonly models = new Map<string, LbModel>()
  /** Per network: the direct-server-return table (lb/dsr.ts). */
  private readonly dsr = new Map<string, DsrModel>()
  /** Per network: the sandbox's nf_tables generation right after this backend's last transaction there, or after a read found the table as programmed. */
  private readonly gens = new Map<string, number>()

  constructor (k: Kernel) {
    this.k = k
  }

  view (networkId: string): LbView | undefined {
    return this.views.get(networkId)
  }

  plan (at: LbSandbox, spec: SandboxSpec): LbChange {
    let model = this.models.get(at.networkId)
    if (model === undefined) {
      model = new LbModel()
      this.models.set(at.networkId, model)
    }
    const plan = model.plan(spec, this.views.get(at.networkId))
    const dsr = this.dsrModel(at.networkId)
    const dsrNext = dsr.desired(spec)
    const dsrChange = dsrScript(at.table, dsr.view, dsrNext)
    return {
      run: async (opts) => {
        const tx = plan.empty && dsrChange === '' ? 0 : await runLbChange(this.k, at.netns, plan.empty ? [] : plan.addressLines(), (plan.empty ? '' : plan.script(at.table)) + dsrChange, opts)
        dsr.commit(spec, dsrNext)
        this.views.set(at.networkId, plan.commit())
        if (tx > 0) await this.noteGeneration(at)
        return tx
      }
    }
  }

  private dsrModel (networkId: string): DsrModel {
    let m = this.dsr.get(networkId)
    if (m === undefined) {
      m = new DsrModel()
      this.dsr.set(networkId, m)
    }
    return m
  }

  async adopt (at: LbSandbox, read: SandboxRead, opts: KOpts): Promise<void> {
    if (read.view !== undefined) this.views.set(at.networkId, read.view)
    // the slot tables are read back, so a restart keeps every flow on its backend
    this.dsrModel(at.networkId).reset(await readDsr(this.k, at.netns, at.table, opts))
  }

  /**
   * Whether the sandbox holds what was programmed. Only this backend writes
   * nf_tables state in its sandbox, so an unchanged generation means an
   * unchanged table: then only `lb0`'s addresses are read, not the table
   * (~3 s at 10k services).
   */
  async verify (at: LbSandbox, opts: KOpts): Promise<boolean> {
    const mine = this.views.get(at.networkId)
    if (mine === undefined) return true
    const gen = await this.generation(at)
    if (gen !== undefined && gen === this.gens.get(at.networkId)) {
      const link = await readSandboxLink(this.k, at.netns, opts)
      return link !== undefined && link.networkId === at.networkId && sameAddresses(mine, link.addrs)
    }
    const r = await readSandbox(this.k, at.netns, () => at.table, opts)
    // the DSR table is read where one was programmed (one read less in every other sandbox)
    const dsr = this.dsr.get(at.networkId)?.view
    const ok = r.view !== undefined && sameView(mine, r.view) && (dsr === undefined || sameDsrView(dsr, await readDsr(this.k, at.netns, at.table, opts)))
    if (ok && gen !== undefined) this.gens.set(at.networkId, gen)
    return ok
  }

  /** The sandbox's nf_tables generation; undefined when the kernel access cannot read it or the netns is gone. */
  private async generation (at: LbSandbox): Promise<number | undefined> {
    try {
      return await this.k.nftGeneration?.(at.netns)
    } catch (err) {
      if (err instanceof KernelCommandError) return undefined
      throw err
    }
  }

  private async noteGeneration (at: LbSandbox): Promise<void> {
    const gen = await this.generation(at)
    if (gen === undefined) this.gens.delete(at.networkId)
    else this.gens.set(at.networkId, gen)
  }

  objects (networkId: string): number {
    const v = this.views.get(networkId)
    return (v === undefined ? 0 : kernelObjectCount(v)) + dsrObjectCount(this.dsr.get(networkId)?.view)
  }

  forget (networkId: string): void {
    this.views.delete(networkId)
    this.dsr.delete(networkId)
    this.models.delete(networkId)
    this.gens.delete(networkId)
  }

  clear (): void {
    this.views.clear()
    this.dsr.clear()
    this.gens.clear()
  }
}

/** The nftables LB backend: one `inet` table per sandbox, per family a `services` vmap and per-protocol numgen backend maps. */
export function createNftLb (k: Kernel): NftLb {
  return new NftLbBackend(k)
}

/** Read a network's nft LB table in a task netns (per-container mode); undefined when it is not there. */
export async function readTaskTable (k: Kernel, networkId: string, netns: NetnsRef, opts: KOpts): Promise<LbView | undefined> {
  const json = await nftListTable(k, nftTableName(networkId), netns, opts, LB_NFT_FAMILY).catch(() => undefined)
  return json === undefined ? undefined : viewFromNftJson(networkId, json).view
}
