import { PENDING_ORIGINS_MAX } from '../constants.js'
import type { AgentMetrics } from '../metrics.js'

/** Programming latency: from an endpoint value's origin (wall clock) to the reconciler's apply. */
export interface ProgrammingLatency {
  /** An endpoint value with `originMs` arrived for `networkId`. */
  seen(networkId: string, originMs: number): void
  /** The reconciler applied `networkId`: observe every pending origin. */
  applied(networkId: string): void
}

/** Create the tracker; `metrics` is read at call time (it is built after the reconciler it observes). */
export function createProgrammingLatency (init: { wallClock: () => number, metrics: () => AgentMetrics }): ProgrammingLatency {
  const pending = new Map<string, number[]>()
  return {
    seen (networkId, originMs) {
      const list = pending.get(networkId) ?? []
      if (list.length < PENDING_ORIGINS_MAX) list.push(originMs)
      pending.set(networkId, list)
    },
    applied (networkId) {
      const origins = pending.get(networkId)
      if (origins === undefined) return
      pending.delete(networkId)
      const now = init.wallClock()
      for (const o of origins) init.metrics().observeProgramming(now - o)
    }
  }
}
