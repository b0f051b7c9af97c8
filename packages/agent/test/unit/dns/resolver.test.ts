import test from 'ava'
import dgram from 'node:dgram'
import net from 'node:net'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dnsPacket from 'dns-packet'
import type { DecodedPacket, RecordType } from 'dns-packet'
import { Registry } from 'prom-client'
import { waitFor } from '@scalelb/test-support'
import { createDnsResolver, type DnsResolver } from '../../../src/dns/resolver.js'
import type { NetworkSockets } from '../../../src/dns/server.js'
import type { NetworkDesired } from '../../../src/dataplane/spec/types.js'
import { createRootLogger } from '../../../src/logging/logger.js'
import { frontAndBack } from './fixture.js'

/**
 * The resolver end to end without root: its sockets opened on loopback
 * (the injected `open` stands for the helper in the sandbox) and a fake
 * upstream on loopback. The kernel tier (test/dns-e2e.test.ts) runs the
 * real thing in namespaces.
 */

async function fakeUpstream (): Promise<{ port: number, close: () => void }> {
  const s = dgram.createSocket('udp4')
  s.on('message', (m, r) => {
    const q = dnsPacket.decode(m)
    const name = q.questions?.[0]?.name ?? ''
    if (name.endsWith('.dead')) return
    s.send(dnsPacket.encode({ type: 'response', id: q.id, flags: 0, questions: q.questions, answers: [{ name, type: 'A', ttl: 30, data: '192.0.2.9' }] }), r.port, r.address)
  })
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  return { port: s.address().port, close: () => s.close() }
}

/** Where a network's resolver listens. */
interface Target { host: string, port: number }

async function udpQuery (to: Target, name: string, type: RecordType = 'A'): Promise<DecodedPacket & { rcode?: string }> {
  const c = dgram.createSocket('udp4')
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 5000)
      c.on('message', (m) => { clearTimeout(timer); resolve(dnsPacket.decode(m) as DecodedPacket & { rcode?: string }) })
      c.send(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] }), to.port, to.host)
    })
  } finally {
    c.close()
  }
}

async function tcpQuery (to: Target, name: string): Promise<DecodedPacket> {
  const sock = net.connect(to.port, to.host)
  try {
    return await new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0)
      sock.on('error', reject)
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) resolve(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))))
      })
      sock.write(dnsPacket.streamEncode({ type: 'query', id: 8, questions: [{ name, type: 'A' }] }))
    })
  } finally {
    sock.destroy()
  }
}

function desiredOf (ids: Record<string, string>): Map<string, NetworkDesired> {
  return new Map(Object.entries(ids).map(([id, addr]) => [id, { sandbox: { networkId: id, lbAddresses: [`${addr}/8`], lbMac: '', services: [] }, overlay: { networkId: id, vni: 1, subnets: [] }, localTaskNetns: [] } as unknown as NetworkDesired]))
}

test('one resolver serves each network\'s socket with that network\'s names, forwards the rest, SERVFAIL when the upstream is silent, counts queries', async (t) => {
  const up = await fakeUpstream()
  const f = frontAndBack()
  let desired = desiredOf({ n1: '127.0.0.1', n2: '127.0.0.2' })
  const ports = new Map<string, Target>()
  const registry = new Registry()
  const etcDir = await mkdtemp(join(tmpdir(), 'slbdns-unit-'))
  const r: DnsResolver = createDnsResolver({
    cache: f,
    desired: () => desired,
    sandboxNetns: (id) => `ns-${id}`,
    upstreams: [{ host: '127.0.0.1', port: up.port }],
    timeoutMs: 300,
    ttlS: 5,
    logger: createRootLogger({ level: 'error' }),
    registry,
    port: 0,
    etcDir,
    async open (o) {
      const udp = dgram.createSocket('udp4')
      await new Promise<void>((resolve) => udp.bind(0, o.address, resolve))
      const tcp = net.createServer()
      await new Promise<void>((resolve) => tcp.listen(udp.address().port, o.address, resolve))
      ports.set(o.netns, { host: o.address, port: udp.address().port })
      return { udp, tcp } satisfies NetworkSockets
    }
  })
  t.teardown(async () => {
    await r.component.stop?.('restart')
    up.close()
    await rm(etcDir, { recursive: true, force: true })
  })
  r.component.beforeStart?.()
  await r.component.start?.()
  r.component.afterStart?.()
  await waitFor('both networks served', () => r.served().length === 2)
  const p1 = ports.get('ns-n1') as Target
  const p2 = ports.get('ns-n2') as Target

  t.deepEqual((await udpQuery(p1, 'web')).answers?.map((a) => 'data' in a ? a.data : ''), ['10.0.0.2'])
  t.is((await udpQuery(p1, 'db')).rcode, 'NXDOMAIN', 'db is on the other network')
  t.deepEqual((await udpQuery(p2, 'db')).answers?.map((a) => 'data' in a ? a.data : ''), ['10.1.0.2'])
  t.deepEqual((await tcpQuery(p1, 'web.front')).answers?.map((a) => 'data' in a ? a.data : ''), ['10.0.0.2'])
  // a change of the tables shows in the next answer
  f.setService('s1', { name: 'web', ports: [], vips: { n1: '10.0.0.3' } })
  t.deepEqual((await udpQuery(p1, 'web')).answers?.map((a) => 'data' in a ? a.data : ''), ['10.0.0.3'])
  t.deepEqual((await udpQuery(p1, 'www.example.org')).answers?.map((a) => 'data' in a ? a.data : ''), ['192.0.2.9'])
  t.deepEqual((await tcpQuery(p1, 'www.example.org')).answers?.map((a) => 'data' in a ? a.data : ''), ['192.0.2.9'])
  t.is((await udpQuery(p1, 'x.dead')).rcode, 'SERVFAIL')

  const text = await registry.metrics()
  t.regex(text, /scalelb_dns_queries_total\{type="A",result="forwarded"\} 2/)
  t.regex(text, /scalelb_dns_queries_total\{type="A",result="SERVFAIL"\} 1/)
  t.regex(text, /scalelb_dns_queries_total\{type="A",result="NXDOMAIN"\} 1/)
  t.regex(text, /scalelb_dns_answer_seconds_count\{source="local"\} 5/)

  // a sandbox gone: its socket is closed
  desired = desiredOf({ n1: '127.0.0.1' })
  r.sync()
  t.deepEqual(r.served(), ['n1'])
  // desired again with no apply to announce it (the kernel already had it): the periodic resync serves it again
  desired = desiredOf({ n1: '127.0.0.1', n2: '127.0.0.2' })
  await waitFor('n2 served again without a sync call', () => r.served().length === 2)

  // task resolv.conf: written for /run/netns/NAME paths, removed again
  const file = await r.writeTaskConf('/run/netns/task-a', r.taskDns('10.0.0.5'))
  t.is(file, join(etcDir, 'task-a', 'resolv.conf'))
  t.regex(await readFile(file as string, 'utf8'), /^nameserver 10\.0\.0\.5$/m)
  t.is(await r.writeTaskConf('/proc/1/ns/net', r.taskDns('10.0.0.5')), undefined)
  await r.removeTaskConf('/run/netns/task-a')
  await t.throwsAsync(stat(join(etcDir, 'task-a')))
})

test('ready() waits for a new network\'s sockets, and gives up after its timeout when they cannot open', async (t) => {
  const f = frontAndBack()
  let desired = desiredOf({})
  const gate: { open?: () => void } = {}
  const r: DnsResolver = createDnsResolver({
    cache: f,
    desired: () => desired,
    sandboxNetns: (id) => `ns-${id}`,
    upstreams: [],
    timeoutMs: 300,
    ttlS: 5,
    logger: createRootLogger({ level: 'error' }),
    port: 0,
    async open (o) {
      // the sandbox's helper is slow: the sockets open when the test says so
      await new Promise<void>((resolve) => { gate.open = resolve })
      const udp = dgram.createSocket('udp4')
      await new Promise<void>((resolve) => udp.bind(0, o.address, resolve))
      const tcp = net.createServer()
      await new Promise<void>((resolve) => tcp.listen(udp.address().port, o.address, resolve))
      return { udp, tcp } satisfies NetworkSockets
    }
  })
  t.teardown(async () => { await r.component.stop?.('restart') })
  r.component.beforeStart?.()
  await r.component.start?.()
  r.component.afterStart?.()
  desired = desiredOf({ n1: '127.0.0.1' })
  let settled: boolean | undefined
  const waiting = r.ready('n1', 20_000).then((ok) => { settled = ok })
  await waitFor('the sockets are being opened', () => gate.open !== undefined)
  t.is(settled, undefined, 'ready() has not answered before the sockets are open')
  gate.open?.()
  await waiting
  t.true(settled)
  t.true(await r.ready('n1'), 'served: at once')
  // a network whose sockets never open: false after the timeout
  delete gate.open
  desired = desiredOf({ n1: '127.0.0.1', n2: '127.0.0.2' })
  t.false(await r.ready('n2', 50))
})
