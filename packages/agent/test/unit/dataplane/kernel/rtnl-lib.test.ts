import test from 'ava'
import { ipString } from '../../../../src/dataplane/kernel/rtnl-read.js'
import { encodeRtnlOp, ipBytes, parseAcks, parseRtnlLine, parseRtnlLines, type EncodeContext, type RtnlOp } from '../../../../src/dataplane/kernel/rtnl-lib.js'
import { overlayDiff, overlayViewFromSpec } from '../../../../src/dataplane/overlay/view.js'

test('every neighbour and FDB line the overlay writes is recognised; link lines are not', t => {
  const names = { bridge: 'sbaaaaaaaaaa', vxlan: 'sxaaaaaaaaaa' }
  const spec = (remotes: Array<{ ip: string, mac: string, underlay: string }>): ReturnType<typeof overlayViewFromSpec> =>
    overlayViewFromSpec({ networkId: 'net1', vni: 7, subnets: ['10.1.0.0/24'], localUnderlay: '192.168.1.1', remotes })
  const a = spec([{ ip: '10.1.0.5', mac: '02:00:00:00:00:05', underlay: '192.168.1.2' }])
  const b = spec([{ ip: '10.1.0.6', mac: '02:00:00:00:00:06', underlay: '192.168.1.3' }])
  const fresh = overlayDiff(names, undefined, a)
  t.is(parseRtnlLines('ip', fresh.ip.join('\n')), undefined, 'a batch that adds links runs as the command')
  const change = overlayDiff(names, a, b)
  const ipOps = parseRtnlLines('ip', change.ip.join('\n') + '\n')
  const brOps = parseRtnlLines('bridge', change.bridge.join('\n'))
  const fields = (o: RtnlOp): unknown[] => o.kind === 'neigh' || o.kind === 'fdb' ? [o.op, o.ip, o.mac] : [o.kind]
  t.deepEqual(ipOps?.map(fields), [['del', '10.1.0.5', undefined], ['replace', '10.1.0.6', '02:00:00:00:00:06']])
  t.deepEqual(brOps?.map(fields), [
    ['del', '192.168.1.2', '02:00:00:00:00:05'], ['del', '192.168.1.2', '00:00:00:00:00:00'],
    ['append', '192.168.1.3', '00:00:00:00:00:00'], ['replace', '192.168.1.3', '02:00:00:00:00:06']
  ])
})

test('the task plumbing lines are recognised with their fields', t => {
  const ops = parseRtnlLines('ip', [
    'link add stabc mtu 1450 type veth peer name eth0 mtu 1450 netns /run/netns/t1',
    'link set stabc master sbabc',
    'link set stabc up',
    'link set eth0 address 02:42:0a:00:00:07',
    'addr add 10.0.0.7/24 dev eth0',
    'link del stabc'
  ].join('\n'))
  t.deepEqual(ops?.map(o => { const { line: _line, ...rest } = o; return rest }), [
    { kind: 'veth', name: 'stabc', mtu: 1450, peer: 'eth0', peerMtu: 1450, peerNetns: '/run/netns/t1' },
    { kind: 'link-set', dev: 'stabc', master: 'sbabc' },
    { kind: 'link-set', dev: 'stabc', up: true },
    { kind: 'link-set', dev: 'eth0', mac: '02:42:0a:00:00:07' },
    { kind: 'addr-add', dev: 'eth0', ip: '10.0.0.7', prefixLen: 24 },
    { kind: 'link-del', dev: 'stabc' }
  ])
})

test('lines of other shapes or with bad fields are not taken', t => {
  for (const [tool, line] of [
    ['ip', 'link add sb1 mtu 1450 type bridge'],
    ['ip', 'link add st1 mtu 1450 type veth peer name eth0 mtu 1450 netns t1'],
    ['ip', 'link set sb1 alias net1'],
    ['ip', 'addr add 10.0.0.7/33 dev eth0'],
    ['ip', 'addr add 10.0.0.7 dev eth0'],
    ['ip', 'neigh replace 10.0.0.1 lladdr 02:00:00:00:00:01 dev sx1 nud reachable'],
    ['ip', 'neigh replace 10.0.0.300 lladdr 02:00:00:00:00:01 dev sx1 nud permanent'],
    ['ip', 'neigh add 10.0.0.1 lladdr 02:00:00:00:00:01 dev sx1 nud permanent'],
    ['ip', 'link del sx1 type vxlan'],
    ['bridge', 'fdb replace 02:00:00:00:00:01 dev sx1 dst 10.0.0.1 self'],
    ['bridge', 'fdb del 02:00:00:00:00:01 dev sx1 dst 10.0.0.1 self permanent extra'],
    ['bridge', 'fdb add 02:00:00:00:00:01 dev sx1 dst 10.0.0.1 self permanent'],
    ['bridge', 'fdb replace 02:00:00:00:00 dev sx1 dst 10.0.0.1 self permanent'],
    ['bridge', 'fdb replace 02:00:00:00:00:01 dev this-name-is-too-long dst 10.0.0.1 self permanent']
  ] as const) t.is(parseRtnlLine(tool, line), undefined, line)
  t.is(parseRtnlLines('ip', '\n'), undefined, 'an empty batch')
})

/** Devices by name, netns fds by path, for encoding without a kernel. */
function ctx (devs: Record<string, number>): EncodeContext {
  return {
    ifindex: (dev) => devs[dev] ?? (() => { throw new Error(`no ${dev}`) })(),
    netnsFd: () => 42
  }
}

test('requests carry what ip neigh / bridge fdb send: type, flags, family, state, attributes', t => {
  const neigh = encodeRtnlOp({ kind: 'neigh', op: 'replace', dev: 'sx1', ip: '10.0.0.7', mac: '02:aa:bb:cc:dd:ee', line: '' }, ctx({ sx1: 9 }), 3)
  t.is(neigh.readUInt32LE(0), neigh.length)
  t.is(neigh.readUInt16LE(4), 28) // RTM_NEWNEIGH
  t.is(neigh.readUInt16LE(6), 0x1 | 0x4 | 0x100 | 0x400) // REQUEST | ACK | REPLACE | CREATE
  t.is(neigh.readUInt32LE(8), 3)
  t.is(neigh.readUInt8(16), 2) // AF_INET
  t.is(neigh.readInt32LE(20), 9)
  t.is(neigh.readUInt16LE(24), 0x80) // NUD_PERMANENT
  t.deepEqual([...neigh.subarray(28, 36)], [8, 0, 1, 0, 10, 0, 0, 7]) // NDA_DST
  t.deepEqual([...neigh.subarray(36, 48)], [10, 0, 2, 0, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0]) // NDA_LLADDR, padded
  const fdb = encodeRtnlOp({ kind: 'fdb', op: 'append', dev: 'sx1', ip: '192.168.0.2', mac: '00:00:00:00:00:00', line: '' }, ctx({ sx1: 4 }), 1)
  t.is(fdb.readUInt16LE(6), 0x1 | 0x4 | 0x400 | 0x800) // REQUEST | ACK | CREATE | APPEND
  t.is(fdb.readUInt8(16), 7) // AF_BRIDGE
  t.is(fdb.readUInt16LE(24), 0xc0) // NUD_NOARP | NUD_PERMANENT
  t.is(fdb.readUInt8(26), 0x02) // NTF_SELF
  const del = encodeRtnlOp({ kind: 'neigh', op: 'del', dev: 'sx1', ip: 'fd00::7', mac: undefined, line: '' }, ctx({ sx1: 4 }), 2)
  t.is(del.readUInt16LE(4), 29) // RTM_DELNEIGH
  t.is(del.readUInt16LE(6), 0x1 | 0x4)
  t.is(del.readUInt8(16), 10) // AF_INET6
  t.is(del.length, 16 + 12 + 20)
})

test('link requests: a veth with its peer in a netns, master and up, an address', t => {
  const veth = encodeRtnlOp({ kind: 'veth', name: 'st1', mtu: 1450, peer: 'eth0', peerMtu: 1400, peerNetns: '/run/netns/x', line: '' }, ctx({}), 1)
  t.is(veth.readUInt16LE(4), 16) // RTM_NEWLINK
  t.is(veth.readUInt16LE(6), 0x1 | 0x4 | 0x200 | 0x400) // REQUEST | ACK | EXCL | CREATE
  const hex = veth.toString('hex')
  t.true(hex.includes(Buffer.from('st1\0').toString('hex')) && hex.includes(Buffer.from('eth0\0').toString('hex')) && hex.includes(Buffer.from('veth\0').toString('hex')))
  t.true(hex.includes('08001c002a000000'), 'IFLA_NET_NS_FD 42 inside the peer')
  t.true(hex.includes('08000400aa050000') && hex.includes('0800040078050000'), 'both MTUs')
  const set = encodeRtnlOp({ kind: 'link-set', dev: 'st1', master: 'sb1', line: '' }, ctx({ st1: 5, sb1: 3 }), 2)
  t.is(set.readInt32LE(20), 5)
  t.deepEqual([...set.subarray(32, 40)], [8, 0, 10, 0, 3, 0, 0, 0]) // IFLA_MASTER 3
  const up = encodeRtnlOp({ kind: 'link-set', dev: 'st1', up: true, line: '' }, ctx({ st1: 5 }), 3)
  t.deepEqual([up.readUInt32LE(24), up.readUInt32LE(28)], [1, 1]) // ifi_flags, ifi_change: IFF_UP
  const addr = encodeRtnlOp({ kind: 'addr-add', dev: 'eth0', ip: '10.0.0.7', prefixLen: 24, line: '' }, ctx({ eth0: 2 }), 4)
  t.is(addr.readUInt16LE(4), 20) // RTM_NEWADDR
  t.deepEqual([addr.readUInt8(16), addr.readUInt8(17), addr.readUInt32LE(20)], [2, 24, 2])
  t.throws(() => encodeRtnlOp({ kind: 'link-del', dev: 'nope', line: '' }, ctx({}), 5), { message: /no nope/ })
})

test('IPv6 addresses in every written form give the same 16 bytes', t => {
  const full = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]
  t.deepEqual([...ipBytes('fd00::7')], full)
  t.deepEqual([...ipBytes('fd00:0:0:0:0:0:0:7')], full)
  t.deepEqual([...ipBytes('::ffff:10.1.2.3')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3])
  t.deepEqual([...ipBytes('::')], new Array(16).fill(0))
})

test('addresses read back print as inet_ntop prints them (what `ip -j` shows)', t => {
  for (const [ip, shown] of [
    ['10.1.2.3', '10.1.2.3'], ['fd00:0:0:0:0:0:0:7', 'fd00::7'], ['::', '::'], ['::1', '::1'], ['fe80::1:0:0:2', 'fe80::1:0:0:2'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'], ['::ffff:10.1.2.3', '::ffff:10.1.2.3'], ['::10.1.2.3', '::10.1.2.3'], ['::2', '::2']
  ]) t.is(ipString(ipBytes(ip as string)), shown, ip)
})

test('acknowledgements are read by sequence number, errors as positive errno', t => {
  const ack = (seq: number, err: number): Buffer => {
    const b = Buffer.alloc(36)
    b.writeUInt32LE(36, 0)
    b.writeUInt16LE(2, 4)
    b.writeUInt32LE(seq, 8)
    b.writeInt32LE(-err, 16)
    return b
  }
  const acks = new Map<number, number>()
  parseAcks(Buffer.concat([ack(1, 0), ack(2, 17)]), acks)
  t.deepEqual([...acks], [[1, 0], [2, 17]])
})
