import test from 'ava'
import ipNum from 'ip-num'
import { createTestRng } from '@scalelb/test-support'
import { subnetOf, withPrefix } from '../../../src/state/addr.js'

const { IPv4, IPv4CidrRange } = ipNum

test('subnetOf answers as ip-num for IPv4 (its integer fast path), host bits and every prefix length included (seeded)', (t) => {
  const rng = createTestRng(17)
  const octets = (): string => [0, 0, 0, 0].map(() => String(rng.int(256))).join('.')
  let inside = 0
  for (let i = 0; i < 20_000; i++) {
    const ip = octets()
    // half the subnets share the address's first two octets, so both answers occur often
    const base = rng.next() < 0.5 ? `${ip.split('.').slice(0, 2).join('.')}.${rng.int(256)}.${rng.int(256)}` : octets()
    const cidr = `${base}/${rng.int(33)}`
    const want = IPv4CidrRange.fromCidr(cidr).contains(IPv4.fromString(ip)) ? cidr : undefined
    t.is(subnetOf(ip, ['fd00::/64', cidr]), want, `${ip} in ${cidr}`)
    if (want !== undefined) inside++
  }
  t.true(inside > 1000)
})

test('subnetOf: the first containing subnet of the family; malformed subnets contain nothing', (t) => {
  t.is(subnetOf('10.1.2.3', ['10.2.0.0/16', '10.1.0.0/16', '10.0.0.0/8']), '10.1.0.0/16')
  t.is(subnetOf('10.1.2.3', ['nope', '10.1.2.0/33', '10.1.2.0/x', '10.1.2.0/24']), '10.1.2.0/24')
  t.is(subnetOf('fd00::5', ['10.0.0.0/8', 'fd00::/64']), 'fd00::/64')
  t.is(subnetOf('not an ip', ['10.0.0.0/8']), undefined)
  t.is(withPrefix('10.1.2.3', ['10.1.0.0/16']), '10.1.2.3/16')
  t.is(withPrefix('10.1.2.3', ['10.2.0.0/16']), undefined)
})
