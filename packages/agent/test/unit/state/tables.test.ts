import test from 'ava'
import { checkDonationRequest, checkEndpoint, checkNetwork, checkNode, checkService, lbEndpointKey, parseEndpointKey, taskEndpointKey } from '../../../src/state/tables.js'

const ep = { kind: 'task', service: 'svc', ip: '10.0.0.5', mac: '02:42:0a:00:00:05', node: 'peer-1', state: 'ready', originMs: 1 }

const KEY = 'peer-1/t1'

test('a peer\'s endpoint is accepted only when well-formed and written by the node it names', (t) => {
  t.true(checkEndpoint(ep, 'peer-1', KEY).ok)
  const reasons = [
    checkEndpoint(ep, 'peer-2', KEY),
    checkEndpoint({ ...ep, ip: '10.0.0.500' }, 'peer-1', KEY),
    checkEndpoint({ ...ep, mac: 'zz:42:0a:00:00:05' }, 'peer-1', KEY),
    checkEndpoint({ ...ep, state: 'up' }, 'peer-1', KEY),
    checkEndpoint({ ...ep, kind: 'vip' }, 'peer-1', KEY),
    checkEndpoint({ ...ep, service: 42 }, 'peer-1', KEY),
    checkEndpoint({ ...ep, weight: -1 }, 'peer-1', KEY),
    checkEndpoint({ ...ep, originMs: 'now' }, 'peer-1', KEY),
    checkEndpoint({ ...ep, ports: [{ proto: 'tcp', port: 0, targetPort: 1 }] }, 'peer-1', KEY),
    checkEndpoint('garbage', 'peer-1', KEY)
  ].map((r) => r.ok ? 'accepted' : r.reason.split(':')[0])
  t.deepEqual(reasons, ['endpoint key', 'endpoint.ip', 'endpoint.mac', 'endpoint.state', 'endpoint.kind', 'endpoint.service', 'endpoint.weight', 'endpoint.originMs', 'endpoint.ports[0].port', 'endpoint'])
  t.regex(reasonOf(checkEndpoint(ep, 'peer-2', 'peer-2/t1')), /endpoint.node: differs from the entry origin/)
  const { service: _service, ...endpointOnly } = ep
  const checked = checkEndpoint(endpointOnly, 'peer-1', KEY)
  t.true(checked.ok, 'a task without a service: an endpoint only')
  t.false(checked.ok && 'service' in checked.value)
})

test('a well-formed endpoint value is kept as it came (one object per entry); one with more fields is copied without them', (t) => {
  const ports = { ...ep, ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }] }
  for (const v of [ep, ports]) {
    const c = checkEndpoint(v, 'peer-1', KEY)
    t.true(c.ok && c.value === v)
  }
  for (const v of [{ ...ep, extra: 1 }, { ...ports, ports: [{ proto: 'tcp', port: 80, targetPort: 8080, extra: 1 }] }, { kind: 'lb', ip: ep.ip, mac: ep.mac, node: 'peer-1', state: 'ready', originMs: 1, service: 'svc' }]) {
    const c = checkEndpoint(v, 'peer-1', v.kind === 'lb' ? 'lb:peer-1' : KEY)
    t.true(c.ok && c.value !== v)
    t.false(c.ok && ('extra' in c.value || 'extra' in (c.value.ports?.[0] ?? {}) || (c.value.kind === 'lb' && 'service' in c.value)))
  }
})

function reasonOf (r: { ok: true } | { ok: false, reason: string }): string {
  return r.ok ? 'accepted' : r.reason
}

test('an endpoint key names its node: a task key <node>/<task>, an LB key lb:<node>; others are refused', (t) => {
  t.is(taskEndpointKey('peer-1', 't1'), 'peer-1/t1')
  t.deepEqual(parseEndpointKey(taskEndpointKey('peer-1', 't1')), { kind: 'task', node: 'peer-1', taskId: 't1' })
  t.deepEqual(parseEndpointKey(lbEndpointKey('peer-1')), { kind: 'lb', node: 'peer-1' })
  for (const bad of ['t1', '/t1', 'peer-1/', 'peer-1/a/b', 'lb:', 'lb:a/b', '']) t.is(parseEndpointKey(bad), undefined, bad)
  const lb = { ...ep, kind: 'lb', service: undefined }
  t.true(checkEndpoint(lb, 'peer-1', 'lb:peer-1').ok)
  t.is(reasonOf(checkEndpoint(ep, 'peer-1', 't1')), 'endpoint key: must be <node>/<task> or lb:<node>', 'a bare task ID (older agents)')
  t.is(reasonOf(checkEndpoint({ ...ep, node: 'peer-2' }, 'peer-2', KEY)), 'endpoint key: names another node than the entry origin', 'a forged key of another node')
  t.is(reasonOf(checkEndpoint(lb, 'peer-1', KEY)), 'endpoint key: a task key with a lb value')
  t.is(reasonOf(checkEndpoint(ep, 'peer-1', 'lb:peer-1')), 'endpoint key: a lb key with a task value')
})

test('networks, services, nodes and donation requests from peers are schema-checked', (t) => {
  t.true(checkNetwork({ name: 'n', subnets: ['10.0.0.0/24'], vni: 4096, options: {} }).ok)
  t.false(checkNetwork({ name: 'n', subnets: ['10.0.0.0/24'], vni: 2 ** 24 }).ok)
  t.false(checkNetwork({ name: 'n', subnets: ['nope'], vni: 4096 }).ok)
  t.true(checkService({ name: 's', ports: [{ proto: 'udp', port: 53, targetPort: 53 }], vips: { net1: '10.0.0.2' } }).ok)
  t.false(checkService({ name: 's', ports: [], vips: { net1: 'not-an-ip' } }).ok)
  t.true(checkNode({ underlay: '192.168.0.1', version: '0.1.0' }).ok)
  t.false(checkNode({ underlay: 'host', version: '0.1.0' }).ok)
  t.true(checkDonationRequest({ networkId: 'n1', requester: 'a', donor: 'b', atMs: 5 }, 'a').ok)
  t.false(checkDonationRequest({ networkId: 'n1', requester: 'a', donor: 'b', atMs: 5 }, 'c').ok, 'a node cannot ask on behalf of another')
})

test('checkService: a value holding only what validation keeps is returned itself, any other is copied without the rest', (t) => {
  const plain = { name: 's', ports: [{ proto: 'tcp', port: 80, targetPort: 8080 }], vips: { net1: '10.0.0.2' } }
  const a = checkService(plain)
  t.true(a.ok && a.value === plain)
  const dual = { ...plain, vips6: { net1: 'fd00::2' }, endpointMode: 'vip' }
  const b = checkService(dual)
  t.true(b.ok && b.value === dual)
  for (const extra of [{ ...plain, future: 1 }, { ...plain, ports: [{ ...plain.ports[0], weight: 2 }] }, { ...plain, publish: [] }, { ...plain, networks: undefined }]) {
    const c = checkService(extra)
    t.true(c.ok && c.value !== extra)
    t.deepEqual(c.ok ? c.value : undefined, plain)
  }
})

test('dual-stack entries: ip6 beside an IPv4 ip and vips6 beside IPv4 vips are taken; bad ones are refused naming the field; entries without them (older agents) still read', (t) => {
  const ep = { kind: 'task', ip: '10.0.0.5', mac: '02:42:0a:00:00:05', node: 'peer-1', state: 'ready', originMs: 1 }
  const ok = checkEndpoint({ ...ep, ip6: 'fd00::5' }, 'peer-1', KEY)
  t.true(ok.ok && ok.value.ip6 === 'fd00::5')
  const plain = checkEndpoint(ep, 'peer-1', KEY)
  t.true(plain.ok && plain.value.ip6 === undefined)
  const v6only = checkEndpoint({ ...ep, ip: 'fd00::5' }, 'peer-1', KEY)
  t.true(v6only.ok, 'an IPv6-only network: ip is IPv6')
  t.deepEqual(checkEndpoint({ ...ep, ip6: '10.0.0.6' }, 'peer-1', KEY), { ok: false, reason: 'endpoint.ip6: not an IPv6 address' })
  t.deepEqual(checkEndpoint({ ...ep, ip6: 7 }, 'peer-1', KEY), { ok: false, reason: 'endpoint.ip6: not an IPv6 address' })
  t.regex((checkEndpoint({ ...ep, ip: 'fd00::5', ip6: 'fd00::6' }, 'peer-1', KEY) as { reason: string }).reason, /^endpoint\.ip6: beside an IPv6 ip/)
  const svc = { name: 'web', ports: [{ proto: 'tcp', port: 80, targetPort: 80 }], vips: { n1: '10.0.0.2' } }
  const dual = checkService({ ...svc, vips6: { n1: 'fd00::2' } })
  t.true(dual.ok && dual.value.vips6?.n1 === 'fd00::2')
  t.deepEqual(checkService({ ...svc, vips6: { n1: '10.0.0.3' } }), { ok: false, reason: 'service.vips6.n1: not an IPv6 address' })
  t.deepEqual(checkService({ ...svc, vips6: { n2: 'fd00::2' } }), { ok: false, reason: 'service.vips6.n2: the network has no IPv4 VIP beside it' })
  t.deepEqual(checkService({ ...svc, vips6: 'x' }), { ok: false, reason: 'service.vips6: not an object' })
  t.deepEqual(checkDonationRequest({ networkId: 'n1', requester: 'a', donor: 'b', atMs: 1, family: 6 }, 'a'), { ok: true, value: { networkId: 'n1', requester: 'a', donor: 'b', atMs: 1, family: 6 } })
  t.deepEqual(checkDonationRequest({ networkId: 'n1', requester: 'a', donor: 'b', atMs: 1, family: 5 }, 'a'), { ok: false, reason: 'request.family: must be 4 or 6' })
})
