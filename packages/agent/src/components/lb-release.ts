import type { Clock } from '@scalelb/gossip'
import type { NodeAllocator } from '@scalelb/allocator'
import type { Component } from '../lifecycle.js'

/** The one timer of LB IP releases: armed at the allocator's next deadline. */
export interface LbRelease {
  /** Re-arm at the allocator's next deadline (after any change). */
  schedule(): void
  readonly component: Component
}

/** Create the LB release timer; `tick` releases what is due (the controller's `tickLbRelease`). */
export function createLbRelease (init: { allocator: NodeAllocator, clock: Clock, tick: () => void }): LbRelease {
  const { allocator, clock } = init
  let timer: (() => void) | undefined
  let stopped = false
  function schedule (): void {
    timer?.()
    timer = undefined
    const next = allocator.nextDeadline()
    if (next === undefined || stopped) return
    timer = clock.setTimer(Math.max(0, next - clock.now()), () => {
      timer = undefined
      init.tick()
      schedule()
    })
  }
  return {
    schedule,
    component: {
      name: 'lb-release',
      stop () {
        stopped = true
        timer?.()
        timer = undefined
      }
    }
  }
}
