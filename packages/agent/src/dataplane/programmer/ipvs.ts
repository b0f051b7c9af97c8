import { ipBatch, nftApply, nftListTable, nftTableName } from '../kernel/index.js'
import { IPVS_SYSCTLS, LB_SANDBOX_SYSCTLS } from '../spec/constants.js'
import { UnknownProgrammerError } from '../spec/errors.js'
import { ipvsDiff, ipvsObjectCount, ipvsViewFromSpec, parseIpvsadmSave, sameIpvsView, type IpvsView } from '../lb/ipvs-view.js'
import type { LbPlan } from '../lb/lb-model.js'
import { NftProgrammer, type NetState, type NftProgrammerInit } from './nft.js'
import { addressLines, createSandbox, readSandbox } from '../lb/sandbox.js'
import type { NetworkDesired, ProgramOptions } from '../spec/types.js'

/**
 * Docker-compatible IPVS programmer: the same LB sandbox (netns, veth, LB IP,
 * VIP aliases, overlay), but balancing by IPVS fwmark services (one mark per
 * VIP port, set by an nft mangle map), masquerading real servers, weight 0 to
 * drain, SNAT of marked traffic to the LB IP, Docker's `vs/*` sysctls. One
 * `ipvsadm -R` and one `nft -f` per sandbox per apply. Needs the ip_vs module.
 */
export class IpvsProgrammer extends NftProgrammer {
  override readonly kind = 'ipvs' as const
  private readonly ipvs = new Map<string, IpvsView>()

  constructor (init: NftProgrammerInit) {
    super(init)
    if (this.lbMode !== 'per-network') throw new UnknownProgrammerError('lbMode: the ipvs programmer supports per-network only')
  }

  /** The IPVS view programmed for a network (in-memory copy). */
  view (networkId: string): IpvsView | undefined {
    return this.ipvs.get(networkId)
  }

  protected override objectsOf (networkId: string): number {
    const v = this.ipvs.get(networkId)
    return super.objectsOf(networkId) + (v === undefined ? 0 : ipvsObjectCount(v))
  }

  protected override async applySandbox (st: NetState, desired: NetworkDesired, _plan: LbPlan, opts: ProgramOptions): Promise<number> {
    const id = desired.sandbox.networkId
    const n = this.names(id)
    let tx = 0
    if (st.lbMac === undefined) {
      tx += await createSandbox(this.k, n, id, desired.sandbox.lbMac, opts, [...LB_SANDBOX_SYSCTLS, ...IPVS_SYSCTLS], st.overlay?.mtu)
      st.lbMac = desired.sandbox.lbMac
    }
    const old = this.ipvs.get(id)
    const next = ipvsViewFromSpec(desired.sandbox, old)
    if (old !== undefined && sameIpvsView(old, next)) return tx
    const lines = addressLines(old, next)
    if (lines.length > 0) {
      await ipBatch(this.k, lines, n.netns, opts)
      tx++
    }
    const { nft, ipvsadm } = ipvsDiff(n.table, id, old, next)
    if (nft !== '') {
      await nftApply(this.k, nft, n.netns, opts)
      tx++
    }
    if (ipvsadm.length > 0) {
      await this.k.run('ipvsadm', ['-R'], { netns: n.netns, input: ipvsadm.join('\n') + '\n', signal: opts.signal })
      tx++
    }
    this.ipvs.set(id, next)
    return tx
  }

  protected override async removeSandbox (networkId: string, opts: ProgramOptions): Promise<number> {
    this.ipvs.delete(networkId)
    return await super.removeSandbox(networkId, opts)
  }

  private async readIpvs (networkId: string, opts: ProgramOptions): Promise<IpvsView | undefined> {
    const n = this.names(networkId)
    const r = await readSandbox(this.k, n.netns, nftTableName, opts)
    if (r.view === undefined) return undefined
    const json = await nftListTable(this.k, n.table, n.netns, opts)
    const marks = new Map<string, number>()
    for (const obj of json ?? []) {
      const map = obj.map as { name?: string, elem?: Array<[{ concat?: unknown[] }, unknown]> } | undefined
      if (map?.name !== 'marks') continue
      for (const [k, v] of map.elem ?? []) {
        const [vip, proto, port] = k.concat ?? []
        marks.set(`${String(vip)} . ${String(proto)} . ${String(port)}`, Number(v))
      }
    }
    const reals = parseIpvsadmSave(await this.k.run('ipvsadm', ['-S', '-n'], { netns: n.netns, signal: opts.signal }))
    return { lbAddress: r.view.lbAddress, vips: r.view.vips, marks, reals, noback: r.view.noback }
  }

  override async adopt (hints?: ReadonlyMap<string, NetworkDesired>, opts: ProgramOptions = {}): Promise<string[]> {
    const ids = await super.adopt(hints, opts)
    this.ipvs.clear()
    for (const id of ids) {
      const st = this.nets.get(id)
      if (st?.lb === undefined) continue
      st.lb = undefined
      const v = await this.readIpvs(id, opts)
      if (v !== undefined) this.ipvs.set(id, v)
    }
    return ids
  }

  override async verify (networkId: string, opts: ProgramOptions = {}): Promise<boolean> {
    const mine = this.ipvs.get(networkId)
    if (mine === undefined) return await super.verify(networkId, opts)
    if (!await super.verify(networkId, opts)) return false
    const v = await this.readIpvs(networkId, opts)
    return v !== undefined && sameIpvsView(mine, v)
  }
}

/** Create the IPVS programmer. */
export function createIpvsProgrammer (init: NftProgrammerInit): IpvsProgrammer {
  return new IpvsProgrammer(init)
}
