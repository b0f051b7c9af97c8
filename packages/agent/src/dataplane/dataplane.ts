import type { Clock } from '@scalelb/gossip'
import type { Logger } from '../logging/logger.js'
import type { ApplyResult } from './spec/types.js'
import type { TaskPlumber } from '../state/controller.js'
import type { Reconciler } from './reconciler/index.js'
import type { HostIngress } from './ingress/host.js'

export type { Reconciler }

/** What the agent needs from the kernel side. */
export interface DataPlane {
  createReconciler(init: { clock: Clock, logger: Logger, onApplied: (networkId: string, result: ApplyResult & { durationMs: number }) => void }): Reconciler
  plumber: TaskPlumber
  /** The host side of north-south traffic (published ports, egress masquerade); absent with the memory programmer and per-container mode. */
  hostIngress?: HostIngress
}
