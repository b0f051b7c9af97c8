import test from 'ava'
import { DsrModel, dsrEligible, dsrPorts, dsrScript, dsrViewFromNftJson, sameDsrView } from '../../../../src/dataplane/lb/dsr.js'
import type { SandboxSpec, ServiceSpec } from '../../../../src/dataplane/spec/types.js'

const svc = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({
  id: 's1',
  vip: '10.0.0.100',
  ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }],
  backends: [{ ip: '10.0.0.11', weight: 1, draining: false, dsr: true }, { ip: '10.0.0.12', weight: 1, draining: false, dsr: true }],
  ...over
})
const sandbox = (services: ServiceSpec[], dsr = true): SandboxSpec => ({ networkId: 'n1', lbAddresses: ['10.0.0.2/24'], lbMac: '02:00:00:00:00:02', services, ...(dsr ? { dsr: true } : {}) })

test('DSR eligibility: TCP on an IPv4 VIP, every active backend plumbed, a target port per VIP port', (t) => {
  t.true(dsrEligible(svc()))
  t.false(dsrEligible(svc({ backends: [{ ip: '10.0.0.11', weight: 1, draining: false, dsr: true }, { ip: '10.0.0.12', weight: 1, draining: false }] })), 'a backend its node did not plumb')
  t.true(dsrEligible(svc({ backends: [{ ip: '10.0.0.11', weight: 1, draining: false, dsr: true }, { ip: '10.0.0.12', weight: 1, draining: true }] })), 'only active backends count')
  t.false(dsrEligible(svc({ backends: [] })))
  t.false(dsrEligible(svc({ vip: 'fd00::100' })))
  t.false(dsrEligible(svc({ ports: [{ proto: 'udp', port: 53, targetPort: 53 }] })))
  t.deepEqual(dsrPorts(svc({ ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }, { proto: 'tcp', port: 81, targetPort: 8080 }, { proto: 'tcp', port: 443, targetPort: 8443 }] })), [{ port: 443, targetPort: 8443 }])
})

test('DSR model: the table follows the spec element by element, reads back as programmed, and goes with the option', (t) => {
  const m = new DsrModel()
  const spec = sandbox([svc()])
  const v1 = m.desired(spec)
  const create = dsrScript('T', m.view, v1)
  t.regex(create, /add chain netdev T ingress \{ type filter hook ingress device "lb0"/)
  t.regex(create, /fwd ip to ip daddr \. meta mark map @dsr_slots device "lb0"/)
  t.regex(create, /add element netdev T dsr_svc \{ 10\.0\.0\.100 \. 80 : goto d61 \}/)
  t.regex(create, /add element netdev T dsr_skip \{ 10\.0\.0\.100 \. 10\.0\.0\.11, 10\.0\.0\.100 \. 10\.0\.0\.12 \}/)
  m.commit(spec, v1)
  t.is(dsrScript('T', m.view, m.desired(spec)), '', 'nothing changed')
  // a third backend: slot elements only (delete + add of the slots it takes), no table or chain
  const three = sandbox([svc({ backends: [...svc().backends, { ip: '10.0.0.13', weight: 1, draining: false, dsr: true }] })])
  const v2 = m.desired(three)
  const upd = dsrScript('T', m.view, v2)
  t.notRegex(upd, /add table|add chain|dsr_svc/)
  t.regex(upd, /delete element netdev T dsr_slots/)
  t.regex(upd, /add element netdev T dsr_skip \{ 10\.0\.0\.100 \. 10\.0\.0\.13 \}/)
  m.commit(three, v2)
  // an ineligible service leaves the table, the option off deletes it
  t.regex(dsrScript('T', m.view, m.desired(sandbox([svc({ ports: [{ proto: 'udp', port: 53, targetPort: 53 }] })]))), /delete element netdev T dsr_svc/)
  t.is(m.desired(sandbox([svc()], false)), undefined)
  t.is(dsrScript('T', m.view, undefined), 'delete table netdev T\n')
  // nft -j of what was programmed reads back equal
  const slots = [...(v2?.slots.get('10.0.0.100') ?? [])]
  const json = [
    { map: { name: 'dsr_svc', elem: [[{ concat: ['10.0.0.100', 80] }, { goto: { target: 'd61' } }]] } },
    { map: { name: 'dsr_port', elem: [[{ concat: ['10.0.0.100', 80] }, 8080]] } },
    { map: { name: 'dsr_slots', elem: slots.map((ip, i) => [{ concat: ['10.0.0.100', i] }, ip]) } },
    { set: { name: 'dsr_skip', elem: ['11', '12', '13'].map((x) => ({ concat: ['10.0.0.100', `10.0.0.${x}`] })) } },
    { chain: { name: 'd61' } }
  ]
  t.true(sameDsrView(dsrViewFromNftJson(json), v2))
})
