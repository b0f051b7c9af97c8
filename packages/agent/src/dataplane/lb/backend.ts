import type { KOpts } from '../kernel/index.js'
import type { SandboxSpec } from '../spec/types.js'
import type { LbView } from './lb-view.js'

/** What a sandbox holds, read back from the kernel: `lb0`'s alias (the network ID), MAC, addresses and the table read as the nft layout. */
export interface SandboxRead {
  networkId: string | undefined
  mac: string | undefined
  view: LbView | undefined
}

/** Where one network's LB state lives: the sandbox netns and its nft table. */
export interface LbSandbox {
  networkId: string
  netns: string
  table: string
}

/** An LB change planned (and validated) before any kernel change. */
export interface LbChange {
  /** Run it in the sandbox; the backend records the new state once the kernel took it. Returns transactions issued. */
  run(opts: KOpts): Promise<number>
}

/**
 * How an LB sandbox balances: the strategy the sandbox programmer composes
 * (nft: numgen maps; ipvs: fwmark services). The sandbox programmer owns the
 * netns, its veth, MAC and the overlay; a backend owns the addresses and
 * balancing state inside the sandbox and keeps, per network, the copy of
 * what it programmed. Calls for one network never overlap.
 */
export interface LbBackend {
  /** The programmer kind it makes (`--programmer`). */
  readonly kind: 'nft' | 'ipvs'
  /** Sysctls of a sandbox netns of this backend. */
  readonly sysctls: readonly string[]
  /** Whether `--lb-mode per-container` can use it (the nft table loaded into task netns). */
  readonly perContainer: boolean
  /** Validate `spec` and plan the change from what is programmed; throws ProgrammerInputError naming the field. */
  plan(at: LbSandbox, spec: SandboxSpec): LbChange
  /** Take over a sandbox read back from the kernel (restart, resync). */
  adopt(at: LbSandbox, read: SandboxRead, opts: KOpts): Promise<void>
  /** Whether the kernel still holds what this backend programmed in the sandbox (true when it programmed nothing there). */
  verify(at: LbSandbox, opts: KOpts): Promise<boolean>
  /** Kernel objects it programmed for a network. */
  objects(networkId: string): number
  /** Drop a network's copy (its sandbox is being removed). */
  forget(networkId: string): void
  /** Drop every copy (before adoption). */
  clear(): void
}
