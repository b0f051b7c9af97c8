import test from 'ava'
import { createManualClock } from '../../../src/clock.js'
import { createMemoryNetwork } from '../../../src/transport/memory.js'
import type { Transport } from '../../../src/types.js'
import { pumpUntil } from '@scalelb/test-support'
import { runTransportCompliance } from '../../support/transport-compliance.js'

runTransportCompliance(test, 'memory', {
  setup: async () => {
    const clock = createManualClock(0)
    const net = createMemoryNetwork({ clock, latencyMs: [1, 3] })
    const made: Transport[] = []
    let n = 0
    return {
      create: async () => {
        const tr = net.transport(`node-${n++}`)
        made.push(tr)
        return tr
      },
      // a memory node is its id: the same transport starts again
      recreate: async old => old,
      until: async (cond, what) => {
        if (!await pumpUntil(clock, cond, 10_000, { stepMs: 1 })) throw new Error(`${what}: not within 10 s of virtual time`)
      },
      unknownId: async () => 'nobody',
      deadAddr: 'mem://nobody',
      cleanup: async () => { for (const tr of made) await tr.stop() }
    }
  }
})
