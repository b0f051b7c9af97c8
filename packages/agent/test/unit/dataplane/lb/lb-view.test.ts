import test from 'ava'
import { assignSlots, diffScript, viewFromSpec } from '../../../../src/dataplane/programmer/index.js'
import { sameTable, sameView, slotTargets, type ViewCache } from '../../../../src/dataplane/lb/lb-view.js'
import { viewFromNftJson } from '../../../../src/dataplane/lb/lb-parse.js'
import type { NftJson } from '../../../../src/dataplane/kernel/index.js'
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
  t.is(v.services.get('10.77.255.2 . tcp . 80')?.ips.length, 4)
  const bad = { ...changed, services: [changed.services[0], { ...changed.services[1], backends: [{ ip: 'x', weight: 1, draining: false }] }] }
  t.regex(t.throws(() => viewFromSpec(bad, true, cache))!.message, /services\[1\]\.backends\[0\]\.ip/)
  const dup = { ...changed, services: [changed.services[0], changed.services[0]] }
  t.regex(t.throws(() => viewFromSpec(dup, true, cache))!.message, /programmed twice/)
  // after refused input the cache still serves the last good state: nothing to change
  t.is(diffScript('t', v, viewFromSpec(changed, true, cache)), '')
})

test('the slot tables of a service\'s ports share one array of its backends\' IPs (no `ip . port` string per slot); each slot renders `ip . targetPort`', t => {
  const svc = { ports: [{ proto: 'tcp' as const, port: 80, targetPort: 8080 }, { proto: 'udp' as const, port: 53, targetPort: 5353 }], backends: [...backends(2), { ip: '10.77.1.9', weight: 2, draining: false }] }
  const sb = desired('n', [svc]).sandbox
  const v = viewFromSpec(sb)
  const tcp = v.services.get('10.77.255.1 . tcp . 80')!
  const udp = v.services.get('10.77.255.1 . udp . 53')!
  t.is(tcp.ips, udp.ips, 'one array for both ports')
  t.deepEqual(tcp.ips, ['10.77.1.2', '10.77.1.3', '10.77.1.9', '10.77.1.9'])
  t.deepEqual(slotTargets(udp), ['10.77.1.2 . 5353', '10.77.1.3 . 5353', '10.77.1.9 . 5353', '10.77.1.9 . 5353'])
  const script = diffScript('t', undefined, v)
  t.regex(script, /add element inet t backends_udp \{ 10\.77\.255\.1 \. 53 \. 0 : 10\.77\.1\.2 \. 5353, .* 10\.77\.255\.1 \. 53 \. 3 : 10\.77\.1\.9 \. 5353 \}/)
  t.regex(script, /add element inet t backends_tcp \{ 10\.77\.255\.1 \. 80 \. 0 : 10\.77\.1\.2 \. 8080, /)
})

test('a table read back from the kernel: one port per table as built (nothing to change), a slot with another port is set right alone', t => {
  // without addresses: those are read from the interface, not the table
  const v = viewFromSpec(desired('n', [{ backends: backends(2) }]).sandbox, false)
  const json = (ports: number[]): NftJson => [
    { map: { name: 'services', elem: [[{ concat: ['10.77.255.1', 'tcp', 80] }, { goto: { target: 'm2' } }]] } },
    { map: { name: 'backends_tcp', elem: ports.map((p, i) => [{ concat: ['10.77.255.1', 80, i] }, { concat: [`10.77.1.${i + 2}`, p] }]) } },
    { chain: { name: 'm2' } }
  ]
  const same = viewFromNftJson('n', json([8080, 8080])).view
  t.deepEqual(same.services.get('10.77.255.1 . tcp . 80'), { ips: ['10.77.1.2', '10.77.1.3'], port: 8080 })
  t.true(sameTable(same.services.get('10.77.255.1 . tcp . 80'), v.services.get('10.77.255.1 . tcp . 80')))
  t.true(sameView(same, v))
  const mixed = viewFromNftJson('n', json([8080, 9090])).view
  t.deepEqual(slotTargets(mixed.services.get('10.77.255.1 . tcp . 80')!), ['10.77.1.2 . 8080', '10.77.1.3 . 9090'])
  t.false(sameView(mixed, v))
  t.deepEqual(diffScript('t', mixed, v).trim().split('\n'), [
    'delete element inet t backends_tcp { 10.77.255.1 . 80 . 1 }',
    'add element inet t backends_tcp { 10.77.255.1 . 80 . 1 : 10.77.1.3 . 8080 }'
  ])
})
