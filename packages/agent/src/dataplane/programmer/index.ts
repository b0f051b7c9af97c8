/** Kernel programmers of the LB sandbox and overlay: nft (default), ipvs, memory. */
import type { Logger } from 'winston'
import type { Kernel } from '../kernel/index.js'
import { UnknownProgrammerError } from '../spec/errors.js'
import { createIpvsProgrammer } from './ipvs.js'
import { createMemoryProgrammer, type MemoryKernel } from './memory.js'
import { createNftProgrammer } from './nft.js'
import type { LbMode, Programmer, ProgrammerKind } from '../spec/types.js'

export type * from '../spec/types.js'
export { ProgrammerInputError, UnknownProgrammerError, InjectedFailureError } from '../spec/errors.js'
export { createNftProgrammer, NftProgrammer, type NftProgrammerInit } from './nft.js'
export { createIpvsProgrammer, IpvsProgrammer } from './ipvs.js'
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
