import type { Logger } from 'winston'
import {
  KernelCommandError, LB_IFNAME, createKernel, ipBatch, lbNetnsName, lbNetnsPrefix, linkDelete, netnsList, nftApply, nftTableName, uplinkHostName, type Kernel
} from '../kernel/index.js'
import type { LbBackend, LbSandbox } from '../lb/backend.js'
import { applyLb, readSandbox, readTaskTable } from '../lb/nft-backend.js'
import { kernelObjectCount, sameView, viewFromSpec, type LbView, type ViewCache } from '../lb/lb-view.js'
import {
  applyOverlay, enforceLinkMtu, overlayNetnsDrift, repairOverlayNetns, listOverlayNetworks, overlayNames, overlayObjectCount, overlayViewFromSpec, readOverlay, removeOverlay, sameOverlay,
  separateSandboxOverlayNames, type OverlayNames, type OverlayView
} from '../overlay/index.js'
import { migrateOverlay } from './migrate.js'
import { ProgrammerInputError, UnknownProgrammerError } from '../spec/errors.js'
import { DEFAULT_OVERLAY_MTU_BYTES } from '../spec/constants.js'
import { LB_NFT_FAMILY } from '../spec/family.js'
import type { ApplyResult, LbMode, NetworkDesired, OverlaySpec, ProgramOptions, Programmer } from '../spec/types.js'
import { createSandbox, deleteSandbox, type SandboxNames } from './sandbox.js'
import { createUplink, pickUplink, readUplink } from '../ingress/uplink.js'

/** Options of a kernel programmer (nft, ipvs). */
export interface SandboxProgrammerInit {
  /** Prefix of every netns and the hash seed of interface names of this agent. */
  netnsPrefix: string
  /** @default 'per-network' */
  lbMode?: LbMode
  logger?: Logger
  /** Kernel access (tests pass one whose base netns is a "host" netns). @default createKernel() */
  kernel?: Kernel
  /**
   * Each network's bridge and VXLAN device in a netns of its own
   * (`<prefix>ov-<network id>`, bridge netfilter off there), the host
   * keeping a veth named as the bridge; overlays of the other layout are
   * moved over at adoption. @default false
   */
  overlayNetns?: boolean
  /** Called after a sandbox got a new uplink (with an empty gateway table): the host ingress writes its host-mode ports again. */
  uplinkMade?: (networkId: string) => void
}

/** Per-network in-memory copy of the sandbox programmer (the LB state itself is the backend's). */
interface NetState {
  overlay: OverlayView | undefined
  /** The spec `overlay` was last found equal to; unset when `overlay` came from the kernel. Specs are immutable once handed over, so the same object means the same overlay. */
  overlaySpec?: OverlaySpec
  /** MAC of the sandbox's `lb0`; undefined = no sandbox (not created yet, or per-container mode). */
  lbMac: string | undefined
  /** per-container: task netns path -> LB view programmed there. */
  tasks: Map<string, LbView>
  /**
   * MTU every interface of the network was brought to (bridge ports and the
   * far ends of their veths included); undefined after adoption until the
   * next apply has checked them.
   */
  linkMtu?: number
  /** Link-local pair of the sandbox's uplink (ingress/uplink.ts); undefined = none (internal network, or not made yet). */
  uplink?: number
}

/**
 * The kernel programmer: per network, the overlay (bridge + VXLAN) and one LB
 * sandbox netns whose balancing is the composed {@link LbBackend}'s (nft or
 * ipvs). `per-container` mode instead loads the nft table into every local
 * task netns (backends that allow it only).
 */
export class SandboxProgrammer<B extends LbBackend = LbBackend> implements Programmer {
  readonly lbMode: LbMode
  /** The LB backend (its per-network copies are readable in tests). */
  readonly backend: B
  private readonly k: Kernel
  private readonly prefix: string
  private readonly logger: Logger | undefined
  private readonly uplinkMade: ((networkId: string) => void) | undefined
  private readonly overlayNetns: boolean
  private readonly nets = new Map<string, NetState>()
  /** Per network, per-container mode: services built by the last apply (an update rebuilds only changed services). */
  private readonly viewCaches = new Map<string, ViewCache>()
  /** Names of each network's sandbox and overlay (see `names`); dropped when the network is removed. */
  private readonly nameCache = new Map<string, { sandbox: SandboxNames, overlay: OverlayNames }>()
  private transactions = 0

  constructor (init: SandboxProgrammerInit, backend: (k: Kernel) => B) {
    if (typeof init.netnsPrefix !== 'string' || !/^[a-zA-Z0-9_.-]{0,20}$/.test(init.netnsPrefix)) {
      throw new ProgrammerInputError('netnsPrefix', 'up to 20 of [a-zA-Z0-9_.-]')
    }
    this.prefix = init.netnsPrefix
    this.lbMode = init.lbMode ?? 'per-network'
    this.logger = init.logger
    this.uplinkMade = init.uplinkMade
    this.overlayNetns = init.overlayNetns ?? false
    this.k = init.kernel ?? createKernel({ logger: init.logger })
    this.backend = backend(this.k)
    if (this.lbMode !== 'per-network' && !this.backend.perContainer) {
      throw new UnknownProgrammerError(`lbMode: the ${this.backend.kind} programmer supports per-network only`)
    }
  }

  get kind (): B['kind'] {
    return this.backend.kind
  }

  private names (networkId: string): SandboxNames {
    return this.cachedNames(networkId).sandbox
  }

  private overlayNames (networkId: string): OverlayNames {
    return this.cachedNames(networkId).overlay
  }

  /** Hashed names (SHA-256 each) are asked several times per apply: made once per network. */
  private cachedNames (networkId: string): { sandbox: SandboxNames, overlay: OverlayNames } {
    let n = this.nameCache.get(networkId)
    if (n === undefined) {
      const overlay = overlayNames(this.prefix, networkId, this.overlayNetns)
      const sandbox: SandboxNames = { netns: lbNetnsName(this.prefix, networkId), bridge: overlay.bridge, prefix: this.prefix, table: nftTableName(networkId), ...(overlay.netns === undefined ? {} : { bridgeNetns: overlay.netns, inOverlay: true }) }
      n = { sandbox, overlay }
      this.nameCache.set(networkId, n)
    }
    return n
  }

  private at (networkId: string): LbSandbox {
    const n = this.names(networkId)
    return { networkId, netns: n.netns, table: n.table }
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

  private objectsOf (networkId: string): number {
    const st = this.nets.get(networkId)
    if (st === undefined) return 0
    let n = st.overlay === undefined ? 0 : overlayObjectCount(st.overlay)
    n += this.backend.objects(networkId)
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
    const known = this.nets.get(id)
    if (known !== undefined && known.overlay === undefined && known.lbMac !== undefined && this.names(id).inOverlay === true) {
      // the sandbox is the overlay netns, which is made (again) below: the sandbox is made from scratch in it
      known.lbMac = undefined
      known.uplink = undefined
      this.backend.forget(id)
    }
    // validated before any kernel change: bad input changes nothing
    const lb = this.lbMode === 'per-network'
      ? { sandbox: this.backend.plan(this.at(id), desired.sandbox) }
      : { tasks: viewFromSpec(desired.sandbox, false, this.viewCache(id)) }
    // the desired-state path keeps an unchanged overlay spec as the same object: then skip rebuilding and comparing O(remotes)
    const ovNext = known?.overlay !== undefined && known.overlaySpec === desired.overlay ? known.overlay : overlayViewFromSpec(desired.overlay)
    return await this.tx(id, async () => {
      let st = this.nets.get(id)
      if (st === undefined) {
        st = { overlay: undefined, lbMac: undefined, tasks: new Map() }
        this.nets.set(id, st)
      }
      let tx = 0
      // a bridge created now has no port yet, and what is plugged in later is made at the overlay MTU
      const fresh = st.overlay === undefined && st.lbMac === undefined && st.tasks.size === 0
      if (st.overlay === undefined || (st.overlay !== ovNext && !sameOverlay(st.overlay, ovNext))) {
        st.overlaySpec = undefined
        tx += await applyOverlay(this.k, this.overlayNames(id), st.overlay, ovNext, opts)
        st.overlay = ovNext
      }
      st.overlaySpec = desired.overlay
      if (lb.sandbox !== undefined) {
        tx += await this.ensureSandbox(st, desired, opts)
        tx += await lb.sandbox.run(opts)
      } else tx += await this.applyPerContainer(st, desired, lb.tasks, opts)
      if (st.linkMtu !== ovNext.mtu) {
        if (!fresh) {
          const peers = this.lbMode === 'per-network' ? [this.names(id).netns, ...desired.localTaskNetns] : desired.localTaskNetns
          tx += await enforceLinkMtu(this.k, this.overlayNames(id), ovNext.mtu, peers, opts)
        }
        st.linkMtu = ovNext.mtu
      }
      return tx
    })
  }

  private viewCache (networkId: string): ViewCache {
    let cache = this.viewCaches.get(networkId)
    if (cache === undefined) {
      cache = new Map()
      this.viewCaches.set(networkId, cache)
    }
    return cache
  }

  /** Create the sandbox netns (veth, MAC, alias, the backend's sysctls, the uplink) or correct its MAC. Returns transactions. */
  private async ensureSandbox (st: NetState, desired: NetworkDesired, opts: ProgramOptions): Promise<number> {
    const n = this.names(desired.sandbox.networkId)
    if (st.lbMac === undefined) {
      let tx = await createSandbox(this.k, n, desired.sandbox.networkId, desired.sandbox.lbMac, opts, this.backend.sysctls, st.overlay?.mtu)
      st.lbMac = desired.sandbox.lbMac
      tx += await this.ensureUplink(st, desired, opts)
      return tx
    }
    // an adopted sandbox may lack its uplink (made by an older agent) and have another MAC: both are mended
    const tx = await this.ensureUplink(st, desired, opts)
    if (st.lbMac.toLowerCase() === desired.sandbox.lbMac.toLowerCase()) return tx
    await ipBatch(this.k, [`link set ${LB_IFNAME} address ${desired.sandbox.lbMac}`], n.netns, opts)
    st.lbMac = desired.sandbox.lbMac
    return tx + 1
  }

  /** Give a non-internal network's sandbox its uplink (ingress/uplink.ts), a pair no other sandbox here holds. Returns transactions. */
  private async ensureUplink (st: NetState, desired: NetworkDesired, opts: ProgramOptions): Promise<number> {
    if (desired.sandbox.internal === true || st.uplink !== undefined) return 0
    const taken = new Set<number>()
    for (const o of this.nets.values()) if (o.uplink !== undefined) taken.add(o.uplink)
    const index = pickUplink(desired.sandbox.networkId, taken)
    const id = desired.sandbox.networkId
    const tx = await createUplink(this.k, this.prefix, this.names(id).netns, id, index, opts)
    st.uplink = index
    this.uplinkMade?.(id)
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
      await nftApply(this.k, `delete table ${LB_NFT_FAMILY} ${table}\n`, path, opts)
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
      // deleting the netns deletes its veth pair, addresses and LB state
      this.backend.forget(networkId)
      const n = this.names(networkId)
      // a sandbox that is the overlay netns goes with it (its uplink's host end first: the name is free at once)
      if (n.inOverlay === true) tx += (await linkDelete(this.k, uplinkHostName(this.prefix, networkId), undefined, opts)) ? 1 : 0
      else tx += (await deleteSandbox(this.k, n, networkId, opts)) ? 1 : 0
      tx += await removeOverlay(this.k, this.overlayNames(networkId), opts)
      this.nets.delete(networkId)
      this.nameCache.delete(networkId)
      this.viewCaches.delete(networkId)
      return tx
    })
    return { ...res, kernelObjects: 0 }
  }

  async adopt (hints: ReadonlyMap<string, NetworkDesired> = new Map(), opts: ProgramOptions = {}): Promise<string[]> {
    this.nets.clear()
    this.backend.clear()
    const found = new Set<string>()
    const overlays = new Set([...hints.keys(), ...await listOverlayNetworks(this.k, this.prefix, opts, true)])
    // an overlay of another layout (the agent ran before with(out) --overlay-netns, or a previous version's) is moved over, ports and all
    for (const id of overlays) await this.migrate(id, opts)
    if (this.lbMode === 'per-network') {
      const pfx = lbNetnsPrefix(this.prefix)
      for (const ns of await netnsList(this.k, opts)) {
        if (!ns.startsWith(pfx)) continue
        const r = await readSandbox(this.k, ns, nftTableName, opts)
        if (r.networkId === undefined || lbNetnsName(this.prefix, r.networkId) !== ns || r.view === undefined) {
          // half-created (crash during creation) or unreadable: rebuilt from scratch by the next apply
          this.logger?.warn('removing an LB sandbox that cannot be adopted', { netns: ns, networkId: r.networkId })
          const own = r.networkId !== undefined && lbNetnsName(this.prefix, r.networkId) === ns ? r.networkId : undefined
          await deleteSandbox(this.k, own === undefined ? { netns: ns, prefix: this.prefix } : this.names(own), own, opts)
          continue
        }
        const uplink = await readUplink(this.k, ns, opts)
        this.nets.set(r.networkId, { overlay: undefined, lbMac: r.mac, tasks: new Map(), ...(uplink === undefined ? {} : { uplink }) })
        await this.backend.adopt(this.at(r.networkId), r, opts)
        found.add(r.networkId)
      }
    } else {
      for (const [id, d] of hints) {
        const tasks = new Map<string, LbView>()
        for (const path of d.localTaskNetns) {
          const view = await readTaskTable(this.k, id, path, opts)
          if (view !== undefined) tasks.set(path, view)
        }
        if (tasks.size > 0) {
          this.nets.set(id, { overlay: undefined, lbMac: undefined, tasks })
          found.add(id)
        }
      }
    }
    for (const id of new Set([...found, ...overlays])) {
      const ov = await readOverlay(this.k, this.overlayNames(id), id, opts)
      if (ov === undefined) continue
      // bridge netfilter off again (br_netfilter loaded since turns it on there), the host's veth made again if it went
      await repairOverlayNetns(this.k, this.overlayNames(id), ov.mtu > 0 ? ov.mtu : DEFAULT_OVERLAY_MTU_BYTES, opts)
      const st: NetState = this.nets.get(id) ?? { overlay: undefined, lbMac: undefined, tasks: new Map() }
      st.overlay = ov
      st.overlaySpec = undefined
      this.nets.set(id, st)
      found.add(id)
    }
    return [...found].sort()
  }

  /**
   * Move a network's overlay found in another layout than the configured one
   * to it: the host's own netns, the overlay netns that is the sandbox
   * (`--overlay-netns`), or the previous version's overlay netns with a
   * sandbox of its own. A sandbox whose netns changes with it (one of the
   * overlay netns layouts on either side) is deleted first and made again by
   * the next apply; the tasks' veths are moved and stay plugged.
   */
  private async migrate (id: string, opts: ProgramOptions): Promise<void> {
    const to = this.overlayNames(id)
    const candidates = [overlayNames(this.prefix, id, !this.overlayNetns), separateSandboxOverlayNames(this.prefix, id)]
    for (const from of candidates) {
      const old = await readOverlay(this.k, from, id, opts)
      if (old === undefined) continue
      this.logger?.info('moving a network\'s overlay to the configured layout', { networkId: id, from: from.netns === undefined ? 'host' : `${from.netns}/${from.bridge}`, to: to.netns === undefined ? 'host' : `${to.netns}/${to.bridge}` })
      if (from.sandbox !== undefined) await linkDelete(this.k, uplinkHostName(this.prefix, id), undefined, opts)
      else if (to.sandbox !== undefined) await deleteSandbox(this.k, { netns: lbNetnsName(this.prefix, id), prefix: this.prefix, ...(from.netns === undefined ? {} : { bridgeNetns: from.netns }) }, id, opts)
      await migrateOverlay(this.k, from, to, old, opts)
      return
    }
  }

  async verify (networkId: string, opts: ProgramOptions = {}): Promise<boolean> {
    const st = this.nets.get(networkId)
    const ov = await readOverlay(this.k, this.overlayNames(networkId), networkId, opts)
    if (st === undefined) return ov === undefined
    if (st.overlay !== undefined && (ov === undefined || !sameOverlay(st.overlay, ov))) return false
    if (st.overlay !== undefined) {
      const drift = await overlayNetnsDrift(this.k, this.overlayNames(networkId), opts)
      if (drift.length > 0) {
        this.logger?.warn('overlay netns differs', { networkId, drift })
        return false
      }
    }
    if (!await this.backend.verify(this.at(networkId), opts)) return false
    for (const [path, v] of st.tasks) {
      const read = await readTaskTable(this.k, networkId, path, opts)
      if (read === undefined || !sameView(v, read)) return false
    }
    return true
  }
}
