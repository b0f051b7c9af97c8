import test from 'ava'
import { parseNetworkCreate, parsePort, parseServiceCreate, parseTaskAdd } from '../../../src/api/validate.js'

function field (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    const e = err as Error & { field?: string }
    return e.name === 'ValidationError' ? e.field : `unexpected ${e.name}`
  }
  return undefined
}

/** The message of the ValidationError `fn` throws ('' when it throws none). */
function msg (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return (err as Error).name === 'ValidationError' ? (err as Error).message : `unexpected ${(err as Error).name}`
  }
  return ''
}

test('port mappings: PORT[:TARGET][/proto] and object form', (t) => {
  t.deepEqual(parsePort('80:8080/tcp', 'p'), { proto: 'tcp', port: 80, targetPort: 8080 })
  t.deepEqual(parsePort('53/udp', 'p'), { proto: 'udp', port: 53, targetPort: 53 })
  t.deepEqual(parsePort('8080', 'p'), { proto: 'tcp', port: 8080, targetPort: 8080 })
  t.deepEqual(parsePort({ port: 443, proto: 'tcp' }, 'p'), { proto: 'tcp', port: 443, targetPort: 443 })
  for (const bad of ['0', '70000', '80:0', '80/sctp', 'http', '80:8080:1', '']) t.is(field(() => parsePort(bad, 'ports[0]')), 'ports[0]', bad)
})

test('network bodies: each bad field is named', (t) => {
  t.deepEqual(parseNetworkCreate({ name: 'front', subnets: ['10.0.0.0/24', '10.1.0.0/24'] }), { name: 'front', subnets: ['10.0.0.0/24', '10.1.0.0/24'] })
  t.is(field(() => parseNetworkCreate(null)), 'body')
  t.is(field(() => parseNetworkCreate({ name: '-x', subnets: ['10.0.0.0/24'] })), 'name')
  t.is(field(() => parseNetworkCreate({ name: 'a'.repeat(64), subnets: ['10.0.0.0/24'] })), 'name')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: [] })), 'subnets')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24', '10.0.0.300/24'] })), 'subnets[1]')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0'] })), 'subnets[0]')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], vni: 0 })), 'vni')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], options: { mtu: 1400 } })), 'options.mtu')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], colour: 'red' })), 'colour')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], options: { dsr: 'yes' } })), 'options.dsr')
  t.deepEqual(parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], options: { dsr: 'true' } }).options, { dsr: 'true' })
})

test('network MTU: a number 1280..65535 as mtu, or decimal text as option mtu; both must agree', (t) => {
  t.is(parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], mtu: 1400 }).mtu, 1400)
  t.is(parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], options: { mtu: '8950' } }).mtu, 8950)
  t.is(parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], mtu: 1400, options: { mtu: '1400' } }).mtu, 1400)
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], mtu: 1279 })), 'mtu')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], mtu: 65536 })), 'mtu')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], mtu: '1400' })), 'mtu')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], mtu: 1400, options: { mtu: '1300' } })), 'mtu')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], options: { mtu: 'big' } })), 'options.mtu')
  t.is(field(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24'], options: { mtu: '500' } })), 'options.mtu')
})

test('service bodies: duplicate ports and missing networks are refused', (t) => {
  t.is(field(() => parseServiceCreate({ name: 's', ports: ['80', '80:81'], networks: ['n'] })), 'ports[1]')
  t.is(field(() => parseServiceCreate({ name: 's', ports: ['80'], networks: [] })), 'networks')
  t.is(field(() => parseServiceCreate({ name: 's', ports: '80', networks: ['n'] })), 'ports')
  t.deepEqual(parseServiceCreate({ name: 's', ports: [], networks: ['n'] }).ports, [], 'a service may publish no port')
})

test('task bodies: exactly one of netns / ip, valid state and weight', (t) => {
  t.deepEqual(parseTaskAdd({ service: 'web', ip: '10.0.0.5' }), { service: 'web', ip: '10.0.0.5' })
  t.is(field(() => parseTaskAdd({ service: 'web' })), 'netns')
  t.is(field(() => parseTaskAdd({ service: 'web', ip: '10.0.0.5', netns: '/run/netns/x' })), 'netns')
  t.is(field(() => parseTaskAdd({ service: 'web', netns: 'relative' })), 'netns')
  t.is(field(() => parseTaskAdd({ service: 'web', ip: '10.0.0.256' })), 'ip')
  t.is(field(() => parseTaskAdd({ service: 'web', ip: '10.0.0.5', state: 'gone' })), 'state')
  t.is(field(() => parseTaskAdd({ service: 'web', ip: '10.0.0.5', weight: 0 })), 'weight')
  t.is(field(() => parseTaskAdd({ service: 'web', ip: '10.0.0.5', id: '../x' })), 'id')
  t.is(field(() => parseTaskAdd({ ip: '10.0.0.5' })), 'service')
})

test('task bodies without a service are endpoints on the networks given (networks required); ids take CNI container IDs; ifname goes with netns', (t) => {
  t.deepEqual(parseTaskAdd({ networks: ['front'], netns: '/run/netns/c1' }), { networks: ['front'], netns: '/run/netns/c1' })
  t.regex(msg(() => parseTaskAdd({ netns: '/run/netns/c1' })), /^service: required unless networks is given/)
  t.is(field(() => parseTaskAdd({ service: '', networks: ['front'], netns: '/run/netns/c1' })), 'service')
  const cid = 'f'.repeat(64)
  t.is(parseTaskAdd({ id: cid, networks: ['front'], netns: '/run/netns/c1' }).id, cid, 'a 64-hex container ID')
  t.is(parseTaskAdd({ id: `k8s_pod.${'a'.repeat(100)}-x`, service: 'web', ip: '10.0.0.5' }).id?.length, 110, 'letters, digits, _ . - up to 128')
  t.regex(msg(() => parseTaskAdd({ id: 'a'.repeat(129), service: 'web', ip: '10.0.0.5' })), /^id: must be 1-128 chars .* \(as a CNI container ID\)$/)
  t.is(field(() => parseTaskAdd({ id: '-leading', service: 'web', ip: '10.0.0.5' })), 'id')
  t.is(field(() => parseTaskAdd({ id: 'a:b', service: 'web', ip: '10.0.0.5' })), 'id')
  t.is(parseTaskAdd({ service: 'web', netns: '/proc/1/ns/net', ifname: 'net1' }).ifname, 'net1')
  t.regex(msg(() => parseTaskAdd({ service: 'web', ip: '10.0.0.5', ifname: 'net1' })), /^ifname: only with netns/)
  t.regex(msg(() => parseTaskAdd({ service: 'web', netns: '/proc/1/ns/net', ifname: 'a-name-of-16-chr' })), /^ifname: must be an interface name/)
  t.is(field(() => parseTaskAdd({ service: 'web', netns: '/proc/1/ns/net', ifname: 'eth/0' })), 'ifname')
})

test('IPv6: v6 and dual-stack subnets of /64 to /120 and a v6 task IP are taken; a v6 subnet shorter than /64 or longer than /120 is refused naming it', (t) => {
  const v6 = (fn: () => unknown): string => {
    try {
      fn()
    } catch (err) {
      return `${(err as Error).name} ${(err as Error).message}`
    }
    return 'accepted'
  }
  t.deepEqual(parseNetworkCreate({ name: 'x', subnets: ['fd00::/64'] }).subnets, ['fd00::/64'])
  t.deepEqual(parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24', 'fd00::/120'] }).subnets, ['10.0.0.0/24', 'fd00::/120'])
  t.regex(v6(() => parseNetworkCreate({ name: 'x', subnets: ['10.0.0.0/24', 'fd00::/48'] })), /^ValidationError subnets\[1\]: fd00::\/48: an IPv6 subnet must be \/64 to \/120 \(shorter/)
  t.regex(v6(() => parseNetworkCreate({ name: 'x', subnets: ['fd00::/124'] })), /^ValidationError subnets\[0\]: fd00::\/124: an IPv6 subnet must be \/64 to \/120 \(longer/)
  t.is(parseTaskAdd({ service: 'web', ip: 'fd00::5' }).ip, 'fd00::5')
})

test('dns: task add takes dns "none" only; service create takes endpointMode vip or dnsrr', (t) => {
  t.deepEqual(parseTaskAdd({ service: 'web', netns: '/run/netns/x', dns: 'none' }), { service: 'web', netns: '/run/netns/x', dns: 'none' })
  t.is(field(() => parseTaskAdd({ service: 'web', netns: '/run/netns/x', dns: 'host' })), 'dns')
  t.is(parseServiceCreate({ name: 's', ports: [], networks: ['n'], endpointMode: 'dnsrr' }).endpointMode, 'dnsrr')
  t.is(field(() => parseServiceCreate({ name: 's', ports: [], networks: ['n'], endpointMode: 'rr' })), 'endpointMode')
})
