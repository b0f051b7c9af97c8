import type { Logger } from 'winston'
import { nftTableName } from '../kernel/index.js'
import { overlayDiff, overlayNames, overlayObjectCount, overlayViewFromSpec, sameOverlay, type OverlayView } from '../overlay/index.js'
import { InjectedFailureError, ProgrammerInputError } from '../spec/errors.js'
import { diffScript, kernelObjectCount, sameView, viewFromSpec, withChains, type LbView } from '../lb/lb-view.js'
import { addressLines } from '../lb/addresses.js'
import type { ApplyResult, LbMode, NetworkDesired, ProgramOptions, Programmer } from '../spec/types.js'
import { LB_NFT_FAMILY } from '../spec/family.js'

/** One network as the memory "kernel" holds it. */
export interface MemoryNetwork {
  overlay: OverlayView
  /** per-network sandbox view (undefined in per-container mode). */
  lb: LbView | undefined
  lbMac: string
  /** per-container: task netns path -> view. */
  tasks: Map<string, LbView>
}

/** A simulated kernel: survives programmer instances, so restart adoption can be tested without root. */
export interface MemoryKernel {
  networks: Map<string, MemoryNetwork>
}

/** One recorded operation with what it would have sent to the kernel. */
export interface MemoryOp {
  op: 'apply' | 'remove' | 'adopt'
  networkId: string
  /** nft script(s) the nft programmer would run (one per sandbox or task netns). */
  nft: string[]
  /** `ip -batch` / `bridge -batch` lines. */
  ip: string[]
  bridge: string[]
  transactions: number
}

/**
 * Operations the memory programmer keeps (the newest): an agent running it
 * for days must not keep every script it would have run (the first apply
 * of a 10k-service sandbox alone is megabytes of nft text).
 */
export const MEMORY_OPS_KEPT = 256
/**
 * Characters of script text the kept operations hold at most (the newest
 * operation is always kept): a 10k x 10 network's sync is applied in
 * batches of ~0.5 MiB of nft text each, and 256 of them held 26 MiB
 * (bench:memory), which an agent with the nft programmer never holds.
 */
export const MEMORY_OPS_KEPT_CHARS = 2 * 1024 * 1024

/** Create an empty simulated kernel. */
export function createMemoryKernel (): MemoryKernel {
  return { networks: new Map() }
}

/** Options of the memory programmer. */
export interface MemoryProgrammerInit {
  netnsPrefix: string
  /** @default 'per-network' */
  lbMode?: LbMode
  logger?: Logger
  /** Share one to simulate a restart (a new programmer adopting the old state). @default a new one */
  kernel?: MemoryKernel
}

function opChars (op: MemoryOp): number {
  let n = 0
  for (const list of [op.nft, op.ip, op.bridge]) for (const s of list) n += s.length
  return n
}

function cloneNet (n: MemoryNetwork): MemoryNetwork {
  return { ...n, tasks: new Map(n.tasks) }
}

/** The memory programmer: records every operation and the resulting state; never touches the kernel. */
export class MemoryProgrammer implements Programmer {
  readonly kind = 'memory' as const
  readonly lbMode: LbMode
  /** The simulated kernel (what is "programmed"). */
  readonly kernel: MemoryKernel
  private readonly prefix: string
  private readonly copy = new Map<string, MemoryNetwork>()
  private readonly ops: MemoryOp[] = []
  /** Script characters the kept operations hold. */
  private opsChars = 0
  private transactions = 0
  private failures: Array<Error | undefined> = []

  constructor (init: MemoryProgrammerInit) {
    this.prefix = init.netnsPrefix
    this.lbMode = init.lbMode ?? 'per-network'
    this.kernel = init.kernel ?? createMemoryKernel()
  }

  /** Make the next `count` apply/remove calls fail (fault injection). */
  failNext (count = 1, err?: Error): void {
    for (let i = 0; i < count; i++) this.failures.push(err)
  }

  /** The operations so far (the newest {@link MEMORY_OPS_KEPT}, within {@link MEMORY_OPS_KEPT_CHARS}), oldest first. */
  operations (): MemoryOp[] {
    return this.ops.slice()
  }

  /** What the simulated kernel holds for a network. */
  state (networkId: string): MemoryNetwork | undefined {
    return this.kernel.networks.get(networkId)
  }

  networks (): string[] {
    return [...this.copy.keys()].sort()
  }

  counters (): { transactions: number, spawns: number } {
    return { transactions: this.transactions, spawns: 0 }
  }

  kernelObjects (): number {
    let n = 0
    for (const id of this.copy.keys()) n += this.objectsOf(id)
    return n
  }

  private objectsOf (id: string): number {
    const net = this.copy.get(id)
    if (net === undefined) return 0
    let n = overlayObjectCount(net.overlay) + (net.lb === undefined ? 0 : kernelObjectCount(net.lb))
    for (const v of net.tasks.values()) n += kernelObjectCount(v)
    return n
  }

  private record (op: MemoryOp): void {
    this.ops.push(op)
    this.opsChars += opChars(op)
    while (this.ops.length > 1 && (this.ops.length > MEMORY_OPS_KEPT || this.opsChars > MEMORY_OPS_KEPT_CHARS)) {
      this.opsChars -= opChars(this.ops.shift() as MemoryOp)
    }
  }

  private injected (what: string): void {
    if (this.failures.length === 0) return
    const err = this.failures.shift()
    throw err ?? new InjectedFailureError(`injected failure of ${what}`)
  }

  async apply (desired: NetworkDesired, _opts: ProgramOptions = {}): Promise<ApplyResult> {
    const id = desired.sandbox.networkId
    if (desired.overlay.networkId !== id) throw new ProgrammerInputError('overlay.networkId', `must equal sandbox.networkId ${id}`)
    const perNet = this.lbMode === 'per-network'
    const lb = viewFromSpec(desired.sandbox, perNet)
    const overlay = overlayViewFromSpec(desired.overlay)
    this.injected(`apply ${id}`)
    const old = this.copy.get(id)
    const op: MemoryOp = { op: 'apply', networkId: id, nft: [], ip: [], bridge: [], transactions: 0 }
    if (old === undefined || !sameOverlay(old.overlay, overlay)) {
      const b = overlayDiff(overlayNames(this.prefix, id), old?.overlay, overlay)
      op.ip.push(...b.ip)
      op.bridge.push(...b.bridge)
      op.transactions += (b.ip.length > 0 ? 1 : 0) + (b.bridge.length > 0 ? 1 : 0)
    }
    const next: MemoryNetwork = { overlay, lb: undefined, lbMac: desired.sandbox.lbMac, tasks: new Map() }
    const table = nftTableName(id)
    if (perNet) {
      next.lb = withChains(old?.lb, lb)
      if (old?.lb === undefined || !sameView(old.lb, lb)) {
        const addrs = addressLines(old?.lb, lb)
        op.ip.push(...addrs)
        op.nft.push(diffScript(table, old?.lb, lb))
        op.transactions += 1 + (addrs.length > 0 ? 1 : 0)
      }
    } else {
      for (const path of old?.tasks.keys() ?? []) {
        if (desired.localTaskNetns.includes(path)) continue
        op.nft.push(`delete table ${LB_NFT_FAMILY} ${table}\n`)
        op.transactions++
      }
      for (const path of desired.localTaskNetns) {
        const prev = old?.tasks.get(path)
        next.tasks.set(path, withChains(prev, lb))
        if (prev !== undefined && sameView(prev, lb)) continue
        op.nft.push(diffScript(table, prev, lb))
        op.transactions++
      }
    }
    this.copy.set(id, next)
    this.kernel.networks.set(id, cloneNet(next))
    this.transactions += op.transactions
    if (op.transactions > 0) this.record(op)
    return { transactions: op.transactions, spawns: 0, kernelObjects: this.objectsOf(id) }
  }

  async remove (networkId: string, _opts: ProgramOptions = {}): Promise<ApplyResult> {
    this.injected(`remove ${networkId}`)
    const had = this.kernel.networks.has(networkId) || this.copy.has(networkId)
    this.copy.delete(networkId)
    this.kernel.networks.delete(networkId)
    const transactions = had ? 1 : 0
    this.transactions += transactions
    if (had) this.record({ op: 'remove', networkId, nft: [], ip: [], bridge: [], transactions })
    return { transactions, spawns: 0, kernelObjects: 0 }
  }

  async adopt (_hints?: ReadonlyMap<string, NetworkDesired>, _opts: ProgramOptions = {}): Promise<string[]> {
    this.copy.clear()
    for (const [id, n] of this.kernel.networks) {
      this.copy.set(id, cloneNet(n))
      this.record({ op: 'adopt', networkId: id, nft: [], ip: [], bridge: [], transactions: 0 })
    }
    return this.networks()
  }

  async verify (networkId: string, _opts: ProgramOptions = {}): Promise<boolean> {
    const a = this.copy.get(networkId)
    const b = this.kernel.networks.get(networkId)
    if (a === undefined || b === undefined) return a === b
    if (!sameOverlay(a.overlay, b.overlay)) return false
    if ((a.lb === undefined) !== (b.lb === undefined) || (a.lb !== undefined && b.lb !== undefined && !sameView(a.lb, b.lb))) return false
    if (a.tasks.size !== b.tasks.size) return false
    for (const [p, v] of a.tasks) {
      const w = b.tasks.get(p)
      if (w === undefined || !sameView(v, w)) return false
    }
    return true
  }
}

/** Create the memory programmer. */
export function createMemoryProgrammer (init: MemoryProgrammerInit): MemoryProgrammer {
  return new MemoryProgrammer(init)
}
