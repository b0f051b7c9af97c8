import test from 'ava'
import { ipBytes } from '../../../../src/dataplane/kernel/rtnl-lib.js'
import { formatIpv6, parseRtnlAnswers, type LinkAddresses } from '../../../../src/dataplane/kernel/rtnl-read.js'

test('IPv6 addresses are written as inet_ntop (and `ip`) writes them', t => {
  const cases: Array<[string, string]> = [
    ['fd00:80:0:0:0:0:1:2', 'fd00:80::1:2'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // the longest zero run
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'], // the first of two equal runs
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], // one zero group stays
    ['0:0:0:0:0:ffff:a01:203', '::ffff:10.1.2.3'],
    ['fd00:4d:0:0:0:0:a:FF', 'fd00:4d::a:ff']
  ]
  for (const [full, want] of cases) t.is(formatIpv6(ipBytes(full)), want, full)
})

/** A netlink message of `type` and `seq`: fixed header `fixed`, then attributes. */
function nlmsg (type: number, seq: number, fixed: Buffer, attrs: Array<[number, Buffer]>): Buffer {
  const body = Buffer.concat([fixed, ...attrs.map(([ty, v]) => {
    const b = Buffer.alloc((4 + v.length + 3) & ~3)
    b.writeUInt16LE(4 + v.length, 0)
    b.writeUInt16LE(ty, 2)
    v.copy(b, 4)
    return b
  })])
  const h = Buffer.alloc(16)
  h.writeUInt32LE(16 + body.length, 0)
  h.writeUInt16LE(type, 4)
  h.writeUInt32LE(seq, 8)
  return Buffer.concat([h, body])
}

function ifaddr (family: number, prefixlen: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt8(family, 0)
  b.writeUInt8(prefixlen, 1)
  b.writeUInt8(scope, 3)
  b.writeUInt32LE(index, 4)
  return b
}

test('a link answer gives its alias and MAC; an address dump the addresses of that link only, until NLMSG_DONE', t => {
  const into: LinkAddresses = { ifalias: undefined, address: undefined, addrs: [] }
  const ifi = Buffer.alloc(16)
  ifi.writeInt32LE(7, 4)
  const link = nlmsg(16, 1, ifi, [[1, Buffer.from([2, 0x42, 10, 0x4d, 0, 2])], [20, Buffer.from('net1\0')]])
  t.deepEqual(parseRtnlAnswers(link, 1, 7, into), { done: true, errno: 0 })
  t.is(into.ifalias, 'net1')
  t.is(into.address, '02:42:0a:4d:00:02')
  const v4 = Buffer.from([10, 77, 255, 1])
  const dump = Buffer.concat([
    nlmsg(20, 2, ifaddr(2, 32, 0, 7), [[1, v4], [2, v4], [3, Buffer.from('lb0\0')]]),
    nlmsg(20, 2, ifaddr(2, 8, 254, 1), [[1, Buffer.from([127, 0, 0, 1])], [2, Buffer.from([127, 0, 0, 1])]]), // lo: another link
    nlmsg(20, 2, ifaddr(10, 128, 0, 7), [[1, ipBytes('fd00:4d::ff:1')]]),
    nlmsg(20, 2, ifaddr(10, 64, 253, 7), [[1, ipBytes('fe80::42:aff:fe4d:2')]]),
    nlmsg(20, 99, ifaddr(2, 32, 0, 7), [[2, Buffer.from([1, 2, 3, 4])]]) // another request's answer
  ])
  t.deepEqual(parseRtnlAnswers(dump, 2, 7, into), { done: false, errno: 0 })
  t.deepEqual(into.addrs, [
    { family: 'inet', local: '10.77.255.1', prefixlen: 32, scope: 'global' },
    { family: 'inet6', local: 'fd00:4d::ff:1', prefixlen: 128, scope: 'global' },
    { family: 'inet6', local: 'fe80::42:aff:fe4d:2', prefixlen: 64, scope: 'link' }
  ])
  t.deepEqual(parseRtnlAnswers(nlmsg(3, 2, Buffer.alloc(4), []), 2, 7, into), { done: true, errno: 0 })
  const refused = Buffer.alloc(4)
  refused.writeInt32LE(-19, 0)
  t.deepEqual(parseRtnlAnswers(nlmsg(2, 1, refused, []), 1, 7, into), { done: true, errno: 19 })
})
