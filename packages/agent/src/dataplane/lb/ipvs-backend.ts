import { ipBatch, nftApply, nftListTable, type Kernel, type KOpts } from '../kernel/index.js'
import { IPVS_SYSCTLS, LB_SANDBOX_SYSCTLS } from '../spec/constants.js'
import type { SandboxSpec } from '../spec/types.js'
import { addressLines } from './addresses.js'
import type { LbBackend, LbChange, LbSandbox } from './backend.js'
import { ipvsDiff, ipvsObjectCount, ipvsViewFromSpec, parseIpvsadmSave, sameIpvsView, type IpvsView } from './ipvs-view.js'
import { readSandbox, type SandboxRead } from './nft-backend.js'
import { LB_NFT_FAMILY } from '../spec/family.js'

/** The IPVS backend with its per-network copies. */
export interface IpvsLb extends LbBackend {
  /** The IPVS view programmed for a network (in-memory copy). */
  view(networkId: string): IpvsView | undefined
}

/**
 * Docker-compatible IPVS balancing in the LB sandbox: IPVS fwmark services
 * (one mark per VIP port, set by an nft mangle map), masquerading real
 * servers, weight 0 to drain, SNAT of marked traffic to the LB IP, Docker's
 * `vs/*` sysctls. One `ipvsadm -R` and one `nft -f` per sandbox per apply.
 * Needs the ip_vs module.
 */
class IpvsLbBackend implements IpvsLb {
  readonly kind = 'ipvs' as const
  readonly sysctls: readonly string[] = [...LB_SANDBOX_SYSCTLS, ...IPVS_SYSCTLS]
  readonly perContainer = false
  private readonly k: Kernel
  private readonly views = new Map<string, IpvsView>()

  constructor (k: Kernel) {
    this.k = k
  }

  view (networkId: string): IpvsView | undefined {
    return this.views.get(networkId)
  }

  plan (at: LbSandbox, spec: SandboxSpec): LbChange {
    const old = this.views.get(at.networkId)
    const next = ipvsViewFromSpec(spec, old)
    return {
      run: async (opts) => {
        if (old !== undefined && sameIpvsView(old, next)) return 0
        let tx = 0
        const lines = addressLines(old, next)
        if (lines.length > 0) {
          await ipBatch(this.k, lines, at.netns, opts)
          tx++
        }
        const { nft, ipvsadm } = ipvsDiff(at.table, at.networkId, old, next)
        if (nft !== '') {
          await nftApply(this.k, nft, at.netns, opts)
          tx++
        }
        if (ipvsadm.length > 0) {
          await this.k.run('ipvsadm', ['-R'], { netns: at.netns, input: ipvsadm.join('\n') + '\n', signal: opts.signal })
          tx++
        }
        this.views.set(at.networkId, next)
        return tx
      }
    }
  }

  async adopt (at: LbSandbox, read: SandboxRead, opts: KOpts): Promise<void> {
    const v = await this.read(at, read, opts)
    if (v !== undefined) this.views.set(at.networkId, v)
  }

  async verify (at: LbSandbox, opts: KOpts): Promise<boolean> {
    const mine = this.views.get(at.networkId)
    if (mine === undefined) return true
    const v = await this.read(at, await readSandbox(this.k, at.netns, () => at.table, opts), opts)
    return v !== undefined && sameIpvsView(mine, v)
  }

  objects (networkId: string): number {
    const v = this.views.get(networkId)
    return v === undefined ? 0 : ipvsObjectCount(v)
  }

  forget (networkId: string): void {
    this.views.delete(networkId)
  }

  clear (): void {
    this.views.clear()
  }

  /** The IPVS view of a sandbox: addresses and rejects as read, marks from the nft map, real servers from `ipvsadm -S`. */
  private async read (at: LbSandbox, r: SandboxRead, opts: KOpts): Promise<IpvsView | undefined> {
    if (r.view === undefined) return undefined
    const json = await nftListTable(this.k, at.table, at.netns, opts, LB_NFT_FAMILY)
    const marks = new Map<string, number>()
    for (const obj of json ?? []) {
      const map = obj.map as { name?: string, elem?: Array<[{ concat?: unknown[] }, unknown]> } | undefined
      if (map?.name !== 'marks' && map?.name !== 'marks6') continue
      for (const [k, v] of map.elem ?? []) {
        const [vip, proto, port] = k.concat ?? []
        marks.set(`${String(vip)} . ${String(proto)} . ${String(port)}`, Number(v))
      }
    }
    const reals = parseIpvsadmSave(await this.k.run('ipvsadm', ['-S', '-n'], { netns: at.netns, signal: opts.signal }))
    return { lbAddresses: r.view.lbAddresses, vips: r.view.vips, marks, reals, noback: r.view.noback }
  }
}

/** The IPVS LB backend (Docker's layout). */
export function createIpvsLb (k: Kernel): IpvsLb {
  return new IpvsLbBackend(k)
}
