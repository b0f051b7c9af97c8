import type { Logger } from 'winston'
import {
  KernelCommandError, createKernel, lbNetnsName, lbNetnsPrefix, netnsList, nftApply, nftListTable, nftTableName,
  type Kernel
} from '../kernel/index.js'
import {
  applyOverlay, enforceLinkMtu, listOverlayNetworks, overlayNames, overlayObjectCount, overlayViewFromSpec, readOverlay, removeOverlay, sameOverlay, type OverlayView
} from '../overlay/index.js'
import { ProgrammerInputError } from '../spec/errors.js'
import { kernelObjectCount, sameView, viewFromSpec, type LbView, type ViewCache } from '../lb/lb-view.js'
import { viewFromNftJson } from '../lb/lb-parse.js'
import { LbModel, type LbPlan } from '../lb/lb-model.js'
import { applyLb, createSandbox, deleteSandbox, readSandbox, runLbChange, type SandboxNames } from '../lb/sandbox.js'
import type { ApplyResult, LbMode, NetworkDesired, OverlaySpec, ProgramOptions, Programmer } from '../spec/types.js'

/** Options of the nft programmer. */
export interface NftProgrammerInit {
  /** Prefix of every netns and the hash seed of interface names of this agent. */
  netnsPrefix: string
  /** @default 'per-network' */
  lbMode?: LbMode
  logger?: Logger
  /** Kernel access (tests pass one whose base netns is a "host" netns). @default createKernel() */
  kernel?: Kernel
}

/** Per-network in-memory copy of the nft programmer. */
export interface NetState {
  overlay: OverlayView | undefined
  /** The spec `overlay` was last found equal to; unset when `overlay` came from the kernel. Specs are immutable once handed over, so the same object means the same overlay. */
  overlaySpec?: OverlaySpec
  /** per-network: the sandbox's LB view. */
  lb: LbView | undefined
  lbMac: string | undefined
  /** per-container: task netns path -> LB view programmed there. */
  tasks: Map<string, LbView>
  /**
   * MTU every interface of the network was brought to (bridge ports and the
   * far ends of their veths included); undefined after adoption until the
   * next apply has checked them.
   */
  linkMtu?: number
}

/** The nftables programmer: one LB sandbox netns per network (or, per-container, one table per task netns). */
export class NftProgrammer implements Programmer {
  readonly kind: 'nft' | 'ipvs' = 'nft'
  readonly lbMode: LbMode
  protected readonly k: Kernel
  protected readonly prefix: string
  protected readonly logger: Logger | undefined
  protected readonly nets = new Map<string, NetState>()
  /** Per network, per-container mode: services built by the last apply (an update rebuilds only changed services). */
  private readonly viewCaches = new Map<string, ViewCache>()
  /** Per network, per-network mode: the incremental view (an update costs work for the changed services only). */
  private readonly models = new Map<string, LbModel>()
  private transactions = 0

  constructor (init: NftProgrammerInit) {
    if (typeof init.netnsPrefix !== 'string' || !/^[a-zA-Z0-9_.-]{0,20}$/.test(init.netnsPrefix)) {
      throw new ProgrammerInputError('netnsPrefix', 'up to 20 of [a-zA-Z0-9_.-]')
    }
    this.prefix = init.netnsPrefix
    this.lbMode = init.lbMode ?? 'per-network'
    this.logger = init.logger
    this.k = init.kernel ?? createKernel({ logger: init.logger })
  }

  protected names (networkId: string): SandboxNames {
    return { netns: lbNetnsName(this.prefix, networkId), bridge: overlayNames(this.prefix, networkId).bridge, prefix: this.prefix, table: nftTableName(networkId) }
  }

  networks (): string[] {
    return [...this.nets.keys()].sort()
  }

  counters (): { transactions: number, spawns: number } {
    return { transactions: this.transactions, spawns: this.k.spawns() }
  }

  kernelObjects (): number {
    let n = 0
    for (const id of this.nets.keys()) n += this.objectsOf(id)
    return n
  }

  protected objectsOf (networkId: string): number {
    const st = this.nets.get(networkId)
    if (st === undefined) return 0
    let n = st.overlay === undefined ? 0 : overlayObjectCount(st.overlay)
    if (st.lb !== undefined) n += kernelObjectCount(st.lb)
    for (const v of st.tasks.values()) n += kernelObjectCount(v)
    return n
  }

  private async tx (networkId: string, fn: () => Promise<number>): Promise<ApplyResult> {
    const spawns0 = this.k.spawns()
    const transactions = await fn()
    this.transactions += transactions
    return { transactions, spawns: this.k.spawns() - spawns0, kernelObjects: this.objectsOf(networkId) }
  }

  async apply (desired: NetworkDesired, opts: ProgramOptions = {}): Promise<ApplyResult> {
    const id = desired.sandbox.networkId
    if (desired.overlay.networkId !== id) throw new ProgrammerInputError('overlay.networkId', `must equal sandbox.networkId ${id}`)
    // validated before any kernel change: bad input changes nothing
    let lbNext: LbPlan | LbView
    if (this.lbMode === 'per-network') {
      let model = this.models.get(id)
      if (model === undefined) {
        model = new LbModel()
        this.models.set(id, model)
      }
      lbNext = model.plan(desired.sandbox, this.nets.get(id)?.lb)
    } else {
      let cache = this.viewCaches.get(id)
      if (cache === undefined) {
        cache = new Map()
        this.viewCaches.set(id, cache)
      }
      lbNext = viewFromSpec(desired.sandbox, false, cache)
    }
    // the desired-state path keeps an unchanged overlay spec as the same object: then skip rebuilding and comparing O(remotes)
    const known = this.nets.get(id)
    const ovNext = known?.overlay !== undefined && known.overlaySpec === desired.overlay ? known.overlay : overlayViewFromSpec(desired.overlay)
    return await this.tx(id, async () => {
      let st = this.nets.get(id)
      if (st === undefined) {
        st = { overlay: undefined, lb: undefined, lbMac: undefined, tasks: new Map() }
        this.nets.set(id, st)
      }
      let tx = 0
      // a bridge created now has no port yet, and what is plugged in later is made at the overlay MTU
      const fresh = st.overlay === undefined && st.lbMac === undefined && st.tasks.size === 0
      if (st.overlay === undefined || (st.overlay !== ovNext && !sameOverlay(st.overlay, ovNext))) {
        st.overlaySpec = undefined
        tx += await applyOverlay(this.k, overlayNames(this.prefix, id), st.overlay, ovNext, opts)
        st.overlay = ovNext
      }
      st.overlaySpec = desired.overlay
      if ('commit' in lbNext) tx += await this.applySandbox(st, desired, lbNext, opts)
      else tx += await this.applyPerContainer(st, desired, lbNext, opts)
      if (st.linkMtu !== ovNext.mtu) {
        if (!fresh) {
          const peers = this.lbMode === 'per-network' ? [this.names(id).netns, ...desired.localTaskNetns] : desired.localTaskNetns
          tx += await enforceLinkMtu(this.k, overlayNames(this.prefix, id), ovNext.mtu, peers, opts)
        }
        st.linkMtu = ovNext.mtu
      }
      return tx
    })
  }

  /** Program the LB part of one sandbox (nft: addresses + one nft transaction); `plan` was made against `st.lb`. */
  protected async applySandbox (st: NetState, desired: NetworkDesired, plan: LbPlan, opts: ProgramOptions): Promise<number> {
    const n = this.names(desired.sandbox.networkId)
    let tx = 0
    if (st.lbMac === undefined) {
      tx += await createSandbox(this.k, n, desired.sandbox.networkId, desired.sandbox.lbMac, opts, undefined, st.overlay?.mtu)
      st.lbMac = desired.sandbox.lbMac
    } else if (st.lbMac.toLowerCase() !== desired.sandbox.lbMac.toLowerCase()) {
      await this.k.run('ip', ['link', 'set', 'lb0', 'address', desired.sandbox.lbMac], { netns: n.netns, signal: opts.signal })
      st.lbMac = desired.sandbox.lbMac
      tx++
    }
    if (!plan.empty) tx += await runLbChange(this.k, n.netns, plan.addressLines(), plan.script(n.table), opts)
    st.lb = plan.commit()
    return tx
  }

  private async applyPerContainer (st: NetState, desired: NetworkDesired, next: LbView, opts: ProgramOptions): Promise<number> {
    const table = nftTableName(desired.sandbox.networkId)
    let tx = 0
    const want = new Set(desired.localTaskNetns)
    for (const [path] of st.tasks) {
      if (want.has(path)) continue
      tx += await this.dropTaskTable(path, table, opts)
      st.tasks.delete(path)
    }
    for (const path of want) {
      const old = st.tasks.get(path)
      if (old !== undefined && sameView(old, next)) continue
      const r = await applyLb(this.k, path, table, old, next, false, opts)
      st.tasks.set(path, r.view)
      tx += r.tx
    }
    return tx
  }

  private async dropTaskTable (path: string, table: string, opts: ProgramOptions): Promise<number> {
    try {
      await nftApply(this.k, `delete table ip ${table}\n`, path, opts)
      return 1
    } catch (err) {
      // the task netns is gone (task exited) or the table is: nothing left to remove
      if (err instanceof KernelCommandError) return 0
      throw err
    }
  }

  async remove (networkId: string, opts: ProgramOptions = {}): Promise<ApplyResult> {
    const res = await this.tx(networkId, async () => {
      let tx = 0
      const st = this.nets.get(networkId)
      for (const path of st?.tasks.keys() ?? []) tx += await this.dropTaskTable(path, nftTableName(networkId), opts)
      tx += await this.removeSandbox(networkId, opts)
      tx += await removeOverlay(this.k, overlayNames(this.prefix, networkId), opts)
      this.nets.delete(networkId)
      this.viewCaches.delete(networkId)
      this.models.delete(networkId)
      return tx
    })
    return { ...res, kernelObjects: 0 }
  }

  /** Remove the LB sandbox of a network (deleting the netns deletes its veth pair, addresses and table). */
  protected async removeSandbox (networkId: string, opts: ProgramOptions): Promise<number> {
    return (await deleteSandbox(this.k, this.names(networkId), networkId, opts)) ? 1 : 0
  }

  async adopt (hints: ReadonlyMap<string, NetworkDesired> = new Map(), opts: ProgramOptions = {}): Promise<string[]> {
    this.nets.clear()
    const found = new Set<string>()
    if (this.lbMode === 'per-network') {
      const pfx = lbNetnsPrefix(this.prefix)
      for (const ns of await netnsList(this.k, opts)) {
        if (!ns.startsWith(pfx)) continue
        const r = await readSandbox(this.k, ns, nftTableName, opts)
        if (r.networkId === undefined || lbNetnsName(this.prefix, r.networkId) !== ns || r.view === undefined) {
          // half-created (crash during creation) or unreadable: rebuilt from scratch by the next apply
          this.logger?.warn('removing an LB sandbox that cannot be adopted', { netns: ns, networkId: r.networkId })
          const own = r.networkId !== undefined && lbNetnsName(this.prefix, r.networkId) === ns ? r.networkId : undefined
          await deleteSandbox(this.k, { netns: ns, prefix: this.prefix }, own, opts)
          continue
        }
        this.nets.set(r.networkId, { overlay: undefined, lb: r.view, lbMac: r.mac, tasks: new Map() })
        found.add(r.networkId)
      }
    } else {
      for (const [id, d] of hints) {
        const tasks = new Map<string, LbView>()
        for (const path of d.localTaskNetns) {
          const json = await nftListTable(this.k, nftTableName(id), path, opts).catch(() => undefined)
          if (json !== undefined) tasks.set(path, viewFromNftJson(id, json).view)
        }
        if (tasks.size > 0) {
          this.nets.set(id, { overlay: undefined, lb: undefined, lbMac: undefined, tasks })
          found.add(id)
        }
      }
    }
    for (const id of new Set([...found, ...hints.keys(), ...await listOverlayNetworks(this.k, this.prefix, opts)])) {
      const ov = await readOverlay(this.k, overlayNames(this.prefix, id), id, opts)
      if (ov === undefined) continue
      const st: NetState = this.nets.get(id) ?? { overlay: undefined, lb: undefined, lbMac: undefined, tasks: new Map() }
      st.overlay = ov
      st.overlaySpec = undefined
      this.nets.set(id, st)
      found.add(id)
    }
    return [...found].sort()
  }

  async verify (networkId: string, opts: ProgramOptions = {}): Promise<boolean> {
    const st = this.nets.get(networkId)
    const ov = await readOverlay(this.k, overlayNames(this.prefix, networkId), networkId, opts)
    if (st === undefined) return ov === undefined
    if (st.overlay !== undefined && (ov === undefined || !sameOverlay(st.overlay, ov))) return false
    if (st.lb !== undefined) {
      const r = await readSandbox(this.k, this.names(networkId).netns, nftTableName, opts)
      if (r.view === undefined || !sameView(st.lb, r.view)) return false
    }
    for (const [path, v] of st.tasks) {
      const json = await nftListTable(this.k, nftTableName(networkId), path, opts).catch(() => undefined)
      if (json === undefined || !sameView(v, viewFromNftJson(networkId, json).view)) return false
    }
    return true
  }
}

/** Create the nftables programmer (needs root). */
export function createNftProgrammer (init: NftProgrammerInit): Programmer {
  return new NftProgrammer(init)
}
