import test from 'ava'
import { createManualClock } from '@scalelb/gossip'
import { createDesiredState } from '../../../src/components/desired-state.js'
import { DESIRED_PERSIST_INTERVAL_MS } from '../../../src/constants.js'
import { createSilentLogger } from '../../../src/logging/logger.js'
import type { NetworkDesired } from '../../../src/state/desired.js'

test('a stream of remote changes writes the desired state once per persist interval, not once a second', async (t) => {
  const clock = createManualClock(0)
  let version = 0
  let persisted = 0
  const handed: Array<Map<string, NetworkDesired>> = []
  const d = createDesiredState({
    // each recompute sees a new desired state, as with a remote task event
    view: { desired: () => ({ desired: new Map([['n1', { v: ++version } as unknown as NetworkDesired]]), skipped: [] }) } as never,
    reconciler: { setDesired: (all: Map<string, NetworkDesired>) => { handed.push(all) } } as never,
    problems: { update: () => {} } as never,
    clock,
    logger: createSilentLogger(),
    self: 'me',
    localUnderlay: '',
    mtu: { mtu: 1450, max: 1450 } as never,
    localTasks: () => [],
    persist: () => { persisted++ },
    restartGraceMs: 30_000
  })
  d.component.start?.()
  // one remote change a second for 20 s
  for (let s = 0; s < 20; s++) {
    d.schedule()
    await Promise.resolve()
    clock.advance(1000)
  }
  t.is(handed.length, 21, 'every change is handed to the reconciler at once')
  // at most one write per 5 s of changes (it was one a second: ~1.7 ms of CPU each)
  t.true(persisted >= 1 && persisted <= 4, `${persisted} state file writes in 20 s`)
  t.is(persisted, Math.floor(20_000 / DESIRED_PERSIST_INTERVAL_MS))
})
