/** Kernel programmers of the LB sandbox and overlay: nft (default), ipvs, memory. */
import type { Logger } from 'winston'
import type { Kernel } from '../kernel/index.js'
import { UnknownProgrammerError } from '../spec/errors.js'
import { createIpvsLb, type IpvsLb } from '../lb/ipvs-backend.js'
import { createNftLb, type NftLb } from '../lb/nft-backend.js'
import { createMemoryProgrammer, type MemoryKernel } from './memory.js'
import { SandboxProgrammer, type SandboxProgrammerInit } from './sandbox-programmer.js'
import type { LbMode, Programmer, ProgrammerKind } from '../spec/types.js'

export type * from '../spec/types.js'
export { ProgrammerInputError, UnknownProgrammerError, InjectedFailureError } from '../spec/errors.js'
export { SandboxProgrammer, type SandboxProgrammerInit } from './sandbox-programmer.js'
export type { LbBackend, LbChange, LbSandbox } from '../lb/backend.js'
export { createNftLb, type NftLb } from '../lb/nft-backend.js'
export { createIpvsLb, type IpvsLb } from '../lb/ipvs-backend.js'
export { createMemoryProgrammer, createMemoryKernel, MemoryProgrammer, type MemoryKernel, type MemoryNetwork, type MemoryOp, type MemoryProgrammerInit } from './memory.js'
export { assignSlots, type BackendSlots } from '../lb/slots.js'
export { viewFromSpec, diffScript, kernelObjectCount, type LbView } from '../lb/lb-view.js'
export { ipvsViewFromSpec, ipvsDiff, type IpvsView } from '../lb/ipvs-view.js'
export { MAX_SLOTS_PER_SERVICE } from '../spec/constants.js'

/** Options of {@link createProgrammer}. */
export interface ProgrammerInit {
  /** Prefix of the agent's netns and interface-name hash seed. */
  netnsPrefix: string
  /** @default 'per-network' */
  lbMode?: LbMode
  logger?: Logger
  /** Kernel access for nft/ipvs (tests: a "host" netns). @default createKernel() */
  kernel?: Kernel
  /** Simulated kernel for `memory` (share it to simulate a restart). */
  memoryKernel?: MemoryKernel
  /** nft/ipvs: called after a sandbox got a new uplink (see {@link SandboxProgrammerInit}). */
  uplinkMade?: (networkId: string) => void
  /** nft/ipvs: each network's overlay in a netns of its own (see {@link SandboxProgrammerInit}). @default false */
  overlayNetns?: boolean
}

/** The nftables programmer: LB sandboxes balancing with the nft backend (needs root). */
export function createNftProgrammer (init: SandboxProgrammerInit): SandboxProgrammer<NftLb> {
  return new SandboxProgrammer(init, createNftLb)
}

/** The Docker-compatible IPVS programmer: LB sandboxes balancing with the IPVS backend (per-network only; needs root and ip_vs). */
export function createIpvsProgrammer (init: SandboxProgrammerInit): SandboxProgrammer<IpvsLb> {
  return new SandboxProgrammer(init, createIpvsLb)
}

/** Create a programmer by kind (`--programmer nft|ipvs|memory`). Throws UnknownProgrammerError for anything else. */
export function createProgrammer (kind: ProgrammerKind, init: ProgrammerInit): Programmer {
  if (init.lbMode !== undefined && init.lbMode !== 'per-network' && init.lbMode !== 'per-container') {
    throw new UnknownProgrammerError(`lbMode: expected per-network or per-container, got ${JSON.stringify(init.lbMode)}`)
  }
  switch (kind) {
    case 'nft': return createNftProgrammer(init)
    case 'ipvs': return createIpvsProgrammer(init)
    case 'memory': return createMemoryProgrammer({ ...init, kernel: init.memoryKernel })
    default: throw new UnknownProgrammerError(`programmer: expected nft, ipvs or memory, got ${JSON.stringify(kind)}`)
  }
}
