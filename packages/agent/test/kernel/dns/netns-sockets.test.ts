import { execa } from 'execa'
import * as dnsPacket from 'dns-packet'
import { rootTest } from '@scalelb/test-support'
import { openNetnsSockets } from '../../../src/dns/netns-sockets.js'

const ns = `slbdns-${process.pid}-hand`

rootTest.serial('sockets opened inside a namespace by the helper serve there from this process; a taken port or a missing namespace is a DnsBindError', async (t) => {
  await execa('ip', ['netns', 'add', ns])
  t.teardown(async () => { await execa('ip', ['netns', 'del', ns], { reject: false }) })
  await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  const s = await openNetnsSockets({ netns: ns, address: '127.0.0.1', port: 53 })
  t.teardown(() => { s.udp.close(); s.tcp.close() })
  // this process answers what arrives on the namespace's 127.0.0.1:53 (the host's own loopback is another address space)
  s.udp.on('message', (m, r) => {
    const q = dnsPacket.decode(m)
    s.udp.send(dnsPacket.encode({ type: 'response', id: q.id, questions: q.questions, answers: [{ name: 'x', type: 'A', ttl: 1, data: '192.0.2.1' }] }), r.port, r.address)
  })
  const r = await execa('ip', ['netns', 'exec', ns, 'dig', '+short', '+tries=1', '+time=2', '@127.0.0.1', 'x'])
  t.is(r.stdout.trim(), '192.0.2.1')
  await t.throwsAsync(openNetnsSockets({ netns: ns, address: '127.0.0.1', port: 53 }), { name: 'DnsBindError', message: /EADDRINUSE|in use/ })
  await t.throwsAsync(openNetnsSockets({ netns: `${ns}-none`, address: '127.0.0.1', port: 53 }), { name: 'DnsBindError' })
})
