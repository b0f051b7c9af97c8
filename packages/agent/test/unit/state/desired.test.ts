import test from 'ava'
import { computeDesired, mergeWarmup, type DesiredInput, type EndpointRecord } from '../../../src/state/desired.js'
import type { EndpointValue, NetworkValue, ServiceValue } from '../../../src/state/tables.js'

const SELF = 'node-a'
const NET = 'net1'

function ep (key: string, v: Partial<EndpointValue> & { ip: string, node: string }, status: EndpointRecord['status'] = 'live'): EndpointRecord {
  return { key, status, value: { kind: 'task', service: 'svc1', mac: '02:42:0a:00:00:01', state: 'ready', originMs: 1, ...v } }
}

function input (endpoints: EndpointRecord[], extra: Partial<DesiredInput> = {}): DesiredInput {
  const networks = new Map<string, NetworkValue>([[NET, { name: 'front', subnets: ['10.0.0.0/24'], vni: 4096, options: {} }]])
  const services = new Map<string, ServiceValue>([
    ['svc1', { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { [NET]: '10.0.0.2' } }],
    ['svc2', { name: 'other', ports: [{ proto: 'udp', port: 53, targetPort: 53 }], vips: { net2: '10.1.0.2' } }]
  ])
  const nodes = new Map([['node-a', { underlay: '192.168.1.1', version: '0.1.0' }], ['node-b', { underlay: '192.168.1.2', version: '0.1.0' }]])
  return { self: SELF, localUnderlay: '192.168.1.1', networks, services, nodes, endpoints: new Map([[NET, endpoints]]), ...extra }
}

const lbA = ep('lb:node-a', { kind: 'lb', service: undefined, ip: '10.0.0.3', node: 'node-a', mac: '02:42:0a:00:00:03' })
const lbB = ep('lb:node-b', { kind: 'lb', service: undefined, ip: '10.0.0.4', node: 'node-b', mac: '02:42:0a:00:00:04' })

test('a network without local tasks gets no desired state (no sandbox, no LB)', (t) => {
  const r = computeDesired(input([lbB, ep('t2', { ip: '10.0.0.10', node: 'node-b' })]))
  t.is(r.desired.size, 0)
})

test('backends are the ready endpoints of the service on every node, sorted', (t) => {
  const r = computeDesired(input([
    lbA, lbB,
    ep('t1', { ip: '10.0.0.11', node: 'node-a', netns: '/run/netns/t1' }),
    ep('t2', { ip: '10.0.0.10', node: 'node-b' })
  ]))
  const d = r.desired.get(NET)
  t.truthy(d)
  t.deepEqual(d?.sandbox.lbAddresses, ['10.0.0.3/24'])
  t.is(d?.sandbox.lbMac, '02:42:0a:00:00:03')
  t.deepEqual(d?.sandbox.services.map((s) => s.id), ['svc1'], 'services without a VIP on this network are left out')
  t.deepEqual(d?.sandbox.services[0]?.backends, [
    { ip: '10.0.0.10', weight: 1, draining: false },
    { ip: '10.0.0.11', weight: 1, draining: false }
  ])
  t.deepEqual(d?.sandbox.services[0]?.ports, [{ proto: 'tcp', port: 80, targetPort: 8080 }])
  t.deepEqual(d?.localTaskNetns, ['/run/netns/t1'])
})

test('suspended and deleted endpoints are withdrawn; draining stays as draining', (t) => {
  const r = computeDesired(input([
    lbA,
    ep('t1', { ip: '10.0.0.11', node: 'node-a' }),
    ep('t2', { ip: '10.0.0.12', node: 'node-b' }, 'suspended'),
    ep('t3', { ip: '10.0.0.13', node: 'node-b' }, 'deleted'),
    ep('t4', { ip: '10.0.0.14', node: 'node-b', state: 'draining', weight: 3 })
  ]))
  t.deepEqual(r.desired.get(NET)?.sandbox.services[0]?.backends, [
    { ip: '10.0.0.11', weight: 1, draining: false },
    { ip: '10.0.0.14', weight: 3, draining: true }
  ])
  t.deepEqual(r.desired.get(NET)?.overlay.remotes.map((x) => x.ip), ['10.0.0.14'], 'suspended nodes drop out of FDB too')
})

test('a service with no ready backend is still programmed (empty backends -> reject)', (t) => {
  const services = new Map<string, ServiceValue>([
    ['svc1', { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { [NET]: '10.0.0.2' } }],
    ['svc3', { name: 'empty', ports: [{ proto: 'tcp', port: 81, targetPort: 81 }], vips: { [NET]: '10.0.0.5' } }]
  ])
  const r = computeDesired(input([lbA, ep('t1', { ip: '10.0.0.11', node: 'node-a' })], { services }))
  const s3 = r.desired.get(NET)?.sandbox.services.find((s) => s.id === 'svc3')
  t.deepEqual(s3?.backends, [])
  t.is(s3?.vip, '10.0.0.5')
})

test('overlay lists remote tasks and LB endpoints with their node underlay; unknown nodes are skipped', (t) => {
  const r = computeDesired(input([
    lbA, lbB,
    ep('t1', { ip: '10.0.0.11', node: 'node-a' }),
    ep('t2', { ip: '10.0.0.12', node: 'node-b', mac: '02:42:0a:00:00:0c' }),
    ep('t9', { ip: '10.0.0.19', node: 'node-z' })
  ]))
  const o = r.desired.get(NET)?.overlay
  t.is(o?.vni, 4096)
  t.is(o?.localUnderlay, '192.168.1.1')
  t.deepEqual(o?.subnets, ['10.0.0.0/24'])
  t.deepEqual(o?.remotes, [
    { ip: '10.0.0.12', mac: '02:42:0a:00:00:0c', underlay: '192.168.1.2' },
    { ip: '10.0.0.4', mac: '02:42:0a:00:00:04', underlay: '192.168.1.2' }
  ])
  // node-z has no nodes entry: its task is a backend (routable once known) but not in FDB
  t.true(r.desired.get(NET)?.sandbox.services[0]?.backends.some((b) => b.ip === '10.0.0.19'))
})

test('local tasks without an LB endpoint yet are reported as skipped, not programmed half', (t) => {
  const r = computeDesired(input([ep('t1', { ip: '10.0.0.11', node: 'node-a' })]))
  t.is(r.desired.size, 0)
  t.deepEqual(r.skipped, [{ networkId: NET, reason: 'no-lb-endpoint' }])
})

test('an LB IP outside the network subnets is skipped', (t) => {
  const bad = ep('lb:node-a', { kind: 'lb', ip: '10.9.0.3', node: 'node-a' })
  const r = computeDesired(input([bad, ep('t1', { ip: '10.0.0.11', node: 'node-a' })]))
  t.deepEqual(r.skipped, [{ networkId: NET, reason: 'lb-ip-outside-subnets' }])
})

test('unknown network (endpoints without a networks entry) gives nothing', (t) => {
  const r = computeDesired(input([lbA, ep('t1', { ip: '10.0.0.11', node: 'node-a' })], { networks: new Map() }))
  t.is(r.desired.size, 0)
})

test('a duplicated backend IP gets one backend, and output does not depend on input order', (t) => {
  const eps = [lbA, ep('t1', { ip: '10.0.0.11', node: 'node-a' }), ep('t2', { ip: '10.0.0.11', node: 'node-b' }), ep('t3', { ip: '10.0.0.12', node: 'node-b' })]
  const r1 = computeDesired(input(eps))
  const r2 = computeDesired(input([...eps].reverse()))
  t.deepEqual(r1.desired.get(NET)?.sandbox.services[0]?.backends.map((b) => b.ip), ['10.0.0.11', '10.0.0.12'])
  t.deepEqual(r1.desired.get(NET), r2.desired.get(NET))
})

test('IPv6 LB address gets the v6 subnet prefix', (t) => {
  const networks = new Map<string, NetworkValue>([[NET, { name: 'v6', subnets: ['10.0.0.0/24', 'fd00:1::/64'], vni: 5000, options: {} }]])
  const lb6 = ep('lb:node-a', { kind: 'lb', ip: 'fd00:1::3', node: 'node-a' })
  const r = computeDesired(input([lb6, ep('t1', { ip: 'fd00:1::11', node: 'node-a' })], { networks }))
  t.deepEqual(r.desired.get(NET)?.sandbox.lbAddresses, ['fd00:1::3/64'])
})

test('a remote node without an underlay (single-host agent) gets no FDB entry, but its tasks stay backends', (t) => {
  const nodes = new Map([['node-a', { underlay: '192.168.1.1', version: '0.1.0' }], ['node-b', { underlay: '0.0.0.0', version: '0.1.0' }]])
  const r = computeDesired(input([lbA, ep('t1', { ip: '10.0.0.11', node: 'node-a' }), ep('t2', { ip: '10.0.0.12', node: 'node-b' })], { nodes }))
  t.deepEqual(r.desired.get(NET)?.overlay.remotes, [])
  t.is(r.desired.get(NET)?.sandbox.services[0]?.backends.length, 2)
})

test('restart warm-up keeps what the tables do not know yet, for networks with local tasks only', (t) => {
  const full = computeDesired(input([lbA, lbB, ep('t1', { ip: '10.0.0.11', node: 'node-a' }), ep('t2', { ip: '10.0.0.12', node: 'node-b' })])).desired
  // right after a restart only this node's own entries are known: no remote task, no remote LB
  const partial = computeDesired(input([lbA, ep('t1', { ip: '10.0.0.11', node: 'node-a' })])).desired
  const merged = mergeWarmup(partial, full, new Set([NET]))
  t.deepEqual(merged.get(NET), full.get(NET), 'remote backend and FDB entries survive the warm-up')
  t.is(mergeWarmup(new Map(), full, new Set()).size, 0, 'a network without local tasks is not kept')
  t.deepEqual(mergeWarmup(new Map(), full, new Set([NET])).get(NET), full.get(NET), 'an unknown-yet network is kept whole')
})
