import type { Clock } from '@scalelb/gossip'
import type { Logger } from './logging/logger.js'
import type { ApplyResult } from './programmer/types.js'
import type { NetworkDesired } from './state/desired.js'
import type { TaskPlumber } from './state/controller.js'

/** The reconciler as the agent uses it (contract with the data plane, reconciler/index.ts). */
export interface Reconciler {
  setDesired(all: Map<string, NetworkDesired>): void
  start(): Promise<void>
  stop(): Promise<void>
  flush(opts?: { signal?: AbortSignal }): Promise<void>
  synced(): boolean
  stats(): { transactions: number, failures: number, kernelObjects: number, sandboxes: number, lastSyncDurationMs: number }
  teardown(): Promise<void>
}

/** What the agent needs from the kernel side. */
export interface DataPlane {
  createReconciler(init: { clock: Clock, logger: Logger, onApplied: (networkId: string, result: ApplyResult & { durationMs: number }) => void }): Reconciler
  plumber: TaskPlumber
}
