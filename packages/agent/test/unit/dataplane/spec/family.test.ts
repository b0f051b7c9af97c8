import test from 'ava'
import { IPV4, IPV6, familyOf } from '../../../../src/dataplane/spec/family.js'
import { checkCidrAddress } from '../../../../src/dataplane/spec/validate.js'

test('family: addresses are told apart by family; anything else has none', t => {
  t.is(familyOf('10.0.0.1'), IPV4)
  t.is(familyOf('fd00::1'), IPV6)
  for (const bad of ['10.0.0.256', '010.0.0.1', 'fd00::1::2', '', 7, undefined]) t.is(familyOf(bad), undefined, String(bad))
})

test('family: the per-family strings and prefix lengths differ where the kernel needs them to', t => {
  t.deepEqual([IPV4.nft, IPV4.daddr, IPV4.addrType, IPV4.ipFamily, IPV4.hostPrefixLen], ['ip', 'ip daddr', 'ipv4_addr', 'inet', 32])
  t.deepEqual([IPV6.nft, IPV6.daddr, IPV6.addrType, IPV6.ipFamily, IPV6.hostPrefixLen], ['ip6', 'ip6 daddr', 'ipv6_addr', 'inet6', 128])
  t.true(IPV6.sandboxSysctls.every(s => s.startsWith('net.ipv6.')))
  t.true(IPV4.sandboxSysctls.every(s => s.startsWith('net.ipv4.')))
})

test('family: an address with its prefix is checked against the family\'s longest prefix', t => {
  t.notThrows(() => { checkCidrAddress('a', '10.0.0.5/32') })
  t.regex(t.throws(() => { checkCidrAddress('a', '10.0.0.5/33') })?.message ?? '', /^a: expected "a\.b\.c\.d\/len"/)
  t.notThrows(() => { checkCidrAddress('a', 'fd00::5/128', IPV6) })
  t.regex(t.throws(() => { checkCidrAddress('a', 'fd00::5/129', IPV6) })?.message ?? '', /^a: expected "x:x::x\/len"/)
  t.is(t.throws(() => { checkCidrAddress('a', '10.0.0.5/24', IPV6) })?.name, 'ProgrammerInputError')
})
