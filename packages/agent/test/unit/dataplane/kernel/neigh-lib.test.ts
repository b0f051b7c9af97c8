import test from 'ava'
import { encodeNeighOp, ipBytes, parseAcks, parseNeighLine, parseNeighLines } from '../../../../src/dataplane/kernel/neigh-lib.js'
import { overlayDiff, overlayViewFromSpec } from '../../../../src/dataplane/overlay/view.js'

test('every neighbour and FDB line the overlay writes is recognised; link lines are not', t => {
  const names = { bridge: 'sbaaaaaaaaaa', vxlan: 'sxaaaaaaaaaa' }
  const spec = (remotes: Array<{ ip: string, mac: string, underlay: string }>): ReturnType<typeof overlayViewFromSpec> =>
    overlayViewFromSpec({ networkId: 'net1', vni: 7, subnets: ['10.1.0.0/24'], localUnderlay: '192.168.1.1', remotes })
  const a = spec([{ ip: '10.1.0.5', mac: '02:00:00:00:00:05', underlay: '192.168.1.2' }])
  const b = spec([{ ip: '10.1.0.6', mac: '02:00:00:00:00:06', underlay: '192.168.1.3' }])
  const fresh = overlayDiff(names, undefined, a)
  t.is(parseNeighLines('ip', fresh.ip.join('\n')), undefined, 'a batch that adds links runs as the command')
  const change = overlayDiff(names, a, b)
  const ipOps = parseNeighLines('ip', change.ip.join('\n') + '\n')
  const brOps = parseNeighLines('bridge', change.bridge.join('\n'))
  t.deepEqual(ipOps?.map(o => [o.op, o.ip, o.mac]), [['del', '10.1.0.5', undefined], ['replace', '10.1.0.6', '02:00:00:00:00:06']])
  t.deepEqual(brOps?.map(o => [o.op, o.mac, o.ip]), [
    ['del', '02:00:00:00:00:05', '192.168.1.2'], ['del', '00:00:00:00:00:00', '192.168.1.2'],
    ['append', '00:00:00:00:00:00', '192.168.1.3'], ['replace', '02:00:00:00:00:06', '192.168.1.3']
  ])
})

test('lines of other shapes or with bad fields are not taken', t => {
  for (const [tool, line] of [
    ['ip', 'neigh replace 10.0.0.1 lladdr 02:00:00:00:00:01 dev sx1 nud reachable'],
    ['ip', 'neigh replace 10.0.0.300 lladdr 02:00:00:00:00:01 dev sx1 nud permanent'],
    ['ip', 'neigh add 10.0.0.1 lladdr 02:00:00:00:00:01 dev sx1 nud permanent'],
    ['ip', 'link del sx1'],
    ['bridge', 'fdb replace 02:00:00:00:00:01 dev sx1 dst 10.0.0.1 self'],
    ['bridge', 'fdb del 02:00:00:00:00:01 dev sx1 dst 10.0.0.1 self permanent extra'],
    ['bridge', 'fdb add 02:00:00:00:00:01 dev sx1 dst 10.0.0.1 self permanent'],
    ['bridge', 'fdb replace 02:00:00:00:00 dev sx1 dst 10.0.0.1 self permanent'],
    ['bridge', 'fdb replace 02:00:00:00:00:01 dev this-name-is-too-long dst 10.0.0.1 self permanent']
  ] as const) t.is(parseNeighLine(tool, line), undefined, line)
  t.is(parseNeighLines('ip', '\n'), undefined, 'an empty batch')
})

test('requests carry what ip neigh / bridge fdb send: type, flags, family, state, attributes', t => {
  const neigh = encodeNeighOp({ kind: 'neigh', op: 'replace', dev: 'sx1', ip: '10.0.0.7', mac: '02:aa:bb:cc:dd:ee', line: '' }, 9, 3)
  t.is(neigh.readUInt32LE(0), neigh.length)
  t.is(neigh.readUInt16LE(4), 28) // RTM_NEWNEIGH
  t.is(neigh.readUInt16LE(6), 0x1 | 0x4 | 0x100 | 0x400) // REQUEST | ACK | REPLACE | CREATE
  t.is(neigh.readUInt32LE(8), 3)
  t.is(neigh.readUInt8(16), 2) // AF_INET
  t.is(neigh.readInt32LE(20), 9)
  t.is(neigh.readUInt16LE(24), 0x80) // NUD_PERMANENT
  t.deepEqual([...neigh.subarray(28, 36)], [8, 0, 1, 0, 10, 0, 0, 7]) // NDA_DST
  t.deepEqual([...neigh.subarray(36, 48)], [10, 0, 2, 0, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0]) // NDA_LLADDR, padded
  const fdb = encodeNeighOp({ kind: 'fdb', op: 'append', dev: 'sx1', ip: '192.168.0.2', mac: '00:00:00:00:00:00', line: '' }, 4, 1)
  t.is(fdb.readUInt16LE(6), 0x1 | 0x4 | 0x400 | 0x800) // REQUEST | ACK | CREATE | APPEND
  t.is(fdb.readUInt8(16), 7) // AF_BRIDGE
  t.is(fdb.readUInt16LE(24), 0xc0) // NUD_NOARP | NUD_PERMANENT
  t.is(fdb.readUInt8(26), 0x02) // NTF_SELF
  const del = encodeNeighOp({ kind: 'neigh', op: 'del', dev: 'sx1', ip: 'fd00::7', mac: undefined, line: '' }, 4, 2)
  t.is(del.readUInt16LE(4), 29) // RTM_DELNEIGH
  t.is(del.readUInt16LE(6), 0x1 | 0x4)
  t.is(del.readUInt8(16), 10) // AF_INET6
  t.is(del.length, 16 + 12 + 20)
})

test('IPv6 addresses in every written form give the same 16 bytes', t => {
  const full = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]
  t.deepEqual([...ipBytes('fd00::7')], full)
  t.deepEqual([...ipBytes('fd00:0:0:0:0:0:0:7')], full)
  t.deepEqual([...ipBytes('::ffff:10.1.2.3')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3])
  t.deepEqual([...ipBytes('::')], new Array(16).fill(0))
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
