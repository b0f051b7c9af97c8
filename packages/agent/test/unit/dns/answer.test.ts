import test from 'ava'
import * as dnsPacket from 'dns-packet'
import type { DecodedPacket, Packet, RecordType } from 'dns-packet'
import { createTestRng } from '@scalelb/test-support'
import { answerQuery, relayAnswer, reverseNameToIp, type Transport, type Verdict } from '../../../src/dns/answer.js'
import { createFakeTables, net } from './fixture.js'

function tables (tasks = 2): ReturnType<typeof createFakeTables> {
  const f = createFakeTables()
  f.setNetwork('n1', net('front'))
  f.join('n1')
  f.setService('s1', { name: 'web', ports: [], vips: { n1: '10.0.0.2' } })
  for (let i = 0; i < tasks; i++) f.setTask('n1', 'a', `t${i}`, { ip: `10.0.${Math.floor(i / 250)}.${10 + (i % 250)}`, service: 's1' })
  return f
}

function query (name: string, type: RecordType | 'ANY' = 'A', extra: Partial<Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as RecordType, class: 'IN' }], ...extra })
}

function ask (f: ReturnType<typeof createFakeTables>, bytes: Buffer, transport: Transport = 'udp'): Verdict {
  return answerQuery(bytes, { index: f.index, networkId: 'n1', transport, ttlS: 5, random: createTestRng(1).next })
}

function decoded (v: Verdict): DecodedPacket & { rcode?: string } {
  if (v.kind !== 'answer') throw new Error(`not an answer: ${v.kind}`)
  return dnsPacket.decode(v.bytes) as DecodedPacket & { rcode?: string }
}

test('A of a service: the VIP, authoritative, the configured TTL, the query ID', (t) => {
  const r = decoded(ask(tables(), query('web')))
  t.is(r.id, 4242)
  t.is(r.rcode, 'NOERROR')
  t.true(r.flag_aa)
  t.true(r.flag_rd)
  t.deepEqual(r.answers?.map((a) => [a.type, 'data' in a ? a.data : undefined, 'ttl' in a ? a.ttl : undefined]), [['A', '10.0.0.2', 5]])
})

test('AAAA of a v4-only name: empty NOERROR with the SOA, never NXDOMAIN; an unknown own name: NXDOMAIN with the SOA', (t) => {
  const f = tables()
  const r = decoded(ask(f, query('web', 'AAAA')))
  t.is(r.rcode, 'NOERROR')
  t.deepEqual(r.answers, [])
  t.deepEqual(r.authorities?.map((a) => a.type), ['SOA'])
  const mx = decoded(ask(f, query('tasks.web', 'MX')))
  t.is(mx.rcode, 'NOERROR')
  t.deepEqual(mx.answers, [])
  const nx = decoded(ask(f, query('nosuch')))
  t.is(nx.rcode, 'NXDOMAIN')
  t.deepEqual(nx.authorities?.map((a) => [a.type, a.name]), [['SOA', 'nosuch']])
  const nx2 = decoded(ask(f, query('nosuch.front')))
  t.is(nx2.rcode, 'NXDOMAIN')
  t.deepEqual(nx2.authorities?.map((a) => a.name), ['front'])
})

test('tasks.<service>: every task IP, in an order that changes between answers', (t) => {
  const f = tables(6)
  const rng = createTestRng(7)
  const orders = new Set<string>()
  for (let i = 0; i < 20; i++) {
    const v = answerQuery(query('tasks.web'), { index: f.index, networkId: 'n1', transport: 'udp', ttlS: 5, random: rng.next })
    const ips = decoded(v).answers?.map((a) => ('data' in a ? a.data : '') as string) ?? []
    t.deepEqual([...ips].sort(), ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15'])
    orders.add(ips.join())
  }
  t.true(orders.size > 1)
})

test('PTR of a VIP and a task IP; PTR of an address not in the cluster is forwarded', (t) => {
  const f = tables()
  const r = decoded(ask(f, query('2.0.0.10.in-addr.arpa', 'PTR')))
  t.deepEqual(r.answers?.map((a) => 'data' in a ? a.data : undefined), ['web.front'])
  const task = decoded(ask(f, query('10.0.0.10.in-addr.arpa', 'PTR')))
  t.deepEqual(task.answers?.map((a) => 'data' in a ? a.data : undefined), ['t0.front'])
  t.is(ask(f, query('1.2.0.192.in-addr.arpa', 'PTR')).kind, 'forward')
  t.is(reverseNameToIp('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'), '2001:db8::1')
  t.is(reverseNameToIp('256.0.0.10.in-addr.arpa'), undefined)
})

test('names outside the cluster and other classes are forwarded, with the UDP size the querier allows', (t) => {
  const f = tables()
  const v = ask(f, query('example.com'))
  t.is(v.kind, 'forward')
  t.is(v.kind === 'forward' ? v.limit : 0, 512)
  const edns = ask(f, query('example.com', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4096, flags: 0 } as never] }))
  t.is(edns.kind === 'forward' ? edns.limit : 0, 1232)
  const overTcp = ask(f, query('example.com'), 'tcp')
  t.is(overTcp.kind === 'forward' ? overTcp.limit : 0, 65535)
  t.is(ask(f, dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'web', type: 'TXT', class: 'CH' }] })).kind, 'forward')
})

test('an answer larger than the querier\'s UDP size is cut with TC set; over TCP or with EDNS it is whole', (t) => {
  const f = tables(100)
  const plain = ask(f, query('tasks.web'))
  t.true(plain.kind === 'answer' && plain.bytes.length <= 512)
  const p = decoded(plain)
  t.true(p.flag_tc)
  t.true((p.answers?.length ?? 0) > 0 && (p.answers?.length ?? 0) < 100)
  const tcp = decoded(ask(f, query('tasks.web'), 'tcp'))
  t.false(tcp.flag_tc)
  t.is(tcp.answers?.length, 100)
  const withEdns = ask(f, query('tasks.web', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 4096, flags: 0 } as never] }))
  t.true(withEdns.kind === 'answer' && withEdns.bytes.length <= 1232)
  const e = decoded(withEdns)
  t.true(e.flag_tc)
  t.is(e.additionals?.filter((a) => a.type === 'OPT').length, 1)
})

test('EDNS: the OPT record is answered; an unknown EDNS version gets BADVERS', (t) => {
  const f = tables()
  const v = ask(f, query('web', 'A', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, flags: 0, ednsVersion: 1 } as never] }))
  t.is(v.kind === 'answer' ? v.rcode : '', 'BADVERS')
})

test('malformed queries: FORMERR no longer than the query, responses and short packets dropped, other opcodes NOTIMP', (t) => {
  const f = tables()
  t.deepEqual(ask(f, Buffer.alloc(5)), { kind: 'drop', reason: 'short' })
  const resp = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'web', type: 'A' }] })
  t.deepEqual(ask(f, resp), { kind: 'drop', reason: 'response' })
  const bad = Buffer.concat([query('web').subarray(0, 14), Buffer.from([0xff])])
  const v = ask(f, bad)
  t.is(v.kind === 'answer' ? v.rcode : '', 'FORMERR')
  t.true(v.kind === 'answer' && v.bytes.length <= bad.length)
  const two = dnsPacket.encode({ type: 'query', id: 9, questions: [{ name: 'web', type: 'A' }, { name: 'db', type: 'A' }] })
  t.is(decoded(ask(f, two)).rcode, 'FORMERR')
  const update = query('web')
  update.writeUInt16BE(5 << 11, 2)
  t.is(decoded(ask(f, update)).rcode, 'NOTIMP')
})

test('fuzz: 10k malformed packets (seeded) never throw and never get an answer larger than the query allows', (t) => {
  const rng = createTestRng('dns-fuzz')
  const f = tables(40)
  const seeds = [query('web'), query('tasks.web'), query('tasks.web', 'ANY'), query('2.0.0.10.in-addr.arpa', 'PTR'), query('example.com', 'AAAA', { additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, flags: 0 } as never] })]
  let answered = 0
  for (let i = 0; i < 10_000; i++) {
    let b: Buffer
    const kind = rng.int(4)
    if (kind === 0) {
      b = Buffer.alloc(rng.int(80))
      for (let j = 0; j < b.length; j++) b[j] = rng.int(256)
    } else {
      b = Buffer.from(rng.pick(seeds))
      const flips = 1 + rng.int(6)
      for (let j = 0; j < flips; j++) b[rng.int(b.length)] = rng.int(256)
      if (kind === 2) b = b.subarray(0, rng.int(b.length + 1))
      if (kind === 3) b = Buffer.concat([b, Buffer.alloc(rng.int(20), rng.int(256))])
    }
    const transport: Transport = rng.int(2) === 0 ? 'udp' : 'tcp'
    let v: Verdict
    try {
      v = ask(f, b, transport)
    } catch (err) {
      return t.fail(`packet ${i} (${b.toString('hex')}) threw: ${(err as Error).message}`)
    }
    if (v.kind === 'answer') {
      answered++
      if (transport === 'udp' && v.bytes.length > Math.max(512, 1232)) return t.fail(`packet ${i}: answer of ${v.bytes.length} bytes over UDP`)
      // the answer decodes and carries the query's ID
      const a = dnsPacket.decode(v.bytes)
      t.is(a.id, b.readUInt16BE(0))
    }
  }
  t.true(answered > 0)
})

test('relaying an upstream answer: the querier\'s ID, TC when larger than it allows, nothing for a mismatched answer', (t) => {
  const q = dnsPacket.decode(query('example.com')) as DecodedPacket
  const big = dnsPacket.encode({ type: 'response', id: 77, questions: q.questions, answers: Array.from({ length: 60 }, (_, i) => ({ name: 'example.com', type: 'A' as const, ttl: 60, data: `192.0.2.${i}` })) })
  const r = relayAnswer(q, big, 512)
  t.truthy(r)
  const d = dnsPacket.decode(r as Buffer)
  t.is(d.id, 4242)
  t.true(d.flag_tc)
  t.true((r as Buffer).length <= 512)
  t.is(dnsPacket.decode(relayAnswer(q, big, 65535) as Buffer).answers?.length, 60)
  const other = dnsPacket.encode({ type: 'response', id: 77, questions: [{ name: 'other.org', type: 'A' }] })
  t.is(relayAnswer(q, other, 512), undefined)
})
