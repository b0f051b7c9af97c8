import test from 'ava'
import { buildResult, mergeDns, subnetOf } from '../../src/result.js'
import type { CniResult } from '../../src/types.js'

const ATTACHED = { ifname: 'eth0', mac: '02:42:0a:14:00:05', netns: '/run/netns/cni-1', address: '10.20.0.5/24', gateway: '10.20.0.2' }

/** The fields of a CNI 1.0.0 result, and of its entries (the spec's "Success" section). */
const RESULT_KEYS = ['cniVersion', 'interfaces', 'ips', 'routes', 'dns']
const INTERFACE_KEYS = ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID']
const IP_KEYS_1_0 = ['address', 'gateway', 'interface']
const DNS_KEYS = ['nameservers', 'domain', 'search', 'options']

function onlyKeys (o: object, allowed: string[]): string[] {
  return Object.keys(o).filter((k) => !allowed.includes(k))
}

test('a 1.0.0 result: our interface in the container namespace, its address with prefix, gateway and interface index; only the spec\'s fields', (t) => {
  const r = buildResult('1.0.0', ATTACHED)
  t.deepEqual(r, {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:42:0a:14:00:05', sandbox: '/run/netns/cni-1' }],
    ips: [{ address: '10.20.0.5/24', gateway: '10.20.0.2', interface: 0 }],
    routes: [],
    dns: {}
  })
  t.deepEqual(onlyKeys(r, RESULT_KEYS), [])
  for (const i of r.interfaces ?? []) t.deepEqual(onlyKeys(i, INTERFACE_KEYS), [])
  for (const ip of r.ips ?? []) {
    t.deepEqual(onlyKeys(ip, IP_KEYS_1_0), [], '1.0.0 IPs carry no version')
    t.regex(ip.address, /^\d+\.\d+\.\d+\.\d+\/\d+$/)
    t.truthy(r.interfaces?.[ip.interface as number], 'the index points at an interface')
  }
  t.deepEqual(onlyKeys(r.dns ?? {}, DNS_KEYS), [])
})

test('with the host end of the veth: listed first, without a sandbox; the address points at the container\'s interface', (t) => {
  const r = buildResult('1.0.0', { ...ATTACHED, hostIfName: 'slb-v1a2b3c' })
  t.deepEqual(r.interfaces, [{ name: 'slb-v1a2b3c' }, { name: 'eth0', mac: '02:42:0a:14:00:05', sandbox: '/run/netns/cni-1' }])
  t.is(r.ips?.[0]?.interface, 1)
})

test('0.3.x and 0.4.0 results carry version "4" in each IP; without a gateway there is none', (t) => {
  for (const v of ['0.3.0', '0.3.1', '0.4.0']) t.deepEqual(buildResult(v, ATTACHED).ips, [{ address: '10.20.0.5/24', gateway: '10.20.0.2', interface: 0, version: '4' }], v)
  const { gateway: _g, ...noGateway } = ATTACHED
  t.deepEqual(buildResult('1.0.0', noGateway).ips, [{ address: '10.20.0.5/24', interface: 0 }])
})

test('chained after other plugins: their interfaces, IPs, routes and DNS kept, ours added with the right interface index', (t) => {
  const prev: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cni0', mac: '0a:58:0a:58:00:01' }, { name: 'net0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/cni-1' }],
    ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
    dns: { nameservers: ['10.88.0.1'], search: ['local'] }
  }
  const r = buildResult('1.0.0', { ...ATTACHED, dns: { nameservers: ['10.20.0.2'], search: ['svc'], domain: 'scalelb' } }, prev)
  t.deepEqual(r.interfaces?.map((i) => i.name), ['cni0', 'net0', 'eth0'])
  t.deepEqual(r.ips, [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 1 }, { address: '10.20.0.5/24', gateway: '10.20.0.2', interface: 2 }])
  t.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }])
  t.deepEqual(r.dns, { nameservers: ['10.88.0.1', '10.20.0.2'], domain: 'scalelb', search: ['local', 'svc'] })
  t.deepEqual(prev.interfaces?.length, 2, 'prevResult is not changed')
})

test('DNS merge: either side alone is taken as is', (t) => {
  t.is(mergeDns(undefined, undefined), undefined)
  t.deepEqual(mergeDns({ nameservers: ['1.1.1.1'] }, undefined), { nameservers: ['1.1.1.1'] })
  t.deepEqual(mergeDns(undefined, { options: ['ndots:1'] }), { options: ['ndots:1'] })
})

test('subnetOf: the subnet holding an IPv4 address, none for an address outside or IPv6', (t) => {
  t.is(subnetOf('10.20.0.5', ['10.30.0.0/24', '10.20.0.0/24']), '10.20.0.0/24')
  t.is(subnetOf('10.20.1.5', ['10.20.0.0/24']), undefined)
  t.is(subnetOf('10.20.1.5', ['10.20.0.0/16']), '10.20.0.0/16')
  t.is(subnetOf('255.255.255.255', ['0.0.0.0/0']), '0.0.0.0/0')
  t.is(subnetOf('fd00::1', ['10.20.0.0/24']), undefined)
})
