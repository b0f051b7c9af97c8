import test from 'ava'
import { parseResolvConfUpstreams, resolvConfText, netnsNameOf } from '../../../src/dns/resolv-conf.js'
import { resolveAgentConfig } from '../../../src/config/options.js'

test('upstreams from a resolv.conf: nameserver lines with an IP, loopback stubs kept, comments and scoped v6 skipped', (t) => {
  const text = '# a comment\nnameserver 127.0.0.53\nnameserver 10.0.0.1 # office\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\nsearch example.org\noptions edns0\n'
  t.deepEqual(parseResolvConfUpstreams(text), [{ host: '127.0.0.53', port: 53 }, { host: '10.0.0.1', port: 53 }, { host: '2001:db8::53', port: 53 }])
})

test('a task resolv.conf; only /run/netns/NAME paths get one', (t) => {
  t.is(resolvConfText({ nameservers: ['10.0.0.5'], options: ['ndots:0'] }), '# written by the scalelb agent (task add --dns none to opt out)\nnameserver 10.0.0.5\noptions ndots:0\n')
  t.is(netnsNameOf('/run/netns/web-1'), 'web-1')
  t.is(netnsNameOf('/var/run/netns/web-1'), 'web-1')
  t.is(netnsNameOf('/proc/42/ns/net'), undefined)
})

const base = { flags: { insecure: true }, env: {} }

test('--dns-upstream, --dns-ttl, --dns-upstream-timeout, --no-dns: parsed, bad values named', (t) => {
  const c = resolveAgentConfig({ ...base, flags: { ...base.flags, 'dns-upstream': ['10.0.0.1', '127.0.0.1:5353', '[2001:db8::1]:53'], 'dns-ttl': '2', 'dns-upstream-timeout': '500ms' } })
  t.deepEqual(c.dnsUpstreams, [{ host: '10.0.0.1', port: 53 }, { host: '127.0.0.1', port: 5353 }, { host: '2001:db8::1', port: 53 }])
  t.is(c.dnsTtlS, 2)
  t.is(c.dnsUpstreamTimeoutMs, 500)
  t.false(c.noDns)
  const d = resolveAgentConfig(base)
  t.is(d.dnsUpstreams, undefined)
  t.is(d.dnsTtlS, 5)
  t.is(d.dnsUpstreamTimeoutMs, 2000)
  t.true(resolveAgentConfig({ ...base, flags: { ...base.flags, 'no-dns': true } }).noDns)
  t.throws(() => resolveAgentConfig({ ...base, flags: { ...base.flags, 'dns-upstream': ['dns.google'] } }), { name: 'ConfigError', message: /--dns-upstream/ })
  t.throws(() => resolveAgentConfig({ ...base, flags: { ...base.flags, 'dns-ttl': '-1' } }), { name: 'ConfigError', message: /--dns-ttl/ })
  t.throws(() => resolveAgentConfig({ ...base, flags: { ...base.flags, 'dns-upstream-timeout': '1h' } }), { name: 'ConfigError', message: /--dns-upstream-timeout/ })
  t.deepEqual(resolveAgentConfig({ ...base, env: { SCALELB_DNS_UPSTREAM: '10.0.0.2, 10.0.0.3:54' } }).dnsUpstreams, [{ host: '10.0.0.2', port: 53 }, { host: '10.0.0.3', port: 54 }])
})
