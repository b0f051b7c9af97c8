import type { Logger } from '../logging/logger.js'
import type { NetworkConflict } from './conflicts.js'
import type { DesiredSkip } from './desired.js'
import type { NetworkValue } from './tables.js'

/**
 * Why this node does not program a network: a subnet conflict, a desired
 * state skipped (no LB address yet) or refused by the reconciler. Gathered in
 * one place so that each shows in `network inspect` and `/v1/status`, never
 * only in a log; a conflict is logged once when it appears (not per
 * recomputation) and counted.
 */

/** Inputs of {@link createNetworkProblems}. */
export interface NetworkProblemsInit {
  logger: Logger
  networks: () => ReadonlyMap<string, NetworkValue>
  /** Conflicted networks (the same map until the networks table changes). */
  conflicts: () => ReadonlyMap<string, NetworkConflict>
  /** Networks whose last apply failed (reconciler). */
  refused: () => ReadonlyMap<string, string>
}

/** One network's problem on this node. */
export interface NetworkProblem {
  networkId: string
  network: string
  error: string
}

/** See {@link createNetworkProblems}. */
export interface NetworkProblems {
  /** After each desired-state computation: remember its skips, log conflicts that appeared or ended. */
  update(skipped: readonly DesiredSkip[]): void
  /** Why this node does not program network `id` as desired (or would not: a conflict), or undefined. */
  error(id: string): string | undefined
  /** Every network with a problem here, sorted by name. */
  list(): NetworkProblem[]
  /** Networks in a subnet conflict now. */
  conflicts(): number
  /** Subnet conflicts that appeared since start. */
  conflictsDetected(): number
}

const SKIP_TEXT: Record<DesiredSkip['reason'], string> = {
  'subnet-conflict': 'not programmed: its subnets overlap a network created earlier (see conflict); remove it and create it again with a free subnet',
  'no-lb-endpoint': 'not programmed yet: this node has no LB address on it',
  'lb-ip-outside-subnets': 'not programmed: this node\'s LB address is outside the network\'s subnets'
}

/** Create the tracker (pure apart from logging; the agent calls `update` after each recomputation). */
export function createNetworkProblems (init: NetworkProblemsInit): NetworkProblems {
  const { logger } = init
  let skips = new Map<string, DesiredSkip['reason']>()
  let seen: ReadonlyMap<string, NetworkConflict> = new Map()
  let detected = 0

  function followConflicts (): void {
    const now = init.conflicts()
    if (now === seen) return
    const nets = init.networks()
    for (const [id, c] of now) {
      const was = seen.get(id)
      if (was !== undefined && was.with === c.with && was.ownSubnet === c.ownSubnet) continue
      detected++
      logger.error('network subnet conflict: the network created later gets no kernel state and no new task until it is removed', {
        networkId: id, name: nets.get(id)?.name, subnet: c.ownSubnet, with: c.with, withName: c.withName, withSubnet: c.subnet
      })
    }
    for (const id of seen.keys()) {
      if (!now.has(id)) logger.info('network subnet conflict over', { networkId: id, name: nets.get(id)?.name })
    }
    seen = now
  }

  const problems: NetworkProblems = {
    update (skipped) {
      skips = new Map(skipped.map((s) => [s.networkId, s.reason]))
      followConflicts()
    },
    error (id) {
      const refused = init.refused().get(id)
      if (refused !== undefined) return refused
      const skip = skips.get(id)
      if (skip !== undefined) return SKIP_TEXT[skip]
      const c = init.conflicts().get(id)
      return c === undefined ? undefined : `in conflict: its subnet ${c.ownSubnet} overlaps ${c.subnet} of network ${c.withName}, created earlier; remove it and create it again with a free subnet`
    },
    list () {
      const nets = init.networks()
      const ids = new Set([...init.refused().keys(), ...skips.keys(), ...init.conflicts().keys()])
      const out: NetworkProblem[] = []
      for (const id of ids) {
        const error = problems.error(id)
        if (error !== undefined) out.push({ networkId: id, network: nets.get(id)?.name ?? id, error })
      }
      return out.sort((a, b) => a.network < b.network ? -1 : a.network > b.network ? 1 : 0)
    },
    conflicts: () => { followConflicts(); return seen.size },
    conflictsDetected: () => { followConflicts(); return detected }
  }
  return problems
}
