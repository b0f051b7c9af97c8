import type { Clock } from '@scalelb/gossip'
import { DESIRED_PERSIST_INTERVAL_MS, WARMUP_AFTER_JOIN_MS } from '../constants.js'
import type { Reconciler } from '../dataplane/dataplane.js'
import type { FlushOptions } from '../dataplane/reconciler/index.js'
import type { MtuPolicy } from '../dataplane/overlay/mtu.js'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'
import { mergeWarmup, type NetworkDesired } from '../state/desired.js'
import type { LocalTask } from '../state/local-tasks.js'
import type { NetworkProblems } from '../state/network-problems.js'
import type { TablesView } from '../state/view.js'

/** Options and components of {@link createDesiredState}. */
export interface DesiredStateInit {
  view: TablesView
  reconciler: Reconciler
  problems: NetworkProblems
  clock: Clock
  logger: Logger
  /** This node's ID. */
  self: string
  /** This node's underlay address ('' when unknown). */
  localUnderlay: string
  mtu: MtuPolicy
  localTasks: () => LocalTask[]
  /** Ask for a state file write (the desired state is persisted, at most every DESIRED_PERSIST_INTERVAL_MS). */
  persist: () => void
  /** The previous run's desired state (restart): kept until the tables are synced again. */
  previous?: ReadonlyArray<[string, NetworkDesired]>
  /** How long a restart warm-up lasts at most. */
  restartGraceMs: number
}

/** The desired state handed to the reconciler, recomputed on table changes. */
export interface DesiredState {
  /** Recompute in a microtask (changes coalesce). */
  schedule(): void
  /** Recompute now if one is scheduled, then wait until the reconciler applied it (`now: false`: at the end of its coalescing window). */
  flush(opts?: FlushOptions): Promise<void>
  /** The desired state last handed to the reconciler (persisted). */
  last(): ReadonlyMap<string, NetworkDesired>
  /** The cluster was joined: end the warm-up after WARMUP_AFTER_JOIN_MS. */
  joined(): void
  /** Computes the first desired state (the reconciler adopts the kernel against it); placed before the reconciler. */
  readonly component: Component
  /** Ends the restart warm-up after the grace; placed after the reconciler. */
  readonly warmupComponent: Component
}

/**
 * Create the desired-state driver. After a restart the previous run's desired
 * state is merged in (warm-up) until the tables are synced again, so the
 * reconciler's adoption removes nothing.
 */
export function createDesiredState (init: DesiredStateInit): DesiredState {
  const { clock, logger: log } = init
  let lastDesired = new Map<string, NetworkDesired>(init.previous ?? [])
  let warmup: Map<string, NetworkDesired> | undefined = lastDesired.size > 0 ? new Map(lastDesired) : undefined
  let queued = false
  let lastSkipped = ''
  let stopped = false
  let persistTimer: (() => void) | undefined
  const warmupTimers = new Set<() => void>()

  function recompute (): void {
    queued = false
    const r = init.view.desired(init.self, init.localUnderlay, init.mtu)
    const skipped = JSON.stringify(r.skipped)
    if (skipped !== lastSkipped && r.skipped.length > 0 && warmup === undefined) log.warn('networks with local tasks not programmed yet', { skipped: r.skipped })
    lastSkipped = skipped
    init.problems.update(r.skipped)
    let desired = r.desired
    if (warmup !== undefined) {
      const local = new Set(init.localTasks().flatMap((t) => t.endpoints.map((e) => e.networkId)))
      desired = mergeWarmup(r.desired, warmup, local)
    }
    lastDesired = desired
    init.reconciler.setDesired(desired)
    if (!stopped) persistTimer ??= clock.setTimer(DESIRED_PERSIST_INTERVAL_MS, () => { persistTimer = undefined; init.persist() })
  }
  function schedule (): void {
    if (queued) return
    queued = true
    queueMicrotask(recompute)
  }
  function endWarmup (why: string): void {
    if (warmup === undefined) return
    warmup = undefined
    log.info('restart warm-up over: desired state from the tables alone', { why })
    schedule()
  }
  function warmupTimer (ms: number, why: string): void {
    if (warmup === undefined || stopped) return
    const cancel = clock.setTimer(ms, () => { warmupTimers.delete(cancel); endWarmup(why) })
    warmupTimers.add(cancel)
  }

  return {
    schedule,
    async flush (opts) {
      if (queued) recompute()
      await init.reconciler.flush(opts)
    },
    last: () => lastDesired,
    joined: () => warmupTimer(WARMUP_AFTER_JOIN_MS, 'joined and synced'),
    component: {
      name: 'desired-state',
      start: recompute,
      stop () {
        stopped = true
        persistTimer?.()
        persistTimer = undefined
      }
    },
    warmupComponent: {
      name: 'warm-up',
      start: () => warmupTimer(init.restartGraceMs, 'restart grace over'),
      stop () {
        stopped = true
        for (const cancel of warmupTimers) cancel()
        warmupTimers.clear()
      }
    }
  }
}
