import test from 'ava'
import { assignSlots, diffScript, viewFromSpec } from '../../../../src/dataplane/programmer/index.js'
import type { ViewCache } from '../../../../src/dataplane/lb/lb-view.js'
import { backends, desired } from '../../../support/programmer-compliance.js'

test('slots: weight = slots, draining = none, scaled to at most 1024 with every backend kept', t => {
  t.deepEqual(assignSlots([{ ip: '10.0.0.2', weight: 2, draining: false }, { ip: '10.0.0.1', weight: 1, draining: false }, { ip: '10.0.0.3', weight: 5, draining: true }]),
    [{ ip: '10.0.0.1', slots: 1 }, { ip: '10.0.0.2', slots: 2 }])
  const big = assignSlots([{ ip: '10.0.0.1', weight: 100000, draining: false }, { ip: '10.0.0.2', weight: 1, draining: false }])
  t.is(big.reduce((s, b) => s + b.slots, 0), 1024)
  t.is(big[1].slots, 1)
  t.is(assignSlots(backends(500)).reduce((s, b) => s + b.slots, 0), 500)
})

test('the service cache gives the same view as a full build, and still validates changed services', t => {
  const cache: ViewCache = new Map()
  const base = desired('n', [{ backends: backends(3) }, { vip: '10.77.255.2', backends: backends(2, 5) }, { vip: '10.77.255.3', backends: [] }]).sandbox
  t.deepEqual(viewFromSpec(base, true, cache), viewFromSpec(base))
  const changed = { ...base, services: [base.services[0], { ...base.services[1], backends: backends(4, 5) }, base.services[2]] }
  const v = viewFromSpec(changed, true, cache)
  t.deepEqual(v, viewFromSpec(changed))
  t.is(v.services.get('10.77.255.2 . tcp . 80')?.length, 4)
  const bad = { ...changed, services: [changed.services[0], { ...changed.services[1], backends: [{ ip: 'x', weight: 1, draining: false }] }] }
  t.regex(t.throws(() => viewFromSpec(bad, true, cache))!.message, /services\[1\]\.backends\[0\]\.ip/)
  const dup = { ...changed, services: [changed.services[0], changed.services[0]] }
  t.regex(t.throws(() => viewFromSpec(dup, true, cache))!.message, /programmed twice/)
  // after refused input the cache still serves the last good state: nothing to change
  t.is(diffScript('t', v, viewFromSpec(changed, true, cache)), '')
})
