import test from 'ava'
import { checkDonationRequest, checkEndpoint, checkNetwork, checkNode, checkService } from '../../src/state/tables.js'

const ep = { kind: 'task', service: 'svc', ip: '10.0.0.5', mac: '02:42:0a:00:00:05', node: 'peer-1', state: 'ready', originMs: 1 }

test('a peer\'s endpoint is accepted only when well-formed and written by the node it names', (t) => {
  t.true(checkEndpoint(ep, 'peer-1').ok)
  const reasons = [
    checkEndpoint(ep, 'peer-2'),
    checkEndpoint({ ...ep, ip: '10.0.0.500' }, 'peer-1'),
    checkEndpoint({ ...ep, mac: 'zz:42:0a:00:00:05' }, 'peer-1'),
    checkEndpoint({ ...ep, state: 'up' }, 'peer-1'),
    checkEndpoint({ ...ep, kind: 'vip' }, 'peer-1'),
    checkEndpoint({ ...ep, service: undefined }, 'peer-1'),
    checkEndpoint({ ...ep, weight: -1 }, 'peer-1'),
    checkEndpoint({ ...ep, originMs: 'now' }, 'peer-1'),
    checkEndpoint({ ...ep, ports: [{ proto: 'tcp', port: 0, targetPort: 1 }] }, 'peer-1'),
    checkEndpoint('garbage', 'peer-1')
  ].map((r) => r.ok ? 'accepted' : r.reason.split(':')[0])
  t.deepEqual(reasons, ['endpoint.node', 'endpoint.ip', 'endpoint.mac', 'endpoint.state', 'endpoint.kind', 'endpoint.service', 'endpoint.weight', 'endpoint.originMs', 'endpoint.ports[0].port', 'endpoint'])
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
