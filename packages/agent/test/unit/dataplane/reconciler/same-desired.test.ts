import test from 'ava'
import type { NetworkDesired } from '../../../../src/dataplane/programmer/index.js'
import { sameDesired } from '../../../../src/dataplane/reconciler/same-desired.js'
import { backends, desired } from '../../../support/programmer-compliance.js'

const make = (): NetworkDesired => {
  const d = desired('netA', [{ backends: backends(3) }, { vip: '10.77.255.9', backends: [] }])
  return { ...d, overlay: { ...d.overlay, localUnderlay: '192.0.2.1', remotes: [{ ip: '10.77.1.9', mac: '02:00:00:00:00:09', underlay: '192.0.2.2' }] }, localTaskNetns: ['/run/netns/t1'] }
}

test('equal content in new objects is the same desired state; any field a kernel would see differs', t => {
  const a = make()
  t.true(sameDesired(a, make()))
  const changes: Array<(d: NetworkDesired) => void> = [
    d => { d.sandbox.lbAddresses = ['10.77.0.3/16'] },
    d => { d.sandbox.lbMac = '02:42:0a:4d:00:03' },
    d => { d.sandbox.services[0].backends[1].draining = true },
    d => { d.sandbox.services[0].backends[2].weight = 2 },
    d => { d.sandbox.services[0].ports[0].targetPort = 8081 },
    d => { d.sandbox.services[1].vip = '10.77.255.10' },
    d => { d.sandbox.services[1].id = 'other' },
    d => { d.sandbox.services.pop() },
    d => { d.overlay.vni = 7 },
    d => { d.overlay.subnets = ['10.78.0.0/16'] },
    d => { d.overlay.remotes[0].underlay = '192.0.2.3' },
    d => { d.overlay.remotes = [] },
    d => { d.localTaskNetns = [] }
  ]
  changes.forEach((change, i) => {
    const b = make()
    change(b)
    t.false(sameDesired(a, b), `change ${i}`)
  })
})

test('malformed desired state on either side compares unequal instead of throwing', t => {
  const bad = { ...make(), sandbox: { ...make().sandbox, services: null } } as unknown as NetworkDesired
  t.false(sameDesired(make(), bad))
  t.false(sameDesired(bad, make()))
  t.true(sameDesired(bad, bad))
})
