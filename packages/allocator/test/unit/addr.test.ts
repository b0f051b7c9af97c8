import test from 'ava'
import { IPv6 } from 'ip-num'
import { createNodeAllocator, formatAddress, parseAddress, parseSubnets } from '@scalelb/allocator'
import { createTestRng } from '@scalelb/test-support'

test('IPv6 addresses come out in RFC 5952 canonical form', (t) => {
  const canon = (s: string): string => formatAddress(parseAddress(s, 'ip'))
  t.is(canon('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1')
  t.is(canon('2001:0db8:0000:0000:0000:0000:0000:0005'), '2001:db8::5')
  t.is(canon('::'), '::')
  t.is(canon('::1'), '::1')
  t.is(canon('fe80::'), 'fe80::')
  t.is(canon('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1')
  t.is(canon('10.1.2.3'), '10.1.2.3')
})

test('IPv6 parse and format agree with ip-num on random addresses, compressed or not', (t) => {
  const rng = createTestRng(11)
  for (let i = 0; i < 2000; i++) {
    // groups biased to zero so that runs of zeros (and '::') are common
    const groups = Array.from({ length: 8 }, () => (rng.int(3) === 0 ? rng.int(0x10000) : 0))
    const full = groups.map((g) => g.toString(16)).join(':')
    const value = IPv6.fromString(full).getValue()
    const canon = formatAddress(parseAddress(full, 'ip'))
    t.is(IPv6.fromString(canon).getValue(), value, full)
    t.is(parseAddress(canon, 'ip'), parseAddress(full.toUpperCase(), 'ip'))
  }
})

test('bad addresses are typed errors naming the field and value', (t) => {
  for (const bad of ['10.0.0.256', '10.0.0', '010.0.0.1', 'x', '', '2001:db8:::1', '1.2.3.4/32']) {
    const e = t.throws(() => parseAddress(bad, 'tokens[3].start'))
    t.is(e?.name, 'InvalidAddressError', bad)
    t.is((e as unknown as { field: string }).field, 'tokens[3].start')
    t.true(e?.message.includes(JSON.stringify(bad)), e?.message)
  }
})

test('subnet validation: invalid CIDR, host bits, overlap, too small, each named', (t) => {
  const cases: Array<[unknown, string, string, unknown]> = [
    [['10.0.0.0'], 'InvalidCidrError', 'subnets[0]', '10.0.0.0'],
    [['10.0.0.0/33'], 'InvalidCidrError', 'subnets[0]', '10.0.0.0/33'],
    [['10.0.0.0/24', 'banana/8'], 'InvalidCidrError', 'subnets[1]', 'banana/8'],
    [['10.0.0.1/24'], 'HostBitsSetError', 'subnets[0]', '10.0.0.1/24'],
    [['2001:db8::1/64'], 'HostBitsSetError', 'subnets[0]', '2001:db8::1/64'],
    [['10.0.0.0/16', '10.0.5.0/24'], 'OverlappingSubnetsError', 'subnets[1]', '10.0.5.0/24'],
    [['10.0.0.0/31'], 'SubnetTooSmallError', 'subnets[0]', '10.0.0.0/31'],
    [['2001:db8::/127'], 'SubnetTooSmallError', 'subnets[0]', '2001:db8::/127'],
    [[], 'InvalidCidrError', 'subnets', []],
    ['10.0.0.0/24', 'InvalidCidrError', 'subnets', '10.0.0.0/24']
  ]
  for (const [subnets, name, field, value] of cases) {
    const e = t.throws(() => parseSubnets(subnets))
    t.is(e?.name, name, JSON.stringify(subnets))
    t.is((e as unknown as { field: string }).field, field)
    t.deepEqual((e as unknown as { value: unknown }).value, value)
  }
})

test('a network may mix IPv4 and IPv6 subnets; createNetwork rejects bad ones and keeps running', (t) => {
  const a = createNodeAllocator({ self: 'a' })
  t.is(t.throws(() => a.createNetwork('n', ['10.0.0.0/24', '10.0.0.128/25'], 0))?.name, 'OverlappingSubnetsError')
  t.false(a.hasNetwork('n'))
  const tokens = a.createNetwork('n', ['fd00::/64', '10.0.0.0/24', '10.0.1.0/30'], 0)
  t.deepEqual(tokens.map((x) => `${x.start}-${x.end}`), ['10.0.0.0-10.0.0.255', '10.0.1.0-10.0.1.3', 'fd00::-fd00::ffff:ffff:ffff:ffff'])
  t.is(t.throws(() => a.createNetwork('n', ['10.9.0.0/24'], 0))?.name, 'NetworkExistsError')
  t.is(t.throws(() => a.addNetwork('n', ['10.9.0.0/24']))?.name, 'NetworkExistsError')
  a.addNetwork('n', ['10.0.1.0/30', 'fd00::/64', '10.0.0.0/24'])
  // the /30 yields its 2 usable addresses once the /24 is used up
  const got = new Set<string>()
  for (let i = 0; i < 256; i++) got.add(a.allocate('n', 'task', 0, undefined, 4))
  t.true(got.has('10.0.1.1') && got.has('10.0.1.2'))
  t.false(got.has('10.0.0.0') || got.has('10.0.0.255') || got.has('10.0.1.0') || got.has('10.0.1.3'))
  t.is(got.size, 256)
})

test('options are validated with the field named', (t) => {
  const e = t.throws(() => createNodeAllocator({ self: 'a', blockPrefixV4: 40 }))
  t.is(e?.name, 'InvalidOptionError')
  t.is((e as unknown as { field: string }).field, 'blockPrefixV4')
  t.is(t.throws(() => createNodeAllocator({ self: '' }))?.name, 'InvalidInputError')
  t.is(t.throws(() => createNodeAllocator({ self: 'a', reuseCooldownMs: -1 }))?.name, 'InvalidOptionError')
})
