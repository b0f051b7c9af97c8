import type { Clock, Gossip } from '@scalelb/gossip'
import { JOIN_DIAL_TIMEOUT_MS, JOIN_RETRY_MAX_MS, JOIN_RETRY_MIN_MS } from '../constants.js'
import type { Component } from '../lifecycle.js'
import type { Logger } from '../logging/logger.js'

/** Options and components of {@link createJoiner}. */
export interface JoinerInit {
  gossip: Gossip
  clock: Clock
  logger: Logger
  /** Addresses of `--join` (none: nothing to do). */
  join: readonly string[]
  /** Called once a join succeeded. */
  joined: () => void
}

/**
 * Joins through `--join` once the agent runs; while no peer answers and none
 * has joined us, tries again with backoff (agents on several hosts start in
 * any order). Last in the start order, first stopped.
 */
export function createJoiner (init: JoinerInit): Component {
  const { gossip, clock, logger: log } = init
  let running = false
  let cancelRetry: (() => void) | undefined

  function tryJoin (nextDelayMs: number): void {
    cancelRetry = undefined
    if (!running) return
    gossip.join([...init.join], { dialTimeoutMs: JOIN_DIAL_TIMEOUT_MS }).then((n) => {
      log.info('joined cluster', { contacted: n })
      init.joined()
    }, (err: unknown) => {
      if (!running) return
      const others = gossip.members().filter((m) => m.id !== gossip.id && m.state === 'alive').length
      if (others > 0) {
        log.warn('join failed, but peers have joined us', { join: init.join, alive: others, error: (err as Error).message })
        return
      }
      log.warn('join failed; retrying', { join: init.join, retryInMs: nextDelayMs, error: (err as Error).message })
      cancelRetry = clock.setTimer(nextDelayMs, () => tryJoin(Math.min(nextDelayMs * 2, JOIN_RETRY_MAX_MS)))
    })
  }

  return {
    name: 'join',
    start () {
      running = true
      if (init.join.length > 0) tryJoin(JOIN_RETRY_MIN_MS)
    },
    stop () {
      running = false
      cancelRetry?.()
      cancelRetry = undefined
    }
  }
}
